"""The enricher's batch loop against the real broker, with a Kladana fake that records calls."""

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from cloudevents.core.v1.event import CloudEvent
from pydantic import SecretStr

from enricher.errors import KladanaAuthFailed, KladanaUnavailable
from enricher.settings import EnricherSettings
from enricher.wiring import open_enricher_runtime
from ingest.native import native_webhook
from shared.contracts import validate_headers
from shared.events import DOCUMENT_DELETED, DOCUMENT_UNAVAILABLE, ENRICHED_DOCUMENT, to_record
from shared.health import Readiness
from shared.kladana_types import TRANSACTION_TYPES
from tests.conftest import KafkaRecordView, PipelineTopics, ReadTopic
from tests.enricher_fakes import RecordingSource, not_found, raw_event
from tests.helpers import publish_records, running_loop, wait_until

pytestmark = pytest.mark.broker

CommittedTotal = Callable[[str], int]


def settings_for(bootstrap: str, topics: PipelineTopics, **changes: Any) -> EnricherSettings:
    values: dict[str, Any] = {
        **topics.settings(bootstrap),
        "kladana_api_url": "http://127.0.0.1:9/unused",
        "kladana_token": SecretStr("unused"),
        "enricher_group_id": f"{topics.group_prefix}-enricher",
        "enricher_retry_delay_s": 0.2,
        "enricher_retry_delay_cap_s": 1.0,
        **changes,
    }
    return EnricherSettings(**values)


@contextmanager
def running(
    settings: EnricherSettings, source: RecordingSource, readiness: Readiness | None = None
) -> Iterator[threading.Event]:
    stop = threading.Event()
    with (
        open_enricher_runtime(settings, source, stop, readiness or Readiness()) as loop,
        running_loop(loop, stop),
    ):
        yield stop


def publish(bootstrap: str, topic: str, events: list[CloudEvent]) -> None:
    publish_records(bootstrap, topic, [to_record(event) for event in events])


def by_type(records: list[KafkaRecordView], event_type: str) -> list[dict[str, Any]]:
    envelopes = [json.loads(record.value) for record in records]
    return [envelope for envelope in envelopes if envelope["type"] == event_type]


def raw_ids(envelopes: list[dict[str, Any]]) -> list[str]:
    return [envelope["data"]["raw_event_id"] for envelope in envelopes]


def test_events_of_one_document_waiting_together_cost_one_call_each_gets_its_event(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    read_topic: ReadTopic,
    committed_total: CommittedTotal,
) -> None:
    raws = [raw_event("doc-a") for _ in range(4)] + [raw_event("doc-b")]
    publish(kafka_bootstrap, topics.raw, raws)
    source = RecordingSource()
    settings = settings_for(kafka_bootstrap, topics)
    with running(settings, source):
        enriched = read_topic(topics.enriched, count=5)
        assert wait_until(lambda: committed_total(settings.enricher_group_id) == 5)

    assert sorted(raw_ids(by_type(enriched, ENRICHED_DOCUMENT.type))) == sorted(
        raw.get_id() for raw in raws
    )
    assert (source.calls_for("doc-a"), source.calls_for("doc-b")) == (1, 1)


def test_documents_run_concurrently_up_to_the_cap_and_each_keeps_its_order(
    kafka_bootstrap: str, topics: PipelineTopics, read_topic: ReadTopic
) -> None:
    # Alternating types make every event of a document a call of its own.
    documents = [f"doc-{n}" for n in range(6)]
    raws = [
        raw_event(document, type_name)
        for type_name in ("CustomerOrder", "InvoiceOut", "Demand")
        for document in documents
    ]
    publish(kafka_bootstrap, topics.raw, raws)
    source = RecordingSource(delay_s=0.2)
    with running(settings_for(kafka_bootstrap, topics, kladana_max_parallel=3), source):
        enriched = read_topic(topics.enriched, count=len(raws))

    assert 2 <= source.most_in_flight <= 3
    for document in documents:
        published = [
            e for e in by_type(enriched, ENRICHED_DOCUMENT.type) if e["subject"] == document
        ]
        expected = [raw.get_id() for raw in raws if raw.get_subject() == document]
        assert raw_ids(published) == expected
        called = [entity for entity, called_id, _ in source.calls if called_id == document]
        assert called == ["customerorder", "invoiceout", "demand"]


