import copy
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from enricher.documents import to_document
from enricher.errors import InvalidDocument
from enricher.handlers import DocumentRequest, enriched_record
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


NO_AGENT_DETAILS = dict.fromkeys(
    ("id", "name", "phone", "email", "legal_address", "actual_address"),
    None,
) | {"tags": None, "attributes": None, "contacts": None}


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
            "legal_address": None,
            "actual_address": None,
            "tags": None,
            "attributes": None,
            "contacts": None,
        },
        "organization": {"name": "Ganesh Traders Pvt Ltd"},
        "paid": {"minor": 5000000, "amount": "50000.00", "currency": "INR"},
        "shipped": {"minor": 5000000, "amount": "50000.00", "currency": "INR"},
        "attributes": {},
        # Not expanded: Kladana sent only the count.
        "positions": None,
        "positions_total": 2,
        "positions_complete": False,
        # A Sales Order links nothing; paid in full.
        "links": [],
        "balance_due": {"minor": 0, "amount": "0.00", "currency": "INR"},
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
        "paid": None,
        "shipped": None,
        "attributes": None,
        "positions": None,
        "positions_total": None,
        "positions_complete": None,
        "links": [],
        "balance_due": None,
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
    assert document["agent"] == NO_AGENT_DETAILS
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
    assert document["agent"] == NO_AGENT_DETAILS
    assert document["organization"] is None


def test_junk_phone_is_passed_on_as_typed() -> None:
    junk = _seed_with(agent={"name": "Sunrise Hardware Stores", "phone": "call the office"})
    assert _convert(junk)["agent"]["phone"] == "call the office"


@pytest.mark.parametrize(
    ("sent", "minor"), [(5000000, 5000000), (5000000.0, 5000000), (111100.5, 111101), (0.0, 0)]
)
def test_a_sum_is_read_as_kladana_writes_it_integer_or_float(sent: float, minor: int) -> None:
    assert _convert(_seed_with(sum=sent))["sum"]["minor"] == minor


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"id": _REMOVE}, "no id"),
        ({"id": ""}, "no id"),
        ({"id": 42}, "no id"),
        ({"sum": float("nan")}, "sum"),
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


# --- What a subscriber needs beyond the basics: positions, contacts, paid, attributes ---

COUNTERPARTY = "https://api.kladana.com/api/remap/1.2/entity/counterparty/a5db"


def _position(name: str | None, quantity: Any, price: Any, **extra: Any) -> dict[str, Any]:
    assortment = {"meta": {"type": "product"}, "name": name, "code": "AC-VOL-15"}
    return {
        "meta": {"type": "customerorderposition"},
        "id": f"position-{name}",
        "quantity": quantity,
        "price": price,
        "discount": 0.0,
        "vat": 0,
        "vatEnabled": False,
        "assortment": assortment,
        **extra,
    }


def _positions(*rows: Any, size: int | None = None) -> dict[str, Any]:
    total = len(rows) if size is None else size
    return {"meta": {"type": "customerorderposition", "size": total}, "rows": list(rows)}


EXPANDED = _seed_with(
    positions=_positions(
        _position("Voltas 1.5 Ton Split AC", 1.0, 4200000.0)
        | {
            "assortment": {
                "meta": {"type": "product"},
                "name": "Voltas 1.5 Ton Split AC",
                "code": "AC-VOL-15",
                "article": "183V CZT",
            }
        },
        _position("Installation", 2.0, 400000.0)
        | {"assortment": {"meta": {"type": "service"}, "name": "Installation", "code": "SRV"}},
    ),
    agent={
        "meta": {"type": "counterparty"},
        "id": "a5dbd202-eb25-11f1-8ee2-02fc00000001",
        "name": "Priya Sharma",
        "phone": "+91 98765 43210",
        "email": "priya.sharma@example.in",
        "legalAddress": "Sharma Traders, 14 MG Road, Bengaluru 560001",
        "actualAddress": "14, 2nd Cross, Indiranagar, Bengaluru 560038",
        "tags": ["retail", "vip"],
        "attributes": [{"name": "Loyalty card", "type": "string", "value": "GT-10442"}],
        "contactpersons": {
            "meta": {"href": f"{COUNTERPARTY}/contactpersons", "size": 1},
            "rows": [
                {
                    "meta": {"type": "contactperson"},
                    "name": "Anil Gupta",
                    "phone": "+91 98765 43211",
                    "email": "anil@example.in",
                    "position": "Purchase manager",
                    "agent": {"meta": {"type": "counterparty"}},
                }
            ],
        },
    },
    attributes=[
        {"name": "Delivery service", "type": "string", "value": "BlueDart"},
        {
            "name": "Priority",
            "type": "customentity",
            "value": {"meta": {"type": "customentity"}, "name": "High"},
        },
    ],
)


