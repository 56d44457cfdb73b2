"""Every one of the 14 types, shaped as in Kladana's docs; links between them; which
expands a type refuses (1089); a forbidden type (403, 1016).

Expected values are the bundled documents' as docs/sandbox.md lists them, written out.
"""

from typing import Any

import pytest
from flask.testing import FlaskClient

from sandbox.app import create_app
from sandbox.limits import RateLimits
from shared.kladana_types import TRANSACTION_TYPES
from tests.sandbox_ids import (
    CASH_IN,
    CASH_OUT,
    INVOICE_OUT,
    MOVE,
    PAYMENT_IN,
    PAYMENT_OUT,
    PRODUCTION_TASK,
    PURCHASE_ORDER,
    PURCHASE_RETURN,
    SALES_RETURN,
)
from tests.sandbox_ids import DEMAND as SHIPMENT
from tests.sandbox_ids import INVOICE_IN as SUPPLIER_INVOICE
from tests.sandbox_ids import ORDER_5643 as SEED_ORDER
from tests.sandbox_ids import SUPPLY as RECEIVING
from tests.unit.sandbox_client import (
    BASE,
    CONTROL,
    TOKEN,
    body_of,
    error_code,
    get_document,
    set_knobs,
)

API = f"{BASE}/api/remap/1.2"
ADVANCE_PAYMENT = "a5f937f2-eb25-11f1-8354-02fc00000001"  # pays nothing yet

TRADE = "agent,agent.contactpersons,state,organization,rate.currency,positions"
PAYMENT = "agent,state,organization,rate.currency,operations"


@pytest.fixture
def client() -> FlaskClient:
    return create_app(token=TOKEN, limits=RateLimits(units=10_000)).test_client()


def _get(client: FlaskClient, entity: str, document_id: str, expand: str = "") -> Any:
    response = get_document(client, entity, document_id, expand=expand)
    assert response.status_code == 200, body_of(response)
    return body_of(response)


@pytest.mark.parametrize(
    ("entity", "document_id", "expand", "number", "total", "counterparty"),
    [
        ("customerorder", SEED_ORDER, TRADE, "5643", 5000000, "Priya Sharma"),
        ("invoiceout", INVOICE_OUT, TRADE, "INV-00077", None, None),
        (
            "purchaseorder",
            PURCHASE_ORDER,
            TRADE,
            "PO-0041",
            11200000,
            "Shree Balaji Cement Suppliers",
        ),
        ("invoicein", SUPPLIER_INVOICE, TRADE, "SI-2291", 2450000, "Kaveri Electricals Pvt Ltd"),
        ("demand", SHIPMENT, f"{TRADE},customerOrder", "00013", 5000000, "Priya Sharma"),
        ("supply", RECEIVING, TRADE, "00007", 11200000, "Shree Balaji Cement Suppliers"),
        ("paymentin", PAYMENT_IN, PAYMENT, "00032", 5000000, "Priya Sharma"),
        ("paymentout", PAYMENT_OUT, PAYMENT, "00015", 2450000, "Kaveri Electricals Pvt Ltd"),
        ("cashin", CASH_IN, PAYMENT, "00009", 1500000, "Vikram Singh Rathore"),
        ("cashout", CASH_OUT, PAYMENT, "00004", 3500000, "Lakshmi Properties"),
        ("salesreturn", SALES_RETURN, f"{TRADE},demand", "00005", 400000, "Priya Sharma"),
        (
            "purchasereturn",
            PURCHASE_RETURN,
            f"{TRADE},supply",
            "00002",
            380000,
            "Shree Balaji Cement Suppliers",
        ),
    ],
)
def test_every_type_with_a_counterparty_is_served_in_rupees(
    client: FlaskClient,
    entity: str,
    document_id: str,
    expand: str,
    number: str,
    total: int | None,
    counterparty: str | None,
) -> None:
    document = _get(client, entity, document_id, expand)
    assert document["meta"]["type"] == entity
    assert document["meta"]["href"] == f"{API}/entity/{entity}/{document_id}"
    assert document["name"] == number
    assert document["rate"]["currency"]["isoCode"] == "INR"
    assert document["agent"]["phone"].startswith(("+91", "0", "9", "call"))
    if total is not None:
        assert document["sum"] == total
    if counterparty is not None:
        assert document["agent"]["name"] == counterparty
    if entity.startswith(("payment", "cash")):
        assert "positions" not in document
        assert isinstance(document["operations"], list)
    else:
        assert document["positions"]["rows"]