def test_a_transient_failure_parks_on_the_retry_topic_until_due_then_is_enriched(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    read_topic: ReadTopic,
    committed_total: CommittedTotal,
) -> None:
    raws = [raw_event("flaky"), raw_event("steady")]
    publish(kafka_bootstrap, topics.raw, raws)
    source = RecordingSource(
        lambda _e, document_id, n: (
            KladanaUnavailable("Kladana answered 503", retry_after=1.0)
            if document_id == "flaky" and n == 1
            else None
        )
    )
    settings = settings_for(kafka_bootstrap, topics, enricher_quick_retries=0)
    with running(settings, source):
        enriched = read_topic(topics.enriched, count=2)
        [parked] = read_topic(topics.retry, count=1)
        # One raw record and one retry record per event that went that way.
        assert wait_until(lambda: committed_total(settings.enricher_group_id) == 3)

    assert sorted(raw_ids(by_type(enriched, ENRICHED_DOCUMENT.type))) == sorted(
        raw.get_id() for raw in raws
    )
    assert parked.headers["retry.attempt"] == b"1"
    validate_headers("retry-headers.v1", list(parked.headers.items()))
    not_before = datetime.fromisoformat(parked.headers["retry.not_before"].decode())
    second_call = [at for _, document_id, at in source.calls if document_id == "flaky"][1]
    assert second_call >= not_before.timestamp()
    assert read_topic(topics.dead_letter) == []


def test_when_the_retry_budget_is_spent_the_event_is_dead_lettered(
    kafka_bootstrap: str, topics: PipelineTopics, read_topic: ReadTopic
) -> None:
    raw = raw_event("down")
    publish(kafka_bootstrap, topics.raw, [raw])
    source = RecordingSource(lambda _e, _d, _n: KladanaUnavailable("Kladana answered 502"))
    settings = settings_for(
        kafka_bootstrap, topics, enricher_quick_retries=1, enricher_max_attempts=3
    )
    with running(settings, source):
        [letter] = read_topic(topics.dead_letter, count=1)

    assert source.calls_for("down") == 6  # 3 rounds of 1 call + 1 quick retry
    assert letter.value == to_record(raw).value
    assert letter.headers["dlq.attempts"] == b"3"
    validate_headers("dead-letter-headers.v1", list(letter.headers.items()))
    assert letter.headers["dlq.reason"].startswith(b"gave up after 3 attempts")
    assert not [name for name in letter.headers if name.startswith("retry.")]
    assert read_topic(topics.enriched) == []
    assert len(read_topic(topics.retry)) == 2


def test_a_404_is_dead_lettered_with_kladanas_answer_and_announced_unavailable(
    kafka_bootstrap: str, topics: PipelineTopics, read_topic: ReadTopic
) -> None:
    gone, present = raw_event("gone"), raw_event("present")
    publish(kafka_bootstrap, topics.raw, [gone, present])
    source = RecordingSource(
        lambda _e, document_id, _n: not_found(document_id) if document_id == "gone" else None
    )
    with running(settings_for(kafka_bootstrap, topics), source):
        [letter] = read_topic(topics.dead_letter, count=1)
        enriched = read_topic(topics.enriched, count=2)

    assert letter.value == to_record(gone).value
    assert letter.headers["dlq.status"] == b"404"
    assert b'"code": 1021' in letter.headers["dlq.body"]
    assert letter.headers["dlq.error"] == b"DocumentNotFound"
    validate_headers("dead-letter-headers.v1", list(letter.headers.items()))
    assert raw_ids(by_type(enriched, DOCUMENT_UNAVAILABLE.type)) == [gone.get_id()]
    assert raw_ids(by_type(enriched, ENRICHED_DOCUMENT.type)) == [present.get_id()]