def test_the_expanded_seed_order_carries_positions_contacts_and_attributes() -> None:
    document = _convert(EXPANDED)
    rupees = "INR"
    assert document["positions"] == [
        {
            "id": "position-Voltas 1.5 Ton Split AC",
            "name": "Voltas 1.5 Ton Split AC",
            "code": "AC-VOL-15",
            "article": "183V CZT",
            "kind": "product",
            "quantity": 1.0,
            "price": {"minor": 4200000, "amount": "42000.00", "currency": rupees},
            "discount": 0.0,
            "vat": None,
            "sum": {"minor": 4200000, "amount": "42000.00", "currency": rupees},
        },
        {
            "id": "position-Installation",
            "name": "Installation",
            "code": "SRV",
            "article": None,
            "kind": "service",
            "quantity": 2.0,
            "price": {"minor": 400000, "amount": "4000.00", "currency": rupees},
            "discount": 0.0,
            "vat": None,
            "sum": {"minor": 800000, "amount": "8000.00", "currency": rupees},
        },
    ]
    assert (document["positions_total"], document["positions_complete"]) == (2, True)
    assert document["agent"] == {
        "id": "a5dbd202-eb25-11f1-8ee2-02fc00000001",
        "name": "Priya Sharma",
        "phone": "+91 98765 43210",
        "email": "priya.sharma@example.in",
        "legal_address": "Sharma Traders, 14 MG Road, Bengaluru 560001",
        "actual_address": "14, 2nd Cross, Indiranagar, Bengaluru 560038",
        "tags": ["retail", "vip"],
        "attributes": {"Loyalty card": "GT-10442"},
        "contacts": [
            {"name": "Anil Gupta", "phone": "+91 98765 43211", "email": "anil@example.in"}
        ],
    }
    assert document["attributes"] == {"Delivery service": "BlueDart", "Priority": "High"}
    assert document["paid"] == document["shipped"] == document["sum"]


@pytest.mark.parametrize(
    ("row", "vat", "line_sum"),
    [
        # price x quantity less the discount; half a paisa rounds up.
        ({"price": 33333.0, "quantity": 1.0, "discount": 50.0}, None, 16667),
        ({"price": 15000.0, "quantity": 200.0, "discount": 10.0}, None, 2700000),
        ({"price": 1000.0, "quantity": 1.5, "discount": -10.0}, None, 1650),  # a margin
        ({"price": 1000, "quantity": 3, "discount": None}, None, 3000),
        ({"price": 100000.0, "quantity": 1.0, "vat": 18, "vatEnabled": True}, 18, 100000),
        ({"price": 100000.0, "quantity": 1.0, "vat": 0, "vatEnabled": True}, 0, 100000),
    ],
)
def test_a_line_sum_and_vat(row: dict[str, Any], vat: Any, line_sum: int) -> None:
    [position] = _convert(_seed_with(positions=_positions(_position("A", 0, 0) | row)))["positions"]
    assert position["vat"] == vat
    assert position["sum"]["minor"] == line_sum


def test_more_positions_than_kladana_expands_are_flagged_incomplete() -> None:
    rows = [_position(f"item {index}", 1.0, 100.0) for index in range(100)]
    document = _convert(_seed_with(positions=_positions(*rows, size=150)))
    assert len(document["positions"]) == 100
    assert (document["positions_total"], document["positions_complete"]) == (150, False)


