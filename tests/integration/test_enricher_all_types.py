"""All 14 Kladana document types through the real broker, the real enricher and the sandbox
served over HTTP: the right type, number and links for each, and one forbidden type
dead-lettered while the other 13 keep flowing.

Expected values are written by hand from docs/sandbox.md's "fixed ids" table and
sandbox/documents.json, never computed with the enricher's code.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from devstack.http_server import BackgroundServer
from sandbox.app import create_app as create_sandbox
from sandbox.remote import SandboxControl
from shared.contracts import validate_envelope
from shared.health import Readiness
from tests.conftest import KafkaRecordView, PipelineTopics, ReadTopic
from tests.integration.test_enricher_loop import (
    TOKEN,
    publish_raw,
    raw_event,
    running,
    settings_for,
)
from tests.sandbox_ids import (
    CASH_IN,
    CASH_OUT,
    DEMAND,
    INVOICE_IN,
    INVOICE_OUT,
    MOVE,
    ORDER_5643,
    ORDER_5644,
    PAYMENT_IN,
    PAYMENT_OUT,
    PRODUCTION_TASK,
    PURCHASE_ORDER,
    PURCHASE_RETURN,
    SALES_RETURN,
    SUPPLY,
)

pytestmark = pytest.mark.broker

ENRICHED_TYPE = "com.kladana.document.enriched.v1"


def inr(minor: int, amount: str) -> dict[str, Any]:
    return {"minor": minor, "amount": amount, "currency": "INR"}


# document id -> (type, number, links), one document of each of the 14 types.
EXPECTED: dict[str, tuple[str, str, list[dict[str, Any]]]] = {
    ORDER_5643: ("CustomerOrder", "5643", []),
    INVOICE_OUT: ("InvoiceOut", "INV-00077", []),
    PURCHASE_ORDER: ("PurchaseOrder", "PO-0041", []),
    INVOICE_IN: ("InvoiceIn", "SI-2291", []),
    DEMAND: (
        "Demand",
        "00013",
        [
            {
                "relation": "ships",
                "type": "CustomerOrder",
                "id": ORDER_5643,
                "number": "5643",
                "sum": inr(5000000, "50000.00"),
                "applied": None,
                "balance_due": inr(0, "0.00"),
            }
        ],
    ),
    SUPPLY: ("Supply", "00007", []),
    PRODUCTION_TASK: ("ProductionTask", "PT-0004", []),
    PAYMENT_IN: (
        "PaymentIn",
        "00032",
        [
            {
                "relation": "pays",
                "type": "CustomerOrder",
                "id": ORDER_5643,
                "number": "5643",
                "sum": inr(5000000, "50000.00"),
                "applied": inr(5000000, "50000.00"),
                "balance_due": inr(0, "0.00"),
            }
        ],
    ),
    PAYMENT_OUT: (
        "PaymentOut",
        "00015",
        [
            {
                "relation": "pays",
                "type": "InvoiceIn",
                "id": INVOICE_IN,
                "number": "SI-2291",
                "sum": inr(2450000, "24500.00"),
                "applied": inr(2450000, "24500.00"),
                "balance_due": inr(0, "0.00"),
            }
        ],
    ),
    CASH_IN: (
        "CashIn",
        "00009",
        [
            {
                "relation": "pays",
                "type": "CustomerOrder",
                "id": ORDER_5644,
                "number": "5644",
                "sum": inr(1234550, "12345.50"),
                "applied": inr(1500000, "15000.00"),
                "balance_due": inr(1234550, "12345.50"),
            }
        ],
    ),
    CASH_OUT: ("CashOut", "00004", []),
    SALES_RETURN: (
        "SalesReturn",
        "00005",
        [
            {
                "relation": "returns",
                "type": "Demand",
                "id": DEMAND,
                "number": "00013",
                "sum": inr(5000000, "50000.00"),
                "applied": None,
                "balance_due": inr(0, "0.00"),
            }
        ],
    ),
    MOVE: ("Move", "00006", []),
    PURCHASE_RETURN: (
        "PurchaseReturn",
        "00002",
        [
            {
                "relation": "returns",
                "type": "Supply",
                "id": SUPPLY,
                "number": "00007",
                "sum": inr(11200000, "112000.00"),
                "applied": None,
                "balance_due": inr(11200000, "112000.00"),
            }
        ],
    ),
}


@contextmanager
def served_sandbox() -> Iterator[tuple[str, SandboxControl]]:
    """The sandbox on a real port: its API URL and an operator's control client."""
    with BackgroundServer(create_sandbox(token=TOKEN)) as server:
        yield f"{server.url}/api/remap/1.2", SandboxControl(server.url, TOKEN)


def publish_all_types(bootstrap: str, topic: str) -> None:
    raws = [
        raw_event(document_id, type_name) for document_id, (type_name, _, _) in EXPECTED.items()
    ]
    publish_raw(bootstrap, topic, raws)


def documents_by_id(records: list[KafkaRecordView]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for record in records:
        envelope = json.loads(record.value)
        validate_envelope(envelope)
        assert envelope["type"] == ENRICHED_TYPE
        document = envelope["data"]["document"]
        assert document["id"] not in found, f"two enriched events for {document['id']}"
        found[document["id"]] = document
    return found


def assert_as_expected(document_id: str, document: dict[str, Any]) -> None:
    type_name, number, links = EXPECTED[document_id]
    assert (document["type"], document["number"]) == (type_name, number), document_id
    assert document["links"] == links, f"{type_name} {number}"


def test_every_type_is_enriched_with_its_number_and_links(
    kafka_bootstrap: str, topics: PipelineTopics, read_topic: ReadTopic
) -> None:
    publish_all_types(kafka_bootstrap, topics.raw)
    with served_sandbox() as (api_url, _), running(settings_for(kafka_bootstrap, topics, api_url)):
        enriched = read_topic(topics.enriched, count=14, timeout_s=90)

    documents = documents_by_id(enriched)
    assert sorted(documents) == sorted(EXPECTED)
    assert len(enriched) == 14
    for document_id, document in documents.items():
        assert_as_expected(document_id, document)
    assert read_topic(topics.dead_letter) == []


def test_a_forbidden_type_is_dead_lettered_and_the_other_13_still_arrive(
    kafka_bootstrap: str, topics: PipelineTopics, read_topic: ReadTopic
) -> None:
    readiness = Readiness()
    with served_sandbox() as (api_url, control):
        assert control.set_faults(forbidden_entities=["cashout"])["forbidden_entities"] == [
            "cashout"
        ]
        publish_all_types(kafka_bootstrap, topics.raw)
        with running(settings_for(kafka_bootstrap, topics, api_url), readiness):
            enriched = read_topic(topics.enriched, count=13, timeout_s=90)
            dead = read_topic(topics.dead_letter, count=1, timeout_s=60)
            assert readiness.reason is None
        # Everything answered: nothing more is on its way to either topic.
        enriched = read_topic(topics.enriched)
        dead = read_topic(topics.dead_letter)

    documents = documents_by_id(enriched)
    assert sorted(documents) == sorted(set(EXPECTED) - {CASH_OUT})
    assert len(enriched) == 13
    for document_id, document in documents.items():
        assert_as_expected(document_id, document)

    assert len(dead) == 1
    (letter,) = dead
    assert letter.key == CASH_OUT.encode()
    assert json.loads(letter.value)["data"]["type"] == "CashOut"
    assert letter.headers["dlq.reason"].decode().startswith("forbidden")
    assert letter.headers["dlq.error"] == b"TypeForbidden"
    assert letter.headers["dlq.status"] == b"403"