def test_a_refused_token_halts_once_commits_and_dead_letters_nothing_then_resumes(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    read_topic: ReadTopic,
    committed_total: CommittedTotal,
    caplog: pytest.LogCaptureFixture,
) -> None:
    raws = [raw_event(f"doc-{n}") for n in range(4)]
    publish(kafka_bootstrap, topics.raw, raws)
    token_fixed = threading.Event()
    source = RecordingSource(
        lambda _e, _d, _n: (
            None if token_fixed.is_set() else KladanaAuthFailed("Kladana answered 401")
        )
    )
    readiness = Readiness()
    settings = settings_for(kafka_bootstrap, topics, enricher_auth_recheck_s=0.3)
    with caplog.at_level(logging.INFO), running(settings, source, readiness):
        assert wait_until(lambda: readiness.reason is not None and "401" in readiness.reason)
        calls_at_halt = len(source.calls)
        assert wait_until(lambda: len(source.calls) > calls_at_halt)  # it probes again
        assert committed_total(settings.enricher_group_id) == 0
        assert read_topic(topics.dead_letter) == []
        assert read_topic(topics.retry) == []
        assert read_topic(topics.enriched) == []
        assert readiness.reason is not None

        token_fixed.set()
        enriched = read_topic(topics.enriched, count=4)
        assert wait_until(lambda: committed_total(settings.enricher_group_id) == 4)
        assert wait_until(lambda: readiness.reason is None)

    assert sorted(raw_ids(by_type(enriched, ENRICHED_DOCUMENT.type))) == sorted(
        raw.get_id() for raw in raws
    )
    refusals = [
        r
        for r in caplog.records
        if r.getMessage().startswith("consuming halted on a configuration error")
    ]
    assert len(refusals) == 1


def test_a_native_delete_becomes_a_document_deleted_event_without_asking_kladana(
    kafka_bootstrap: str, topics: PipelineTopics, read_topic: ReadTopic
) -> None:
    """The raw events as ingest makes them from a native delivery (one UPDATE, one DELETE),
    through the real broker: the UPDATE is fetched and enriched, the DELETE is not fetched
    and announced as deleted."""
    api = "https://api.kladana.com/api/remap/1.2/entity"
    body = {
        "auditContext": {"moment": "2024-06-10 15:27:00", "uid": "admin@example"},
        "events": [
            {
                "meta": {"type": "customerorder", "href": f"{api}/customerorder/doc-kept"},
                "action": "UPDATE",
                "accountId": "acc-1",
            },
            {
                "meta": {"type": "customerorder", "href": f"{api}/customerorder/doc-gone"},
                "action": "DELETE",
                "accountId": "acc-1",
            },
        ],
    }
    received = datetime(2024, 6, 10, 12, 27, tzinfo=UTC)
    delivery = native_webhook(
        json.dumps(body).encode(), {"requestId": ["req-1"]}, received, TRANSACTION_TYPES
    )
    publish(kafka_bootstrap, topics.raw, list(delivery.events))
    source = RecordingSource()
    with running(settings_for(kafka_bootstrap, topics), source):
        answered = read_topic(topics.enriched, count=2)

    assert [(entity, document) for entity, document, _ in source.calls] == [
        ("customerorder", "doc-kept")
    ]
    [deleted] = by_type(answered, DOCUMENT_DELETED.type)
    assert deleted["subject"] == "doc-gone"
    assert deleted["data"] == {
        "raw_event_id": delivery.events[1].get_id(),
        "document_id": "doc-gone",
        "type": "CustomerOrder",
        "entity": "customerorder",
        "received_at": "2024-06-10T12:27:00Z",
        "account_id": "acc-1",
        "audit_moment": "2024-06-10 15:27:00",
        "audit_uid": "admin@example",
    }
    assert [e["subject"] for e in by_type(answered, ENRICHED_DOCUMENT.type)] == ["doc-kept"]
    assert read_topic(topics.dead_letter) == []
