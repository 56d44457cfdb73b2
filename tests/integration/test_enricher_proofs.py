"""Issue 4's proofs: the real enricher loop (KladanaClient + RequestLimiter, default limits)
against the real broker and the sandbox served over HTTP, which enforces Kladana's limits.

A refused token against the sandbox is proven in test_enricher_loop.py
(``test_a_bad_token_halts_without_dead_lettering_or_committing``), a SIGKILL mid-batch in
test_enricher_restart.py.
"""

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pydantic import SecretStr

from devstack.http_server import BackgroundServer
from enricher.redrive import RedriveFilter, redrive
from enricher.settings import EnricherSettings, RedriveSettings
from enricher.wiring import enricher_loop
from sandbox.app import API_PREFIX
from sandbox.app import create_app as create_sandbox
from sandbox.faults import Faults
from sandbox.remote import SandboxControl
from shared.events import DOCUMENT_UNAVAILABLE, ENRICHED_DOCUMENT
from tests.conftest import KafkaRecordView, PipelineTopics, ReadTopic
from tests.enricher_fakes import raw_event
from tests.helpers import running_loop, wait_until
from tests.integration.test_enricher_batch import publish

pytestmark = pytest.mark.broker

TOKEN = "proof-token"


@contextmanager
def served_sandbox(**knobs: Any) -> Iterator[tuple[str, SandboxControl]]:
    """The sandbox on a real port, synthesizing documents: its API URL and its controls."""
    app = create_sandbox(token=TOKEN, faults=Faults(synthesize=True, **knobs))
    with BackgroundServer(app) as server:
        yield server.url + API_PREFIX, SandboxControl(server.url, TOKEN)


def settings_for(
    bootstrap: str, topics: PipelineTopics, api_url: str, **changes: Any
) -> EnricherSettings:
    """Kladana's default limits; only the retry delays are short, so tests take seconds."""
    values: dict[str, Any] = {
        **topics.settings(bootstrap),
        "kladana_api_url": api_url,
        "kladana_token": SecretStr(TOKEN),
        "enricher_group_id": f"{topics.group_prefix}-enricher",
        "enricher_retry_delay_s": 0.2,
        "enricher_retry_delay_cap_s": 1.0,
        **changes,
    }
    return EnricherSettings(**values)


@contextmanager
def running(settings: EnricherSettings) -> Iterator[None]:
    stop = threading.Event()
    with enricher_loop(settings, stop) as loop, running_loop(loop, stop):
        yield


def envelopes_of(records: list[KafkaRecordView], event_type: str) -> list[dict[str, Any]]:
    envelopes = [json.loads(record.value) for record in records]
    return [envelope for envelope in envelopes if envelope["type"] == event_type]


def enriched_raw_ids(records: list[KafkaRecordView]) -> set[str]:
    return {e["data"]["raw_event_id"] for e in envelopes_of(records, ENRICHED_DOCUMENT.type)}


def wait_for_enriched(read_topic: ReadTopic, topic: str, raw_ids: set[str]) -> set[str]:
    """The raw ids enriched once ``raw_ids`` all are (or after two minutes)."""
    found: set[str] = set()

    def all_enriched() -> bool:
        found.update(enriched_raw_ids(read_topic(topic)))
        if found >= raw_ids:
            return True
        time.sleep(0.5)  # each look opens a consumer: not twenty times a second
        return False

    wait_until(all_enriched, timeout_s=120)
    return found


