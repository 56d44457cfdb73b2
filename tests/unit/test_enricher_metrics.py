"""The enricher's counters move on its handling paths; its log lines carry the event's ids.

The Kladana client's counters need an HTTP server: tests/integration/test_enricher_kladana.py.
"""

import logging

import pytest
from kafka.structs import TopicPartition
from prometheus_client import CollectorRegistry

from enricher.errors import KladanaUnavailable
from enricher.handlers import enriched_event_id
from shared.batch import Polled
from shared.events import Record, to_record
from shared.logs import EventContextFilter
from tests.enricher_fakes import (
    RecordingSource,
    SettlingProcessor,
    not_found,
    raw_event,
    settling_processor,
)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def _settle(processor: SettlingProcessor, *records: Record) -> None:
    group = [Polled(TopicPartition("raw", 0), offset, r) for offset, r in enumerate(records)]
    list(processor.process(group, lambda: False))


def _processor(source: RecordingSource, registry: CollectorRegistry) -> SettlingProcessor:
    return settling_processor(source, quick=0, registry=registry)


def test_events_are_counted_in_and_out_by_outcome_with_failures_and_saved_fetches(
    registry: CollectorRegistry,
) -> None:
    source = RecordingSource(
        lambda _e, document, _n: not_found(document) if document == "gone" else None
    )
    raws = [to_record(raw_event("doc-1")) for _ in range(3)]
    malformed = Record(b"doc-2", b"not json")
    _settle(_processor(source, registry), *raws, to_record(raw_event("gone")), malformed)

    assert _value(registry, "consumer_events_in_total", topic="raw") == 5
    outcomes = {
        outcome: _value(registry, "consumer_events_out_total", outcome=outcome)
        for outcome in ("enriched", "unavailable", "parked", "dead_lettered")
    }
    assert outcomes == {"enriched": 3, "unavailable": 1, "parked": 0, "dead_lettered": 1}
    assert _value(registry, "consumer_events_failed_total", reason="DocumentNotFound") == 1
    assert _value(registry, "consumer_events_failed_total", reason="MalformedEvent") == 1
    # Three events of doc-1, one fetch: two calls saved.
    assert _value(registry, "kladana_fetches_saved_total") == 2
    assert _value(registry, "consumer_processing_seconds_count") == 5


def test_a_parked_event_counts_as_parked_and_failed_by_its_reason(
    registry: CollectorRegistry,
) -> None:
    source = RecordingSource(lambda _e, _d, _n: KladanaUnavailable("Kladana answered 503"))
    _settle(_processor(source, registry), to_record(raw_event("doc-1")))
    assert _value(registry, "consumer_events_out_total", outcome="parked") == 1
    assert _value(registry, "consumer_events_failed_total", reason="KladanaUnavailable") == 1


def test_the_enriched_log_line_carries_the_raw_and_the_enriched_event_ids(
    registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(EventContextFilter())
    raw = raw_event("doc-1")
    with caplog.at_level(logging.INFO, logger="enricher.document_handler"):
        _settle(_processor(RecordingSource(), registry), to_record(raw))
    [line] = [r for r in caplog.records if r.getMessage() == "enriched"]
    assert (line.event_id, line.raw_event_id, line.document_id) == (  # type: ignore[attr-defined]
        raw.get_id(),
        raw.get_id(),
        "doc-1",
    )
    assert line.enriched_event_id == enriched_event_id(raw.get_id())  # type: ignore[attr-defined]


def test_a_dead_letter_log_line_carries_the_document_id_even_for_garbage(
    registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(EventContextFilter())
    _settle(_processor(RecordingSource(), registry), Record(b"doc-9", b"not json"))
    [line] = [r for r in caplog.records if r.getMessage() == "dead-lettered"]
    assert line.document_id == "doc-9"  # type: ignore[attr-defined]
