import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cloudevents.core.v1.event import CloudEvent

from enricher.errors import (
    DocumentNotFound,
    InvalidDocument,
    KladanaAuthFailed,
    KladanaUnavailable,
)
from enricher.handlers import SOURCE, EnrichHandler
from shared.contracts import ContractViolation, validate_envelope
from shared.errors import MalformedEvent, PipelineError
from shared.events import ENRICHED_DOCUMENT, RAW_WEBHOOK, Record, new_event
from shared.kladana_types import TRANSACTION_TYPES, TransactionType, TypeTable

SEED_ID = "34efe2ee-015e-11e6-9464-e4de0000006b"
MOSCOW = ZoneInfo("Europe/Moscow")
SEED_ORDER: dict[str, Any] = {
    "meta": {"href": f"https://api.kladana.com/api/remap/1.2/entity/customerorder/{SEED_ID}"},
    "id": SEED_ID,
    "name": "5643",
    "moment": "2024-06-10 12:57:00.000",
    "sum": 5000000,
    "rate": {"currency": {"isoCode": "INR"}},
    "state": {"name": "Shipped"},
    "agent": {"id": "a1", "name": "Priya Sharma", "phone": "+91 98765 43210", "email": None},
    "organization": {"name": "Ganesh Traders Pvt Ltd"},
}


class FakeKladana:
    """Answers from a dict of documents, or raises a scripted error; records each call."""

    def __init__(self, documents: dict[str, dict[str, Any]], error: Exception | None = None):
        self.documents = documents
        self.error = error
        self.calls: list[tuple[str, str]] = []

    def fetch_document(self, entity: str, document_id: str) -> dict[str, Any]:
        self.calls.append((entity, document_id))
        if self.error is not None:
            raise self.error
        return self.documents[document_id]


class FakePublisher:
    def __init__(self) -> None:
        self.published: list[tuple[str, Record]] = []

    def publish(self, topic: str, record: Record) -> None:
        self.published.append((topic, record))


def _raw(document_id: str = SEED_ID, type_name: Any = "CustomerOrder") -> CloudEvent:
    return new_event(
        RAW_WEBHOOK,
        source="/kladana-pipeline/ingest",
        document_id=document_id,
        time=datetime(2024, 6, 10, 10, 0, tzinfo=UTC),
        data={
            "document_id": document_id,
            "type": type_name,
            "entity": "customerorder",
            "received_at": "2024-06-10T10:00:00+00:00",
            "method": "GET",
            "query": {"id": document_id, "type": str(type_name)},
        },
    )


def _handler(
    kladana: FakeKladana, publisher: FakePublisher, overrides: dict[str, str] | None = None
) -> EnrichHandler:
    types = TRANSACTION_TYPES.with_entities(overrides or {})
    return EnrichHandler(kladana, publisher, "enriched", types, timezone=MOSCOW)


def test_publishes_one_schema_valid_enriched_event_keyed_by_the_document() -> None:
    kladana, publisher = FakeKladana({SEED_ID: SEED_ORDER}), FakePublisher()
    raw = _raw()
    _handler(kladana, publisher)(raw)

    assert kladana.calls == [("customerorder", SEED_ID)]
    [(topic, record)] = publisher.published
    assert topic == "enriched"
    assert record.key == SEED_ID.encode()
    envelope = json.loads(record.value)
    validate_envelope(envelope)
    assert envelope["type"] == ENRICHED_DOCUMENT.type
    assert envelope["source"] == SOURCE
    assert envelope["subject"] == SEED_ID
    assert envelope["id"] != raw.get_id()
    data = envelope["data"]
    assert data["raw_event_id"] == raw.get_id()
    assert data["kladana"] == SEED_ORDER
    assert data["document"]["number"] == "5643"
    assert data["document"]["moment"] == "2024-06-10T12:57:00+03:00"
    assert data["document"]["sum"] == {"minor": 5000000, "amount": "50000.00", "currency": "INR"}
    assert data["document"]["agent"]["phone"] == "+91 98765 43210"


def test_the_entity_comes_from_the_type_table_with_overrides() -> None:
    kladana, publisher = FakeKladana({SEED_ID: SEED_ORDER}), FakePublisher()
    _handler(kladana, publisher, {"ProductionTask": "processingorder"})(
        _raw(type_name="ProductionTask")
    )
    assert kladana.calls == [("processingorder", SEED_ID)]
    document = json.loads(publisher.published[0][1].value)["data"]["document"]
    assert (document["type"], document["entity"]) == ("ProductionTask", "processingorder")


@pytest.mark.parametrize("type_name", ["Invoice", "customerorder", None, 7])
def test_an_unknown_type_is_a_malformed_event_and_kladana_is_not_asked(type_name: Any) -> None:
    kladana, publisher = FakeKladana({SEED_ID: SEED_ORDER}), FakePublisher()
    with pytest.raises(MalformedEvent, match="unknown transaction type"):
        _handler(kladana, publisher)(_raw(type_name=type_name))
    assert kladana.calls == []
    assert publisher.published == []


def test_an_event_of_another_type_is_malformed() -> None:
    kladana, publisher = FakeKladana({SEED_ID: SEED_ORDER}), FakePublisher()
    enriched = new_event(ENRICHED_DOCUMENT, source="/x", document_id=SEED_ID, data={})
    with pytest.raises(MalformedEvent):
        _handler(kladana, publisher)(enriched)
    assert kladana.calls == []


def test_a_raw_event_without_document_id_is_malformed() -> None:
    kladana, publisher = FakeKladana({SEED_ID: SEED_ORDER}), FakePublisher()
    raw = new_event(RAW_WEBHOOK, source="/x", document_id=SEED_ID, data={"type": "CustomerOrder"})
    with pytest.raises(MalformedEvent, match="document_id"):
        _handler(kladana, publisher)(raw)
    assert kladana.calls == []


@pytest.mark.parametrize(
    "error",
    [
        KladanaUnavailable("Kladana answered 503", retry_after=1.5),
        KladanaAuthFailed("Kladana answered 401"),
        DocumentNotFound("Kladana answered 404"),
    ],
)
def test_client_errors_propagate_unchanged_and_nothing_is_published(
    error: PipelineError,
) -> None:
    kladana, publisher = FakeKladana({}, error=error), FakePublisher()
    with pytest.raises(type(error)) as raised:
        _handler(kladana, publisher)(_raw())
    assert raised.value is error
    assert publisher.published == []


def test_an_unusable_document_is_invalid_and_not_published() -> None:
    broken = {**SEED_ORDER, "sum": "lots"}
    kladana, publisher = FakeKladana({SEED_ID: broken}), FakePublisher()
    with pytest.raises(InvalidDocument):
        _handler(kladana, publisher)(_raw())
    assert publisher.published == []


def test_an_event_breaking_the_contract_is_never_published() -> None:
    # A type added to the table but not to the published schema's enum.
    types = TypeTable((TransactionType("Invoice", "invoice", "Invoice"),))
    kladana, publisher = FakeKladana({SEED_ID: SEED_ORDER}), FakePublisher()
    handler = EnrichHandler(kladana, publisher, "enriched", types, timezone=MOSCOW)
    with pytest.raises(ContractViolation, match="document/type") as raised:
        handler(_raw(type_name="Invoice"))
    assert not raised.value.retriable
    assert publisher.published == []
