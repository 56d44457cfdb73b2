import json
from datetime import UTC, datetime

import pytest

from shared.contracts import ContractViolation, validate_envelope, validate_event
from shared.errors import MalformedEvent
from shared.events import (
    ENRICHED_DOCUMENT,
    RAW_WEBHOOK,
    Record,
    event_data,
    from_record,
    new_event,
    to_record,
)
from shared.kladana_types import TRANSACTION_TYPES

ALL_TYPES = {
    "CustomerOrder": "customerorder",
    "InvoiceOut": "invoiceout",
    "PurchaseOrder": "purchaseorder",
    "InvoiceIn": "invoicein",
    "Demand": "demand",
    "Supply": "supply",
    "ProductionTask": "productiontask",
    "PaymentIn": "paymentin",
    "PaymentOut": "paymentout",
    "CashIn": "cashin",
    "CashOut": "cashout",
    "SalesReturn": "salesreturn",
    "Move": "move",
    "PurchaseReturn": "purchasereturn",
}


@pytest.mark.parametrize(("name", "entity"), ALL_TYPES.items())
def test_each_of_the_fourteen_types_maps_to_its_entity(name: str, entity: str) -> None:
    found = TRANSACTION_TYPES.by_name(name)
    assert found is not None
    assert found.entity == entity
    assert TRANSACTION_TYPES.by_entity(entity) == found


def test_the_table_has_exactly_the_fourteen_types() -> None:
    assert set(TRANSACTION_TYPES.names) == set(ALL_TYPES)


def test_entities_can_be_overridden_by_configuration() -> None:
    table = TRANSACTION_TYPES.with_entities({"ProductionTask": "processingorder"})
    production = table.by_name("ProductionTask")
    assert production is not None
    assert production.entity == "processingorder"
    assert table.by_entity("productiontask") is None
    assert TRANSACTION_TYPES.by_name("ProductionTask").entity == "productiontask"  # type: ignore[union-attr]


def test_override_of_an_unknown_type_is_refused() -> None:
    with pytest.raises(KeyError, match="Invoice"):
        TRANSACTION_TYPES.with_entities({"Invoice": "invoice"})


def _raw_event() -> object:
    return new_event(
        RAW_WEBHOOK,
        source="/test",
        document_id="34efe2ee-015e-11e6-9464-e4de0000006b",
        time=datetime(2024, 6, 10, 9, 0, tzinfo=UTC),
        data={
            "document_id": "34efe2ee-015e-11e6-9464-e4de0000006b",
            "type": "CustomerOrder",
            "entity": "customerorder",
            "received_at": "2024-06-10T09:00:00+00:00",
            "method": "GET",
            "query": {"id": "34efe2ee-015e-11e6-9464-e4de0000006b", "type": "CustomerOrder"},
        },
    )


def test_record_is_structured_cloudevent_keyed_by_document() -> None:
    record = to_record(_raw_event())  # type: ignore[arg-type]
    assert record.key == b"34efe2ee-015e-11e6-9464-e4de0000006b"
    assert dict(record.headers) == {"content-type": b"application/cloudevents+json"}
    envelope = json.loads(record.value)
    assert envelope["specversion"] == "1.0"
    assert envelope["type"] == "com.kladana.webhook.received.v1"
    assert envelope["dataschema"] == "urn:kladana-pipeline:schema:raw-webhook.v1"
    validate_envelope(envelope)


def test_record_round_trips() -> None:
    event = _raw_event()
    parsed = from_record(to_record(event))  # type: ignore[arg-type]
    assert parsed.get_id() == event.get_id()  # type: ignore[attr-defined]
    assert event_data(parsed, RAW_WEBHOOK)["type"] == "CustomerOrder"


def test_event_of_another_type_is_malformed_for_the_reader() -> None:
    with pytest.raises(MalformedEvent, match="expected an event of type"):
        event_data(from_record(to_record(_raw_event())), ENRICHED_DOCUMENT)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [b"", b"not json", b"[]", b'{"specversion": "1.0"}', b"\xff"])
def test_garbage_records_are_malformed(value: bytes) -> None:
    with pytest.raises(MalformedEvent):
        from_record(Record(key=b"k", value=value))


def test_a_record_nested_too_deeply_is_malformed() -> None:
    # Found by tests/unit/test_properties_shared.py: it raised RecursionError.
    value = b'{"specversion": "1.0", "data": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    with pytest.raises(MalformedEvent, match="recursion"):
        from_record(
            Record(
                key=b"k", value=value, headers=(("content-type", b"application/cloudevents+json"),)
            )
        )


def test_schema_violation_names_the_place() -> None:
    event = new_event(
        RAW_WEBHOOK, source="/test", document_id="doc-1", data={"document_id": "doc-1"}
    )
    with pytest.raises(ContractViolation, match=r"raw-webhook\.v1"):
        validate_event(event)