@pytest.mark.parametrize(
    ("positions", "expected"),
    [
        ({"meta": {"size": 2}}, (None, 2, False)),  # not expanded
        ({"meta": {"size": 0}}, ([], 0, True)),  # nothing to expand
        ({"meta": {}, "rows": []}, ([], None, False)),  # no count: cannot tell
        ({"meta": {"size": "2"}, "rows": []}, ([], None, False)),
        ({"meta": {"size": -1}}, (None, None, False)),
        ("positions", (None, None, None)),
        (None, (None, None, None)),
        (_REMOVE, (None, None, None)),  # a payment has none
    ],
)
def test_positions_collection_of_odd_shapes(positions: Any, expected: tuple[Any, ...]) -> None:
    document = _convert(_seed_with(positions=positions))
    found = (document["positions"], document["positions_total"], document["positions_complete"])
    assert found == expected


def test_odd_position_rows_are_dropped_and_odd_values_become_null() -> None:
    odd = _position(None, "2", True, discount=float("nan"), vat="18", vatEnabled=None)
    odd["assortment"] = {"meta": {"type": "product"}}  # not expanded: no name
    document = _convert(_seed_with(positions=_positions("junk", None, odd, size=3)))
    assert document["positions"] == [
        {
            "id": "position-None",
            "name": None,
            "code": None,
            "article": None,
            "kind": "product",
            "quantity": None,
            "price": None,
            "discount": None,
            "vat": None,
            "sum": None,
        }
    ]
    assert (document["positions_total"], document["positions_complete"]) == (3, False)


def test_a_position_without_assortment_or_meta_keeps_its_numbers() -> None:
    row = {"quantity": 2, "price": 5000}
    [position] = _convert(_seed_with(positions=_positions(row)))["positions"]
    assert (position["name"], position["kind"], position["id"]) == (None, None, None)
    assert position["sum"] == {"minor": 10000, "amount": "100.00", "currency": "INR"}


@pytest.mark.parametrize(
    ("changes", "paid", "shipped"),
    [
        ({}, 5000000, 5000000),
        ({"payedSum": _REMOVE, "paidSum": 120000}, 120000, 5000000),
        ({"payedSum": None, "paidSum": 120000}, 120000, 5000000),
        ({"payedSum": 0.0, "shippedSum": 4999999.5}, 0, 5000000),  # floats, as Kladana sends
        ({"payedSum": _REMOVE, "shippedSum": _REMOVE}, None, None),
        ({"payedSum": "5000000", "shippedSum": True}, None, None),
    ],
)
def test_paid_and_shipped_are_money_like_sum(
    changes: dict[str, Any], paid: int | None, shipped: int | None
) -> None:
    document = _convert(_seed_with(**changes))
    for field, minor in (("paid", paid), ("shipped", shipped)):
        expected = None if minor is None else {"minor": minor, "currency": "INR"}
        found = document[field]
        assert (None if found is None else {k: found[k] for k in ("minor", "currency")}) == (
            expected
        )


def test_attribute_values_by_kind() -> None:
    attributes = [
        {"name": "Courier", "type": "string", "value": "BlueDart"},
        {"name": "Packages", "type": "long", "value": 3},
        {"name": "Weight", "type": "double", "value": 2.5},
        {"name": "Gift wrap", "type": "boolean", "value": False},
        {"name": "Delivery date", "type": "time", "value": "2024-06-14 10:00:00.000"},
        {"name": "Odd date", "type": "time", "value": "tomorrow"},
        {"name": "Invoice scan", "type": "file", "value": "scan.pdf", "file": {"size": 1}},
        {"name": "Region", "type": "customentity", "value": {"meta": {}, "name": "West"}},
        {"name": "Manager", "type": "employee", "value": {"meta": {"type": "employee"}}},
        {"name": "Cleared", "type": "string", "value": None},
        {"name": "Broken", "type": "double", "value": float("inf")},
        {"name": "List", "type": "string", "value": ["a"]},
        {"name": "Courier", "type": "string", "value": "second wins? no"},
        {"type": "string", "value": "no name"},
        {"name": "  ", "type": "string", "value": "blank name"},
        "not an attribute",
    ]
    assert _convert(_seed_with(attributes=attributes))["attributes"] == {
        "Courier": "BlueDart",
        "Packages": 3,
        "Weight": 2.5,
        "Gift wrap": False,
        "Delivery date": "2024-06-14T10:00:00+03:00",
        "Odd date": "tomorrow",
        "Invoice scan": "scan.pdf",
        "Region": "West",
        "Manager": None,  # a reference Kladana sent without its name
        "Cleared": None,
        "Broken": None,
        "List": None,
    }


