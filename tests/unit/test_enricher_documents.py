import copy
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from enricher.documents import to_document
from enricher.errors import InvalidDocument
from shared.kladana_types import TRANSACTION_TYPES, TransactionType

MOSCOW = ZoneInfo("Europe/Moscow")
API = "https://api.kladana.com/api/remap/1.2"
SEED_ID = "34efe2ee-015e-11e6-9464-e4de0000006b"
SALES_ORDER = TransactionType("CustomerOrder", "customerorder", "Sales Order")

SEED: dict[str, Any] = {
    "meta": {
        "href": f"{API}/entity/customerorder/{SEED_ID}",
        "type": "customerorder",
        "mediaType": "application/json",
    },
    "id": SEED_ID,
    "accountId": "84e60e93-f7d0-11ee-0a80-0d6e0000a001",
    "updated": "2024-06-10 15:42:10.000",
    "name": "5643",
    "moment": "2024-06-10 12:57:00.000",
    "applicable": True,
    "sum": 5000000,
    "payedSum": 5000000,
    "shippedSum": 5000000,
    "rate": {"currency": {"meta": {"type": "currency"}, "name": "rupee", "isoCode": "INR"}},
    "organization": {"meta": {"type": "organization"}, "name": "Ganesh Traders Pvt Ltd"},
    "agent": {
        "meta": {"type": "counterparty"},
        "id": "a5dbd202-eb25-11f1-8ee2-02fc00000001",
        "name": "Priya Sharma",
        "phone": "+91 98765 43210",
        "email": "priya.sharma@example.in",
    },
    "state": {"meta": {"type": "state"}, "name": "Shipped", "color": 8825440},
    "attributes": [],
    "positions": {"meta": {"type": "customerorderposition", "size": 2}},
}


def _convert(kladana: dict[str, Any], zone: ZoneInfo = MOSCOW) -> dict[str, Any]:
    return to_document(kladana, transaction_type=SALES_ORDER, timezone=zone)


_REMOVE = object()


def _seed_with(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(SEED)
    for key, value in changes.items():
        if value is _REMOVE:
            del document[key]
        else:
            document[key] = value
    return document


def test_seed_order_becomes_the_exact_enriched_document() -> None:
    assert _convert(SEED) == {
        "id": SEED_ID,
        "type": "CustomerOrder",
        "entity": "customerorder",
        "href": f"{API}/entity/customerorder/{SEED_ID}",
        "number": "5643",
        "moment": "2024-06-10T12:57:00+03:00",
        "sum": {"minor": 5000000, "amount": "50000.00", "currency": "INR"},
        "state": "Shipped",
        "agent": {
            "id": "a5dbd202-eb25-11f1-8ee2-02fc00000001",
            "name": "Priya Sharma",
            "phone": "+91 98765 43210",
            "email": "priya.sharma@example.in",
        },
        "organization": {"name": "Ganesh Traders Pvt Ltd"},
    }


def test_type_and_entity_come_from_the_type_table_entry() -> None:
    production = TRANSACTION_TYPES.with_entities({"ProductionTask": "processingorder"})
    entry = production.by_name("ProductionTask")
    assert entry is not None
    document = to_document(SEED, transaction_type=entry, timezone=MOSCOW)
    assert (document["type"], document["entity"]) == ("ProductionTask", "processingorder")


def test_moment_is_read_in_the_configured_zone() -> None:
    assert _convert(SEED, ZoneInfo("Asia/Kolkata"))["moment"] == "2024-06-10T12:57:00+05:30"
    assert _convert(SEED, ZoneInfo("UTC"))["moment"] == "2024-06-10T12:57:00+00:00"


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2024-06-10 12:57:00.250", "2024-06-10T12:57:00.250000+03:00"),
        ("2021-07-21 15:51:16", "2021-07-21T15:51:16+03:00"),
    ],
)
def test_moment_with_milliseconds_or_without(moment: str, expected: str) -> None:
    assert _convert(_seed_with(moment=moment))["moment"] == expected


@pytest.mark.parametrize(
    ("minor", "amount"),
    [
        (12345, "123.45"),
        (5, "0.05"),
        (0, "0.00"),
        (-12345, "-123.45"),
        (-5000000, "-50000.00"),
        (123456789012345678, "1234567890123456.78"),
    ],
)
def test_amount_is_the_exact_decimal_of_the_paise(minor: int, amount: str) -> None:
    assert _convert(_seed_with(sum=minor))["sum"] == {
        "minor": minor,
        "amount": amount,
        "currency": "INR",
    }


def test_missing_optional_parts_become_null() -> None:
    bare = {"id": SEED_ID}
    assert _convert(bare) == {
        "id": SEED_ID,
        "type": "CustomerOrder",
        "entity": "customerorder",
        "href": None,
        "number": None,
        "moment": None,
        "sum": None,
        "state": None,
        "agent": None,
        "organization": None,
    }


def test_references_without_expansion_keep_only_what_they_have() -> None:
    # As Kladana answers without ``expand``: each reference is only its meta.
    reduced = _seed_with(
        agent={"meta": {"type": "counterparty"}},
        state={"meta": {"type": "state"}},
        organization={"meta": {"type": "organization"}},
        rate={"currency": {"meta": {"type": "currency"}}},
    )
    document = _convert(reduced)
    assert document["agent"] == {"id": None, "name": None, "phone": None, "email": None}
    assert document["state"] is None
    assert document["organization"] == {"name": None}
    assert document["sum"] == {"minor": 5000000, "amount": "50000.00", "currency": None}


def test_odd_optional_values_become_null() -> None:
    odd = _seed_with(
        name="",
        meta="not an object",
        state="Shipped",
        rate={"currency": "INR"},
        agent={"name": "  ", "phone": 9876543210, "email": None},
        organization=["Ganesh Traders"],
    )
    document = _convert(odd)
    assert document["number"] is None
    assert document["href"] is None
    assert document["state"] is None
    assert document["sum"]["currency"] is None
    assert document["agent"] == {"id": None, "name": None, "phone": None, "email": None}
    assert document["organization"] is None


def test_junk_phone_is_passed_on_as_typed() -> None:
    junk = _seed_with(agent={"name": "Sunrise Hardware Stores", "phone": "call the office"})
    assert _convert(junk)["agent"]["phone"] == "call the office"


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"id": _REMOVE}, "no id"),
        ({"id": ""}, "no id"),
        ({"id": 42}, "no id"),
        ({"sum": 50000.0}, "sum"),
        ({"sum": "5000000"}, "sum"),
        ({"sum": True}, "sum"),
        ({"moment": "10.06.2024 12:57"}, "moment"),
        ({"moment": "2024-06-10T12:57:00+03:00"}, "moment"),
        ({"moment": "2024-02-30 12:57:00.000"}, "moment"),
        ({"moment": 1718013420000}, "moment"),
    ],
)
def test_unusable_required_parts_raise_invalid_document(
    changes: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(InvalidDocument, match=complaint) as raised:
        _convert(_seed_with(**changes))
    assert not raised.value.retriable