# Alone: the sandbox's bucket judges each request by when it arrives, and the limiter
# spends Kladana's whole budget; another worker's load delaying some requests bunches
# them into a 429 that says nothing about the limiter.
@pytest.mark.alone
def test_a_burst_of_500_events_for_100_documents_is_enriched_without_one_429(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    read_topic: ReadTopic,
    record_property: Callable[[str, object], None],
) -> None:
    documents = [str(uuid.uuid4()) for _ in range(100)]
    # Five webhooks per document in a row, as Kladana sends them when a document is edited.
    raws = [raw_event(document) for document in documents for _ in range(5)]
    publish(kafka_bootstrap, topics.raw, raws)
    raw_ids = {raw.get_id() for raw in raws}

    with served_sandbox(latency_ms=20) as (api_url, control):
        started = time.monotonic()
        with running(settings_for(kafka_bootstrap, topics, api_url)):
            enriched = wait_for_enriched(read_topic, topics.enriched, raw_ids)
            took_s = time.monotonic() - started
        stats = control.stats()

    record_property("burst_seconds", round(took_s, 1))
    record_property("burst_api_calls", stats["requests"])
    print(f"\n500 events, 100 documents: {took_s:.1f} s, {stats['requests']} API calls")
    assert enriched >= raw_ids
    assert stats["rate_limited"] == {}, stats
    assert "429" not in stats["responses"], stats
    assert stats["max_parallel"] <= 5, stats
    assert set(stats["documents"]) == set(documents)
    assert stats["requests"] < len(raws)  # events of one document waiting together: one call
    assert read_topic(topics.dead_letter) == []


def test_injected_server_errors_and_timeouts_end_in_enriched_events_not_losses(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    read_topic: ReadTopic,
    caplog: pytest.LogCaptureFixture,
) -> None:
    raws = [raw_event(str(uuid.uuid4())) for _ in range(30)]
    publish(kafka_bootstrap, topics.raw, raws)
    raw_ids = {raw.get_id() for raw in raws}

    faults = {"error_rate": 0.25, "timeout_rate": 0.2, "hang_ms": 600, "seed": 4}
    with served_sandbox(**faults) as (api_url, control):
        settings = settings_for(kafka_bootstrap, topics, api_url, kladana_timeout_s=0.3)
        with caplog.at_level(logging.WARNING), running(settings):
            enriched = wait_for_enriched(read_topic, topics.enriched, raw_ids)
        stats = control.stats()

    assert enriched >= raw_ids
    assert read_topic(topics.dead_letter) == []
    # Both kinds of failure really happened, and were retried (in process or parked).
    reasons = [str(getattr(r, "reason", "")) for r in caplog.records]
    assert any("did not answer within 0.3s" in reason for reason in reasons)
    assert any("answered 500" in reason or "answered 503" in reason for reason in reasons)
    assert stats["responses"].get("500", 0) + stats["responses"].get("503", 0) > 0


def test_a_deleted_document_is_dead_lettered_then_redriven_once_it_is_back(
    kafka_bootstrap: str, topics: PipelineTopics, read_topic: ReadTopic
) -> None:
    gone, kept = str(uuid.uuid4()), str(uuid.uuid4())
    gone_raw, kept_raw = raw_event(gone), raw_event(kept)
    publish(kafka_bootstrap, topics.raw, [gone_raw, kept_raw])

    with served_sandbox() as (api_url, control):
        control.remove_document("customerorder", gone)
        settings = settings_for(kafka_bootstrap, topics, api_url)
        with running(settings):
            [letter] = read_topic(topics.dead_letter, count=1)
            first = read_topic(topics.enriched, count=2)

            control.restore_document("customerorder", gone)
            report = redrive(
                RedriveSettings(
                    **topics.settings(kafka_bootstrap),
                    enricher_group_id=settings.enricher_group_id,
                ),
                RedriveFilter(reason="404"),
                dry_run=False,
            )
            assert report.moved == 1
            enriched = wait_for_enriched(read_topic, topics.enriched, {gone_raw.get_id()})

    assert letter.key == gone.encode()
    assert letter.headers["dlq.status"] == b"404"
    reason = letter.headers["dlq.reason"].decode()
    assert f"Kladana answered 404 for customerorder/{gone}" in reason
    assert "(code 1021)" in reason
    assert b"1021" in letter.headers["dlq.body"]
    [unavailable] = envelopes_of(first, DOCUMENT_UNAVAILABLE.type)
    assert unavailable["data"]["raw_event_id"] == gone_raw.get_id()
    assert enriched == {gone_raw.get_id(), kept_raw.get_id()}
    replayed = [
        e
        for e in envelopes_of(read_topic(topics.enriched), ENRICHED_DOCUMENT.type)
        if e["data"]["raw_event_id"] == gone_raw.get_id()
    ]
    assert [e["data"]["document"]["id"] for e in replayed] == [gone]
    assert len(read_topic(topics.dead_letter)) == 1  # the replay did not fail again