@pytest.mark.parametrize("attributes", [None, "x", {"Courier": "BlueDart"}, _REMOVE])
def test_attributes_that_are_not_a_list_are_null(attributes: Any) -> None:
    assert _convert(_seed_with(attributes=attributes))["attributes"] is None


def test_odd_counterparty_details_become_null_or_are_dropped() -> None:
    agent = {
        "name": "Sunrise Hardware Stores",
        "legalAddress": "",
        "actualAddress": 42,
        "tags": ["wholesale", 7, " ", None],
        "attributes": "GSTIN",
        "contactpersons": {
            "meta": {"size": 3},
            "rows": [
                {"name": "Suresh Patil", "phone": 9422011223},
                "not a person",
                {"email": "accounts@sunrise.example"},
            ],
        },
    }
    found = _convert(_seed_with(agent=agent))["agent"]
    assert (found["legal_address"], found["actual_address"]) == (None, None)
    assert found["tags"] == ["wholesale"]
    assert found["attributes"] is None
    assert found["contacts"] == [
        {"name": "Suresh Patil", "phone": None, "email": None},
        {"name": None, "phone": None, "email": "accounts@sunrise.example"},
    ]


@pytest.mark.parametrize(
    ("contact_persons", "contacts"),
    [
        ({"meta": {"href": f"{COUNTERPARTY}/contactpersons", "size": 2}}, None),  # not expanded
        ({"meta": {"size": 0}, "rows": []}, []),
        ("contactpersons", None),
    ],
)
def test_contacts_only_when_expanded(contact_persons: Any, contacts: Any) -> None:
    agent = {**EXPANDED["agent"], "contactpersons": contact_persons}
    assert _convert(_seed_with(agent=agent))["agent"]["contacts"] == contacts


@pytest.mark.parametrize(
    "kladana",
    [
        EXPANDED,
        SEED,
        {"id": SEED_ID},
        _seed_with(
            positions=_positions("junk", _position(None, "2", True, discount=float("nan"))),
            attributes=[{"name": "Broken", "value": float("nan")}, {"name": "Ref", "value": {}}],
            agent={"tags": "vip", "contactpersons": {"rows": [{"name": 5}]}},
            payedSum=float("inf"),
        ),
    ],
    ids=["expanded", "abridged", "bare", "odd"],
)
def test_whatever_kladana_sends_the_enriched_event_meets_its_schema(
    kladana: dict[str, Any],
) -> None:
    request = DocumentRequest("raw-event-1", SEED_ID, SALES_ORDER)
    enriched_record(request, kladana, timezone=MOSCOW)  # raises ContractViolation if not


# Found by tests/unit/test_properties_enricher.py.
KOLKATA = ZoneInfo("Asia/Kolkata")


def test_a_date_from_before_standard_time_is_written_in_utc_to_stay_rfc_3339() -> None:
    # Kolkata's offset in 1900 was +05:21:10: no valid RFC 3339 offset.
    kladana = {
        **SEED,
        "moment": "1900-01-01 12:00:00.000",
        "attributes": [{"name": "Founded", "type": "time", "value": "1900-01-01 00:00:00.000"}],
    }
    document = to_document(kladana, transaction_type=SALES_ORDER, timezone=KOLKATA)
    assert document["moment"] == "1900-01-01T06:38:50+00:00"
    assert document["attributes"] == {"Founded": "1899-12-31T18:38:50+00:00"}
    enriched_record(DocumentRequest("raw-event-1", SEED_ID, SALES_ORDER), kladana, timezone=KOLKATA)


def test_a_date_whose_utc_time_would_fall_before_year_one_is_invalid() -> None:
    kladana = {**SEED, "moment": "0001-01-01 00:00:00.000"}
    with pytest.raises(InvalidDocument, match="is not a Kladana date"):
        to_document(kladana, transaction_type=SALES_ORDER, timezone=KOLKATA)


def test_integers_beyond_the_range_of_floats_are_kept_exact() -> None:
    huge = 10**400
    kladana = {**SEED, "sum": huge, "shippedSum": -huge}
    document = to_document(kladana, transaction_type=SALES_ORDER, timezone=MOSCOW)
    assert document["sum"]["minor"] == huge
    assert document["shipped"]["minor"] == -huge
    assert document["sum"]["amount"] == f"{huge // 100}.00"
