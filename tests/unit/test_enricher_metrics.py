"""The enricher's counters move on its handling paths; its log lines carry the event's ids."""

import logging
from collections.abc import Iterator

import pytest
import requests
from kafka.structs import TopicPartition
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from devstack.broker import free_port
from devstack.http_server import BackgroundServer
from enricher.errors import KladanaUnavailable
from enricher.handlers import enriched_event_id
from enricher.kladana import KladanaClient
from enricher.limiter import RequestLimiter
from enricher.metrics import EnricherMetrics
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
from tests.unit.test_enricher_kladana import ScriptedKladana, _gzip_json


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


@pytest.fixture
def scripted() -> Iterator[tuple[ScriptedKladana, str]]:
    script = ScriptedKladana()
    with BackgroundServer(script.app()) as server:
        yield script, server.url


def _client(session: requests.Session, url: str, registry: CollectorRegistry) -> KladanaClient:
    return KladanaClient(
        session,
        f"{url}/api/remap/1.2",
        SecretStr("t0k3n"),
        5.0,
        limiter=RequestLimiter(),
        metrics=EnricherMetrics.on(registry).kladana,
    )


def test_kladana_calls_are_counted_by_status_class_and_429s_by_code(
    scripted: tuple[ScriptedKladana, str], registry: CollectorRegistry
) -> None:
    script, url = scripted
    with requests.Session() as session:
        client = _client(session, url, registry)
        client.fetch_document("customerorder", "a")
        script.status = 429
        # A tiny retry-after, so the limiter's pause does not slow the test down.
        script.body, headers = _gzip_json({"errors": [{"error": "Too many", "code": 1073}]})
        script.headers = {**headers, "X-Lognex-Retry-After": "1"}
        with pytest.raises(KladanaUnavailable):
            client.fetch_document("customerorder", "b")
        script.body, script.headers = b"", {"X-Lognex-Retry-After": "1"}
        with pytest.raises(KladanaUnavailable):
            client.fetch_document("customerorder", "c")
        script.status = 503
        with pytest.raises(KladanaUnavailable):
            client.fetch_document("customerorder", "d")

    classes = {
        c: _value(registry, "kladana_requests_total", status_class=c) for c in ("2xx", "4xx", "5xx")
    }
    assert classes == {"2xx": 1, "4xx": 2, "5xx": 1}
    assert _value(registry, "kladana_rate_limited_total", code="1073") == 1
    assert _value(registry, "kladana_rate_limited_total", code="none") == 1
    assert _value(registry, "kladana_request_seconds_count") == 4


def test_an_unreachable_kladana_is_counted_as_such(registry: CollectorRegistry) -> None:
    with requests.Session() as session:
        client = _client(session, f"http://127.0.0.1:{free_port()}", registry)
        with pytest.raises(KladanaUnavailable):
            client.fetch_document("customerorder", "a")
    assert _value(registry, "kladana_requests_total", status_class="unreachable") == 1
    assert _value(registry, "kladana_requests_total", status_class="2xx") == 0