def test_a_payment_in_pays_the_seed_order_with_its_linked_sum(client: FlaskClient) -> None:
    bare = _get(client, "paymentin", PAYMENT_IN)
    assert bare["operations"] == [
        {
            "meta": {
                "href": f"{API}/entity/customerorder/{SEED_ORDER}",
                "metadataHref": f"{API}/entity/customerorder/metadata",
                "type": "customerorder",
                "mediaType": "application/json",
            },
            "linkedSum": 5000000,
        }
    ]
    [order] = _get(client, "paymentin", PAYMENT_IN, "operations,operations.agent")["operations"]
    assert order["id"] == SEED_ORDER
    assert order["name"] == "5643"
    assert order["sum"] == 5000000
    assert order["linkedSum"] == 5000000
    assert order["agent"]["name"] == "Priya Sharma"
    assert list(order["state"]) == ["meta"]  # not asked for: a reference


def test_other_payments_name_what_they_pay(client: FlaskClient) -> None:
    [invoice] = _get(client, "paymentout", PAYMENT_OUT, "operations")["operations"]
    assert (invoice["name"], invoice["linkedSum"]) == ("SI-2291", 2450000)
    [order] = _get(client, "cashin", CASH_IN, "operations")["operations"]
    assert (order["name"], order["linkedSum"]) == ("5644", 1500000)
    assert _get(client, "cashout", CASH_OUT, "operations")["operations"] == []


@pytest.mark.parametrize(
    ("entity", "document_id", "link", "linked_entity", "linked_number"),
    [
        ("demand", SHIPMENT, "customerOrder", "customerorder", "5643"),
        ("salesreturn", SALES_RETURN, "demand", "demand", "00013"),
        ("purchasereturn", PURCHASE_RETURN, "supply", "supply", "00007"),
        ("supply", RECEIVING, "purchaseOrder", "purchaseorder", "PO-0041"),
    ],
)
def test_shipments_returns_and_receivings_link_their_documents(
    client: FlaskClient,
    entity: str,
    document_id: str,
    link: str,
    linked_entity: str,
    linked_number: str,
) -> None:
    bare = _get(client, entity, document_id)[link]
    assert list(bare) == ["meta"]
    assert bare["meta"]["type"] == linked_entity
    expanded = _get(client, entity, document_id, link)[link]
    assert expanded["name"] == linked_number
    assert expanded["meta"]["href"] == bare["meta"]["href"]


def test_a_move_is_between_two_own_stores_with_no_counterparty(client: FlaskClient) -> None:
    move = _get(client, "move", MOVE, "state,sourceStore,targetStore,positions.assortment")
    assert move["name"] == "00006"
    assert "agent" not in move
    assert move["sourceStore"]["name"] == "Main warehouse, Pune"
    assert move["targetStore"]["name"] == "Bengaluru branch"
    assert move["state"]["name"] == "In transit"
    assert move["sum"] == 4900000
    [row] = move["positions"]["rows"]
    assert row["assortment"]["name"] == "Crompton 1200 mm ceiling fan"
    assert row["meta"]["type"] == "moveposition"


def test_a_production_task_has_rows_and_products_but_no_counterparty_sum_or_positions(
    client: FlaskClient,
) -> None:
    task = _get(client, "productiontask", PRODUCTION_TASK, "state,organization,productionRows")
    assert task["name"] == "PT-0004"
    assert {"agent", "sum", "positions", "rate"}.isdisjoint(task)
    assert task["state"]["name"] == "In production"
    assert task["organization"]["name"] == "Ganesh Traders Pvt Ltd"
    [row] = task["productionRows"]["rows"]
    assert (row["name"], row["productionVolume"]) == ("Fan assembly, batch of 40", 40.0)
    assert list(row["processingPlan"]) == ["meta"]
    assert list(task["products"]) == ["meta"]
    assert task["products"]["meta"]["size"] == 1


