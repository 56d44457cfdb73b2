"""The enricher's handler under the runtime's settling rules: pure calls, no broker."""

import json
from datetime import timedelta

import pytest
from kafka.structs import TopicPartition

from enricher.errors import KladanaAuthFailed, KladanaRejected, KladanaUnavailable
from shared.batch import Polled
from shared.events import (
    DOCUMENT_UNAVAILABLE,
    ENRICHED_DOCUMENT,
    RAW_WEBHOOK,
    Record,
    new_event,
    to_record,
)
from shared.kladana_types import TRANSACTION_TYPES, TransactionType, TypeTable
from shared.retry_topic import attempts_made, not_before, parked_record
from shared.settling import Held, Settled
from tests.enricher_fakes import (
    NOW,
    RecordingSource,
    SettlingProcessor,
    Waits,
    not_found,
    raw_event,
    settling_processor,
)

DOC, OTHER = "doc-1", "doc-2"


def _group(*records: Record) -> list[Polled]:
    return [Polled(TopicPartition("raw", 0), offset, r) for offset, r in enumerate(records)]


def _raw(document_id: str = DOC, type_name: str = "CustomerOrder") -> Record:
    return to_record(raw_event(document_id, type_name))


def _settle(processor: SettlingProcessor, group: list[Polled]) -> list[Settled]:
    settled = list(processor.process(group, lambda: False))
    assert all(isinstance(s, Settled) for s in settled), "a retry topic parks, never holds"
    return settled  # type: ignore[return-value]


def _envelope(record: Record) -> dict[str, object]:
    loaded = json.loads(record.value)
    assert isinstance(loaded, dict)
    return loaded


def test_events_of_one_document_in_a_batch_cost_one_fetch_and_each_gets_its_event() -> None:
    source = RecordingSource()
    records = [_raw(), _raw(), _raw()]
    settled = _settle(settling_processor(source), _group(*records))

    assert [(entity, doc) for entity, doc, _ in source.calls] == [("customerorder", DOC)]
    assert [len(s.outputs) for s in settled] == [1, 1, 1]
    envelopes = [_envelope(s.outputs[0].record) for s in settled]
    assert {s.outputs[0].topic for s in settled} == {"enriched"}
    assert [e["type"] for e in envelopes] == [ENRICHED_DOCUMENT.type] * 3
    assert [e["data"]["raw_event_id"] for e in envelopes] == [  # type: ignore[index]
        json.loads(r.value)["id"] for r in records
    ]


def test_another_type_of_the_same_document_is_a_separate_fetch() -> None:
    source = RecordingSource()
    _settle(settling_processor(source), _group(_raw(), _raw(type_name="InvoiceOut"), _raw()))
    assert [entity for entity, _, _ in source.calls] == ["customerorder", "invoiceout"]


def test_a_transient_failure_is_retried_in_process_then_succeeds() -> None:
    source = RecordingSource(lambda _e, _d, n: KladanaUnavailable("503") if n <= 2 else None)
    waits = Waits()
    [settled] = _settle(settling_processor(source, waits), _group(_raw()))
    assert len(source.calls) == 3
    assert waits.delays == [0.5, 1.0]
    assert settled.outputs[0].topic == "enriched"


def test_retry_after_is_honoured_in_process() -> None:
    source = RecordingSource(
        lambda _e, _d, n: KladanaUnavailable("429", retry_after=3.0) if n == 1 else None
    )
    waits = Waits()
    _settle(settling_processor(source, waits), _group(_raw()))
    assert waits.delays == [3.0]


def test_after_the_quick_retries_the_event_parks_on_the_retry_topic() -> None:
    source = RecordingSource(lambda _e, _d, _n: KladanaUnavailable("Kladana answered 503"))
    raw = _raw()
    [settled] = _settle(settling_processor(source, quick=1), _group(raw))
    assert len(source.calls) == 2
    [output] = settled.outputs
    assert output.topic == "retry"
    assert (output.record.key, output.record.value) == (raw.key, raw.value)
    assert attempts_made(output.record) == 1
    assert not_before(output.record) == NOW + timedelta(seconds=10)
    assert dict(output.record.headers)["retry.reason"] == b"Kladana answered 503"


def test_a_failing_document_parks_all_its_events_for_one_fetch() -> None:
    source = RecordingSource(lambda _e, _d, _n: KladanaUnavailable("503"))
    settled = _settle(settling_processor(source, quick=0), _group(_raw(), _raw()))
    assert len(source.calls) == 1
    assert [s.outputs[0].topic for s in settled] == ["retry", "retry"]


def test_stopping_cuts_quick_retries_short_and_parks_the_event() -> None:
    source = RecordingSource(lambda _e, _d, _n: KladanaUnavailable("503"))
    [settled] = _settle(settling_processor(source, Waits(stopping=True)), _group(_raw()))
    assert len(source.calls) == 1
    assert settled.outputs[0].topic == "retry"


