"""Per type: what the enricher asks Kladana to expand, and a type it may not see.

The expand lists are written out by hand from the API docs' field tables
(moysklad/api-remap-1.2-doc-in source/includes/documents/, and the Russian edition's
_productionTask.md): each path is a field of that type marked ``+Expand``.
"""

import json

import pytest
from kafka.structs import TopicPartition
from prometheus_client import CollectorRegistry

from enricher.errors import KladanaAuthFailed, TypeForbidden
from shared.batch import Polled
from shared.events import Record, to_record
from shared.kladana_types import TRANSACTION_TYPES
from shared.settling import Held, Settled
from tests.enricher_fakes import RecordingSource, raw_event, settling_processor

TRADE = (
    "agent",
    "agent.contactpersons",
    "state",
    "organization",
    "rate.currency",
    "positions",
    "positions.assortment",
)
PAYMENT = (
    "agent",
    "agent.contactpersons",
    "state",
    "organization",
    "rate.currency",
    "operations",
)

EXPECTED_EXPAND = {
    "CustomerOrder": TRADE,
    "InvoiceOut": TRADE,
    "PurchaseOrder": TRADE,
    "InvoiceIn": TRADE,
    "Demand": (*TRADE, "customerOrder"),
    "Supply": TRADE,
    "ProductionTask": ("state", "organization", "productionRows"),
    "PaymentIn": PAYMENT,
    "PaymentOut": PAYMENT,
    "CashIn": PAYMENT,
    "CashOut": PAYMENT,
    "SalesReturn": (*TRADE, "demand"),
    "Move": (
        "state",
        "organization",
        "rate.currency",
        "positions",
        "positions.assortment",
        "sourceStore",
        "targetStore",
    ),
    "PurchaseReturn": (*TRADE, "supply"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_EXPAND))
def test_each_type_expands_only_what_it_has(name: str) -> None:
    transaction_type = TRANSACTION_TYPES.by_name(name)
    assert transaction_type is not None
    assert transaction_type.expand == EXPECTED_EXPAND[name]


def test_the_table_covers_the_14_types() -> None:
    assert set(TRANSACTION_TYPES.names) == set(EXPECTED_EXPAND)


def test_overriding_an_entity_keeps_the_types_expand() -> None:
    overridden = TRANSACTION_TYPES.with_entities({"ProductionTask": "processingorder"})
    production = overridden.by_name("ProductionTask")
    assert production is not None
    assert production.expand == ("state", "organization", "productionRows")


def _group(*records: Record) -> list[Polled]:
    return [Polled(TopicPartition("raw", 0), offset, r) for offset, r in enumerate(records)]


def test_the_handler_asks_each_type_for_its_own_expand() -> None:
    source = RecordingSource()
    records = [to_record(raw_event(f"doc-{name}", name)) for name in ("Move", "PaymentIn")]
    list(settling_processor(source).process(_group(*records), lambda: False))
    assert source.expands == [EXPECTED_EXPAND["Move"], EXPECTED_EXPAND["PaymentIn"]]


def _forbidden(entity: str) -> TypeForbidden:
    return TypeForbidden(
        f"forbidden: Kladana answered 403 for {entity}/doc: Access Denied (code 1016)",
        status=403,
        body='{"errors": [{"error": "Access Denied", "code": 1016}]}',
    )


def test_a_forbidden_type_is_dead_lettered_and_the_others_flow_on() -> None:
    source = RecordingSource(
        lambda entity, _d, _n: _forbidden(entity) if entity == "cashout" else None
    )
    registry = CollectorRegistry()
    records = [
        to_record(raw_event("order", "CustomerOrder")),
        to_record(raw_event("cash", "CashOut")),
        to_record(raw_event("payment", "PaymentIn")),
    ]
    settled = list(
        settling_processor(source, registry=registry).process(_group(*records), lambda: False)
    )
    assert all(isinstance(s, Settled) for s in settled)
    topics = [[o.topic for o in s.outputs] for s in settled if isinstance(s, Settled)]
    assert topics == [["enriched"], ["dlq"], ["enriched"]]
    letter = settled[1].outputs[0].record  # type: ignore[union-attr]
    headers = dict(letter.headers)
    assert headers["dlq.reason"].startswith(b"forbidden: ")
    assert b"Access Denied" in headers["dlq.reason"]
    assert headers["dlq.error"] == b"TypeForbidden"
    assert headers["dlq.status"] == b"403"
    assert json.loads(letter.value)["data"]["type"] == "CashOut"
    # Dead-lettered at once: a forbidden type is not retried.
    assert source.calls_for("cash") == 1
    failed = registry.get_sample_value("consumer_events_failed_total", {"reason": "TypeForbidden"})
    assert failed == 1


def test_a_refused_token_still_halts() -> None:
    source = RecordingSource(
        lambda entity, _d, _n: KladanaAuthFailed("401") if entity == "cashout" else None
    )
    records = [to_record(raw_event("order")), to_record(raw_event("cash", "CashOut"))]
    settled: list[Settled | Held] = []
    with pytest.raises(KladanaAuthFailed):
        settled.extend(settling_processor(source).process(_group(*records), lambda: False))
    assert [s.polled.offset for s in settled] == [0]