@pytest.mark.parametrize(
    ("entity", "document_id", "expand", "refused"),
    [
        ("move", MOVE, "agent,state", "agent"),
        ("move", MOVE, "state,agent.contactpersons", "agent"),
        ("productiontask", PRODUCTION_TASK, "agent", "agent"),
        ("productiontask", PRODUCTION_TASK, "positions", "positions"),
        ("productiontask", PRODUCTION_TASK, "rate.currency", "rate"),
        ("productiontask", PRODUCTION_TASK, "products", "products"),
        (
            "productiontask",
            PRODUCTION_TASK,
            "productionRows.processingPlan",
            "productionRows.processingPlan",
        ),
        ("paymentin", PAYMENT_IN, "agent,positions", "positions"),
        ("cashout", CASH_OUT, "positions.assortment", "positions"),
        ("customerorder", SEED_ORDER, "agent,name", "name"),
        ("customerorder", SEED_ORDER, "operations", "operations"),
    ],
)
def test_an_expand_the_type_lacks_is_refused_with_1089(
    client: FlaskClient, entity: str, document_id: str, expand: str, refused: str
) -> None:
    response = get_document(client, entity, document_id, expand=expand)
    assert response.status_code == 400
    assert body_of(response) == {
        "errors": [
            {
                "error": f"Expand field {refused} is not supported",
                "code": 1089,
                "parameter": "expand",
                "moreInfo": "https://dev.kladana.com/api/remap/1.2/#error_1089",
            }
        ]
    }
    assert response.headers["X-RateLimit-Limit"] == "10000"


def test_an_expand_the_type_has_is_served_where_the_document_leaves_the_field_out(
    client: FlaskClient,
) -> None:
    # The seed's older advance pays no document yet: Kladana still knows the field.
    payment = _get(client, "paymentin", ADVANCE_PAYMENT, "operations")
    assert "operations" not in payment
    shipment = _get(client, "demand", "a5fcb648-eb25-11f1-b795-02fc00000001", "customerOrder")
    assert "customerOrder" not in shipment


def test_a_forbidden_type_is_403_with_1016_and_the_rest_flows(client: FlaskClient) -> None:
    knobs = set_knobs(client, forbidden_entities=["cashout"])
    assert knobs["forbidden_entities"] == ["cashout"]
    response = get_document(client, "cashout", CASH_OUT)
    assert response.status_code == 403
    assert body_of(response) == {
        "errors": [
            {
                "error": "Access Denied: You do not have permission to view this item"
                " (type 'cashout')",
                "code": 1016,
                "moreInfo": "https://dev.kladana.com/api/remap/1.2/#error_1016",
            }
        ]
    }
    assert get_document(client, "cashin", CASH_IN).status_code == 200
    assert get_document(client, "customerorder", SEED_ORDER).status_code == 200
    # Forbidden even where the document does not exist: the type is refused first.
    missing = get_document(client, "cashout", "a5dbd202-0000-11f1-8ee2-02fc00000001")
    assert missing.status_code == 403
    set_knobs(client, forbidden_entities=[])
    assert get_document(client, "cashout", CASH_OUT).status_code == 200


def test_a_bad_token_on_a_forbidden_type_is_still_the_tokens_401(client: FlaskClient) -> None:
    set_knobs(client, forbidden_entities=["cashout", "move"])
    response = get_document(client, "cashout", CASH_OUT, token="wrong")
    assert response.status_code == 401
    assert error_code(response) == 1056


def test_the_forbidden_knob_takes_a_list_of_names(client: FlaskClient) -> None:
    response = client.put(
        "/__sandbox/faults", json={"forbidden_entities": "cashout"}, headers=CONTROL
    )
    assert response.status_code == 400
    assert client.get("/__sandbox/faults", headers=CONTROL).get_json()["forbidden_entities"] == []


@pytest.mark.parametrize(
    ("entity", "document_id"),
    [
        ("customerorder", SEED_ORDER),
        ("invoiceout", INVOICE_OUT),
        ("purchaseorder", PURCHASE_ORDER),
        ("invoicein", SUPPLIER_INVOICE),
        ("demand", SHIPMENT),
        ("supply", RECEIVING),
        ("productiontask", PRODUCTION_TASK),
        ("paymentin", PAYMENT_IN),
        ("paymentout", PAYMENT_OUT),
        ("cashin", CASH_IN),
        ("cashout", CASH_OUT),
        ("salesreturn", SALES_RETURN),
        ("move", MOVE),
        ("purchasereturn", PURCHASE_RETURN),
    ],
)
def test_what_the_enricher_expands_for_each_type_is_served(
    client: FlaskClient, entity: str, document_id: str
) -> None:
    transaction_type = TRANSACTION_TYPES.by_entity(entity)
    assert transaction_type is not None
    _get(client, entity, document_id, ",".join(transaction_type.expand))
