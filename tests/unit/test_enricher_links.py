"""Links (what a document pays, ships or returns) and balance due, per type family.

The Kladana documents are the API docs' example responses (moysklad/api-remap-1.2-doc-in,
source/includes/), trimmed to the fields that matter here; the expected values are
written out by hand.
"""

import copy
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from enricher.documents import to_document
from enricher.handlers import DocumentRequest, enriched_record
from shared.kladana_types import TRANSACTION_TYPES, TransactionType

API = "https://api.kladana.com/api/remap/1.2/entity"
MOSCOW = ZoneInfo("Europe/Moscow")
RUPEES = {"currency": {"meta": {"type": "currency"}, "isoCode": "INR"}}


def _type(name: str) -> TransactionType:
    found = TRANSACTION_TYPES.by_name(name)
    assert found is not None
    return found


def _document(kladana: dict[str, Any], type_name: str) -> dict[str, Any]:
    return to_document(kladana, transaction_type=_type(type_name), timezone=MOSCOW)


def _inr(minor: int, amount: str) -> dict[str, Any]:
    return {"minor": minor, "amount": amount, "currency": "INR"}


# documents/_payment_in.md, its operations expanded (``expand=operations``): the order it
# pays comes with its name, sum and paid sum; the docs' own retail shift stays bare.
PAYMENT_IN: dict[str, Any] = {
    "meta": {"href": f"{API}/paymentin/d57389cb-3d3e-11e6-8a84-bae500000001", "type": "paymentin"},
    "id": "d57389cb-3d3e-11e6-8a84-bae500000001",
    "name": "00002",
    "moment": "2016-07-22 13:08:00.000",
    "rate": RUPEES,
    "sum": 5080000,
    "agent": {"meta": {"type": "counterparty"}, "name": "Priya Sharma", "phone": "+91 98765 43210"},
    "state": {"meta": {"type": "state"}, "name": "Received"},
    "paymentPurpose": "Order payment",
    "operations": [
        {
            "meta": {
                "href": f"{API}/customerorder/34efe2ee-015e-11e6-9464-e4de0000006b",
                "type": "customerorder",
            },
            "id": "34efe2ee-015e-11e6-9464-e4de0000006b",
            "name": "5643",
            "sum": 7500000,
            "payedSum": 5000000,
            "linkedSum": 5000000,
        },
        {
            "meta": {
                "href": f"{API}/retailshift/90ba347d-6b8b-11e6-8a84-bae5000000bd",
                "metadataHref": f"{API}/retailshift/metadata",
                "type": "retailshift",
                "mediaType": "application/json",
            },
            "linkedSum": 80000,
        },
    ],
}

# documents/_demand.md: the shipment's customerOrder as Kladana sends it unexpanded.
DEMAND: dict[str, Any] = {
    "meta": {"href": f"{API}/demand/7944ef04-f831-11e5-7a69-971500188b19", "type": "demand"},
    "id": "7944ef04-f831-11e5-7a69-971500188b19",
    "name": "00001",
    "rate": RUPEES,
    "sum": 1120000,
    "payedSum": 120000,
    "shippedSum": 1120000,
    "customerOrder": {
        "meta": {
            "href": f"{API}/customerorder/c49e83b3-01af-11e6-9464-e4de00000026",
            "type": "customerorder",
            "mediaType": "application/json",
        }
    },
}

# _general.md, "Shipment Return with expand": a sales return with its demand expanded.
SALES_RETURN: dict[str, Any] = {
    "meta": {
        "href": f"{API}/salesreturn/685a0eb9-e707-11ef-ac12-000e00000043?expand=demand",
        "type": "salesreturn",
    },
    "id": "685a0eb9-e707-11ef-ac12-000e00000043",
    "name": "00002",
    "moment": "2025-02-09 20:00:00.000",
    "rate": RUPEES,
    "sum": 111100.0,
    "payedSum": 0.0,
    "demand": {
        "meta": {"href": f"{API}/demand/a6c50571-e705-11ef-ac12-000e0000001d", "type": "demand"},
        "id": "a6c50571-e705-11ef-ac12-000e0000001d",
        "name": "00001",
        "sum": 111100.0,
        "payedSum": 0.0,
    },
}

# documents/_purchase_return.md: the supply unexpanded, Kladana's paidSum spelling.
PURCHASE_RETURN: dict[str, Any] = {
    "meta": {"href": f"{API}/purchasereturn/f8e3ab7e-3f6f-11e6-8a84-bae5000000c6"},
    "id": "f8e3ab7e-3f6f-11e6-8a84-bae5000000c6",
    "name": "00001",
    "rate": RUPEES,
    "sum": 300000,
    "paidSum": 0,
    "supply": {
        "meta": {
            "href": f"{API}/supply/b1008773-313f-11e6-8a84-bae500000089",
            "metadataHref": f"{API}/supply/metadata",
            "type": "supply",
            "mediaType": "application/json",
        }
    },
}

# documents/_move.md: a transfer between the account's stores, no counterparty, no paid sum.
MOVE: dict[str, Any] = {
    "meta": {"href": f"{API}/move/7944ef04-f831-11e5-7a69-971500188b20", "type": "move"},
    "id": "7944ef04-f831-11e5-7a69-971500188b20",
    "name": "00003",
    "rate": RUPEES,
    "sum": 20000,
    "sourceStore": {"meta": {"type": "store"}, "name": "Main warehouse"},
    "targetStore": {"meta": {"type": "store"}, "name": "Shop"},
    "positions": {"meta": {"type": "moveposition", "size": 0}},
}

