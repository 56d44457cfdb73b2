import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cloudevents.core.v1.event import CloudEvent

from enricher.errors import InvalidDocument
from enricher.handlers import (
    SOURCE,
    DocumentRequest,
    enriched_record,
    read_request,
    unavailable_record,
)
from shared.contracts import ContractViolation, validate_envelope
from shared.errors import MalformedEvent
from shared.events import (
    DOCUMENT_UNAVAILABLE,
    ENRICHED_DOCUMENT,
    RAW_WEBHOOK,
    Record,
    new_event,
    to_record,
)
from shared.kladana_types import TRANSACTION_TYPES, TransactionType
from tests.enricher_fakes import kladana_document, not_found

SEED_ID = "34efe2ee-015e-11e6-9464-e4de0000006b"
MOSCOW = ZoneInfo("Europe/Moscow")
SEED_ORDER = kladana_document(SEED_ID)


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


def _request(type_name: str = "CustomerOrder") -> DocumentRequest:
    transaction_type = TRANSACTION_TYPES.by_name(type_name)
    assert transaction_type is not None
    return DocumentRequest("raw-1", SEED_ID, transaction_type)


def test_a_raw_event_names_its_document_and_the_entity_from_the_type_table() -> None:
    raw = _raw(type_name="ProductionTask")
    types = TRANSACTION_TYPES.with_entities({"ProductionTask": "processingorder"})
    request = read_request(to_record(raw), types)
    assert request.raw_event_id == raw.get_id()
    assert request.document_id == SEED_ID
    assert request.fetch_key == ("processingorder", SEED_ID)


@pytest.mark.parametrize("type_name", ["Invoice", "customerorder", None, 7])
def test_an_unknown_type_is_a_malformed_event(type_name: Any) -> None:
    with pytest.raises(MalformedEvent, match="unknown transaction type"):
        read_request(to_record(_raw(type_name=type_name)), TRANSACTION_TYPES)


def test_an_event_of_another_type_is_malformed() -> None:
    enriched = new_event(ENRICHED_DOCUMENT, source="/x", document_id=SEED_ID, data={})
    with pytest.raises(MalformedEvent):
        read_request(to_record(enriched), TRANSACTION_TYPES)


def test_a_raw_event_without_document_id_is_malformed() -> None:
    raw = new_event(RAW_WEBHOOK, source="/x", document_id=SEED_ID, data={"type": "CustomerOrder"})
    with pytest.raises(MalformedEvent, match="document_id"):
        read_request(to_record(raw), TRANSACTION_TYPES)


def test_a_record_that_is_not_an_event_is_malformed() -> None:
    with pytest.raises(MalformedEvent):
        read_request(Record(key=b"k", value=b"not json"), TRANSACTION_TYPES)


def test_the_enriched_event_is_schema_valid_and_keyed_by_the_document() -> None:
    record = enriched_record(_request(), SEED_ORDER, timezone=MOSCOW)
    assert record.key == SEED_ID.encode()
    envelope = json.loads(record.value)
    validate_envelope(envelope)
    assert envelope["type"] == ENRICHED_DOCUMENT.type
    assert envelope["source"] == SOURCE
    assert envelope["subject"] == SEED_ID
    data = envelope["data"]
    assert data["raw_event_id"] == "raw-1"
    assert data["kladana"] == SEED_ORDER
    assert data["document"]["number"] == "5643"
    assert data["document"]["moment"] == "2024-06-10T12:57:00+03:00"
    assert data["document"]["sum"] == {"minor": 5000000, "amount": "50000.00", "currency": "INR"}


def test_an_unusable_document_is_invalid() -> None:
    with pytest.raises(InvalidDocument):
        enriched_record(_request(), {**SEED_ORDER, "sum": "lots"}, timezone=MOSCOW)


def test_an_event_breaking_the_contract_is_never_built() -> None:
    # A type added to the table but not to the published schema's enum.
    request = DocumentRequest("raw-1", SEED_ID, TransactionType("Invoice", "invoice", "Invoice"))
    with pytest.raises(ContractViolation, match="document/type") as raised:
        enriched_record(request, SEED_ORDER, timezone=MOSCOW)
    assert not raised.value.retriable


def test_the_unavailable_event_says_which_raw_event_and_document_and_why() -> None:
    record = unavailable_record(_request(), not_found(SEED_ID))
    assert record.key == SEED_ID.encode()
    envelope = json.loads(record.value)
    validate_envelope(envelope)
    assert envelope["type"] == DOCUMENT_UNAVAILABLE.type
    assert envelope["data"] == {
        "raw_event_id": "raw-1",
        "document_id": SEED_ID,
        "type": "CustomerOrder",
        "entity": "customerorder",
        "status": 404,
        "reason": f"Kladana answered 404 for customerorder/{SEED_ID}: not found",
    }


def test_the_events_answering_one_raw_event_always_get_the_same_ids() -> None:
    def event_id(record: Record) -> str:
        identifier: str = json.loads(record.value)["id"]
        return identifier

    first = enriched_record(_request(), SEED_ORDER, timezone=MOSCOW)
    again = enriched_record(_request(), {**SEED_ORDER, "sum": 7}, timezone=MOSCOW)
    other = enriched_record(
        DocumentRequest("raw-2", SEED_ID, _request().transaction_type), SEED_ORDER, timezone=MOSCOW
    )
    gone = unavailable_record(_request(), not_found(SEED_ID))
    assert event_id(first) == event_id(again)
    assert len({event_id(first), event_id(other), event_id(gone)}) == 3
    assert event_id(gone) == event_id(unavailable_record(_request(), not_found(SEED_ID)))