def test_the_round_count_grows_and_the_last_round_dead_letters() -> None:
    source = RecordingSource(lambda _e, _d, _n: KladanaUnavailable("Kladana answered 503"))
    second_round = parked_record(_raw(), attempt=1, due=NOW, reason="503")
    third_round = parked_record(_raw(), attempt=2, due=NOW, reason="503")
    processor = settling_processor(source, quick=0, attempts=3)
    [parked] = _settle(processor, _group(second_round))
    [given_up] = _settle(processor, _group(third_round))

    assert attempts_made(parked.outputs[0].record) == 2
    [letter] = given_up.outputs
    assert letter.topic == "dlq"
    headers = dict(letter.record.headers)
    assert headers["dlq.reason"] == b"gave up after 3 attempts: Kladana answered 503"
    assert headers["dlq.attempts"] == b"3"
    assert headers["dlq.error"] == b"KladanaUnavailable"
    assert not any(key.startswith("retry.") for key in headers)


def test_a_404_dead_letters_with_kladanas_answer_and_announces_the_document_unavailable() -> None:
    source = RecordingSource(lambda _e, document_id, _n: not_found(document_id))
    raw = _raw()
    [settled] = _settle(settling_processor(source), _group(raw))
    letter, unavailable = settled.outputs
    assert letter.topic == "dlq"
    assert letter.record.value == raw.value
    headers = dict(letter.record.headers)
    assert headers["dlq.status"] == b"404"
    assert headers["dlq.body"] == b'{"errors": [{"error": "not found", "code": 1021}]}'
    assert headers["dlq.error"] == b"DocumentNotFound"
    assert headers["dlq.origin"] == b"raw/0/0"
    assert b"Kladana answered 404" in headers["dlq.reason"]
    assert unavailable.topic == "enriched"
    envelope = _envelope(unavailable.record)
    assert envelope["type"] == DOCUMENT_UNAVAILABLE.type
    assert envelope["data"]["raw_event_id"] == json.loads(raw.value)["id"]  # type: ignore[index]


def test_a_rejected_request_dead_letters_at_once() -> None:
    error = KladanaRejected("Kladana answered 400")
    error.status = 400  # type: ignore[attr-defined]
    error.body = b"<html>bad</html>"  # type: ignore[attr-defined]
    source = RecordingSource(lambda _e, _d, _n: error)
    [settled] = _settle(settling_processor(source), _group(_raw()))
    assert len(source.calls) == 1
    [letter] = settled.outputs
    assert (letter.topic, dict(letter.record.headers)["dlq.status"]) == ("dlq", b"400")


def test_a_malformed_record_dead_letters_without_asking_kladana() -> None:
    source = RecordingSource()
    [settled] = _settle(settling_processor(source), _group(Record(key=b"x", value=b"not an event")))
    assert source.calls == []
    [letter] = settled.outputs
    assert letter.topic == "dlq"
    assert dict(letter.record.headers)["dlq.error"] == b"MalformedEvent"


def test_an_unexpected_error_dead_letters_instead_of_stalling() -> None:
    source = RecordingSource(lambda _e, _d, _n: KeyError("surprise"))
    [settled] = _settle(settling_processor(source), _group(_raw()))
    assert b"unexpected KeyError" in dict(settled.outputs[0].record.headers)["dlq.reason"]


def test_a_refused_token_settles_nothing_from_the_refused_event_on() -> None:
    source = RecordingSource(
        lambda _e, document_id, _n: KladanaAuthFailed("401") if document_id == OTHER else None
    )
    group = _group(_raw(), _raw(OTHER), _raw())
    settled: list[Settled | Held] = []
    with pytest.raises(KladanaAuthFailed):
        settled.extend(settling_processor(source).process(group, lambda: False))
    assert [s.polled.offset for s in settled] == [0]


def test_nothing_is_started_once_asked_to_stop() -> None:
    source = RecordingSource()
    assert list(settling_processor(source).process(_group(_raw(), _raw()), lambda: True)) == []
    assert source.calls == []


def test_an_event_breaking_its_schema_is_dead_lettered_never_published() -> None:
    # A type added to the type table but not to the published schema's enum.
    invoice = TransactionType("Invoice", "invoice", "Invoice")
    known = [TRANSACTION_TYPES.by_name(name) for name in TRANSACTION_TYPES.names]
    table = TypeTable((*(t for t in known if t is not None), invoice))
    raw = new_event(
        RAW_WEBHOOK,
        source="/kladana-pipeline/ingest",
        document_id=DOC,
        data={
            "document_id": DOC,
            "type": "Invoice",
            "entity": "invoice",
            "received_at": NOW.isoformat(),
            "method": "GET",
            "query": {"id": DOC, "type": "Invoice"},
        },
    )
    [settled] = _settle(settling_processor(RecordingSource(), types=table), _group(to_record(raw)))

    [letter] = settled.outputs
    assert letter.topic == "dlq"
    headers = dict(letter.record.headers)
    assert headers["dlq.error"] == b"ContractViolation"
    assert b"document/type" in headers["dlq.reason"]