# The Russian docs' documents/_productionTask.md: no agent, sum, currency or positions.
PRODUCTION_TASK: dict[str, Any] = {
    "meta": {"href": f"{API}/productiontask/1906fa20-99d6-11ee-0a83-0a2e00000767"},
    "id": "1906fa20-99d6-11ee-0a83-0a2e00000767",
    "name": "00001",
    "moment": "2023-12-13 12:00:00.000",
    "state": {"meta": {"type": "state"}, "name": "New"},
    "productionRows": {"meta": {"type": "productionrow", "size": 1}, "rows": []},
    "products": {"meta": {"type": "productiontaskresult", "size": 1}},
}


def test_a_payment_links_each_document_it_pays_with_the_amount_applied() -> None:
    document = _document(PAYMENT_IN, "PaymentIn")
    assert document["links"] == [
        {
            "relation": "pays",
            "type": "CustomerOrder",
            "id": "34efe2ee-015e-11e6-9464-e4de0000006b",
            "number": "5643",
            "sum": _inr(7500000, "75000.00"),
            "applied": _inr(5000000, "50000.00"),
            "balance_due": _inr(2500000, "25000.00"),
        },
        {
            # A document outside the 14 types keeps Kladana's entity; bare, only its id.
            "relation": "pays",
            "type": "retailshift",
            "id": "90ba347d-6b8b-11e6-8a84-bae5000000bd",
            "number": None,
            "sum": None,
            "applied": _inr(80000, "800.00"),
            "balance_due": None,
        },
    ]
    # A payment has a sum but no paid sum: nothing is due on the payment itself.
    assert document["balance_due"] is None
    assert document["positions"] is None


@pytest.mark.parametrize("type_name", ["PaymentOut", "CashIn", "CashOut"])
def test_every_payment_and_cash_document_links_its_operations(type_name: str) -> None:
    [first, _] = _document(PAYMENT_IN, type_name)["links"]
    assert (first["relation"], first["number"]) == ("pays", "5643")


def test_a_payment_that_pays_nothing_yet_has_no_links() -> None:
    unlinked = {key: value for key, value in PAYMENT_IN.items() if key != "operations"}
    assert _document(unlinked, "PaymentIn")["links"] == []


def test_a_shipment_links_its_order_and_owes_what_is_not_paid() -> None:
    document = _document(DEMAND, "Demand")
    assert document["links"] == [
        {
            "relation": "ships",
            "type": "CustomerOrder",
            "id": "c49e83b3-01af-11e6-9464-e4de00000026",
            "number": None,
            "sum": None,
            "applied": None,
            "balance_due": None,
        }
    ]
    assert document["balance_due"] == _inr(1000000, "10000.00")


def test_a_sales_return_links_the_shipment_it_returns() -> None:
    document = _document(SALES_RETURN, "SalesReturn")
    assert document["links"] == [
        {
            "relation": "returns",
            "type": "Demand",
            "id": "a6c50571-e705-11ef-ac12-000e0000001d",
            "number": "00001",
            "sum": _inr(111100, "1111.00"),
            "applied": None,
            "balance_due": _inr(111100, "1111.00"),
        }
    ]
    assert document["balance_due"] == _inr(111100, "1111.00")


def test_a_purchase_return_links_the_receiving_it_returns() -> None:
    document = _document(PURCHASE_RETURN, "PurchaseReturn")
    assert document["links"] == [
        {
            "relation": "returns",
            "type": "Supply",
            "id": "b1008773-313f-11e6-8a84-bae500000089",
            "number": None,
            "sum": None,
            "applied": None,
            "balance_due": None,
        }
    ]
    assert document["balance_due"] == _inr(300000, "3000.00")


def test_an_overpaid_document_owes_nothing() -> None:
    overpaid = {**DEMAND, "payedSum": 1500000}
    assert _document(overpaid, "Demand")["balance_due"] == _inr(0, "0.00")


def test_a_transfer_has_no_counterparty_links_or_balance() -> None:
    document = _document(MOVE, "Move")
    assert (document["agent"], document["links"], document["balance_due"]) == (None, [], None)
    assert document["sum"] == _inr(20000, "200.00")
    # A Move's customerOrder is not something it ships: only a Shipment's is.
    assert _document({**MOVE, "customerOrder": DEMAND["customerOrder"]}, "Move")["links"] == []


def test_a_production_order_without_agent_sum_or_positions_enriches() -> None:
    document = _document(PRODUCTION_TASK, "ProductionTask")
    assert {key: document[key] for key in ("number", "state", "agent", "sum", "positions")} == {
        "number": "00001",
        "state": "New",
        "agent": None,
        "sum": None,
        "positions": None,
    }
    assert (document["links"], document["balance_due"]) == ([], None)


@pytest.mark.parametrize(
    ("kladana", "type_name"),
    [
        (PAYMENT_IN, "PaymentIn"),
        (PAYMENT_IN, "CashOut"),
        (DEMAND, "Demand"),
        (SALES_RETURN, "SalesReturn"),
        (PURCHASE_RETURN, "PurchaseReturn"),
        (MOVE, "Move"),
        (PRODUCTION_TASK, "ProductionTask"),
    ],
)
def test_every_type_family_builds_an_event_its_schema_accepts(
    kladana: dict[str, Any], type_name: str
) -> None:
    request = DocumentRequest("raw-1", str(kladana["id"]), _type(type_name))
    # enriched_record validates the event against enriched-document.v1 before returning it.
    assert enriched_record(request, copy.deepcopy(kladana), timezone=MOSCOW).value
