"""The consumer runtime against a real broker, with handlers that fail on purpose."""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from prometheus_client import CollectorRegistry

from shared.batch import Polled
from shared.consumer_service import open_runtime
from shared.errors import PermanentError, RetriableError
from shared.events import RAW_WEBHOOK, Record, event_data, from_record, new_event, to_record
from shared.health import Readiness
from shared.metrics import ConsumerMetrics
from shared.settling import Handled, RecordHandler
from tests.conftest import PipelineTopics, ReadTopic, fresh_topics
from tests.helpers import publish_records, quick_runtime_config, running_loop, wait_until

pytestmark = pytest.mark.broker


def _event(document_id: str, note: str) -> Record:
    return to_record(
        new_event(RAW_WEBHOOK, source="/test", document_id=document_id, data={"note": note})
    )


def _note(polled: Polled) -> str:
    note: str = event_data(from_record(polled.record), RAW_WEBHOOK)["note"]
    return note


class _Handler:
    """A handler made of a function on each record's note."""

    def __init__(self, handle: Callable[[str], None]) -> None:
        self._handle = handle

    def for_key(self) -> RecordHandler:
        def handle(polled: Polled) -> Handled:
            self._handle(_note(polled))
            return Handled()

        return handle


@contextmanager
def _running(
    bootstrap: str,
    topics: PipelineTopics,
    handle: Callable[[str], None],
    *,
    retry_topic: str | None = None,
    keys_in_flight: int = 4,
) -> Iterator[None]:
    stop = threading.Event()
    config = quick_runtime_config(
        bootstrap,
        group_id=topics.group_prefix,
        topic=topics.raw,
        dead_letter_topic=topics.dead_letter,
        retry_topic=retry_topic,
        keys_in_flight=keys_in_flight,
    )
    metrics = ConsumerMetrics(CollectorRegistry())
    with (
        open_runtime(
            config, lambda _publisher: _Handler(handle), stop, Readiness(), metrics=metrics
        ) as runtime,
        running_loop(runtime, stop),
    ):
        yield


def test_outcomes_success_retry_dead_letter_and_bug(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    read_topic: ReadTopic,
    committed_total: Callable[[str], int],
) -> None:
    handled: list[str] = []
    failures_left = {"flaky": 3}
    all_handled = threading.Event()

    def handle(note: str) -> None:
        if note == "flaky" and failures_left["flaky"] > 0:
            failures_left["flaky"] -= 1
            raise RetriableError("kladana is down", retry_after=0.01)
        if note == "bad":
            raise PermanentError("document is gone")
        if note == "bug":
            raise KeyError("sum")
        handled.append(note)
        if len(handled) == 3:
            all_handled.set()

    notes = ["ok-1", "flaky", "bad", "bug", "ok-2"]
    publish_records(kafka_bootstrap, topics.raw, [_event("doc-1", note) for note in notes])

    with _running(kafka_bootstrap, topics, handle):
        assert all_handled.wait(timeout=60)
        dead = read_topic(topics.dead_letter, count=2)

    # One document: its records keep their order, even across a hold (no retry topic) that
    # outlasted the quick retries.
    assert handled == ["ok-1", "flaky", "ok-2"]
    assert failures_left["flaky"] == 0
    reasons = sorted(letter.headers["dlq.reason"].decode() for letter in dead)
    assert reasons == ["document is gone", "unexpected KeyError: 'sum'"]
    assert {letter.headers["dlq.origin"].decode().split("/")[0] for letter in dead} == {topics.raw}
    assert all(letter.key == b"doc-1" for letter in dead)
    assert committed_total(topics.group_prefix) == len(notes)


def test_without_a_retry_topic_a_transient_failure_is_held_and_commits_nothing(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    read_topic: ReadTopic,
    committed_total: Callable[[str], int],
) -> None:
    attempts = threading.Semaphore(0)

    def handle(_note: str) -> None:
        attempts.release()
        raise RetriableError("still down")

    publish_records(kafka_bootstrap, topics.raw, [_event("doc-2", "never")])
    with _running(kafka_bootstrap, topics, handle):
        # Quick retries and several holds: more attempts than one round has.
        for _ in range(6):
            assert attempts.acquire(timeout=60)

    assert committed_total(topics.group_prefix) == 0
    assert read_topic(topics.dead_letter) == []


def test_with_a_retry_topic_failed_rounds_park_then_dead_letter(
    kafka_bootstrap: str, topics: PipelineTopics, read_topic: ReadTopic
) -> None:
    def handle(_note: str) -> None:
        raise RetriableError("still down")

    publish_records(kafka_bootstrap, topics.raw, [_event("doc-3", "never")])
    with _running(kafka_bootstrap, topics, handle, retry_topic=topics.retry):
        dead = read_topic(topics.dead_letter, count=1)
        parked = read_topic(topics.retry, count=1)

    assert dead[0].headers["dlq.attempts"] == b"2"
    assert dead[0].headers["dlq.reason"] == b"gave up after 2 attempts: still down"
    assert not any(name.startswith("retry.") for name in dead[0].headers)
    assert parked[0].headers["retry.attempt"] == b"1"


def test_records_that_are_not_events_are_dead_lettered(
    kafka_bootstrap: str, topics: PipelineTopics, read_topic: ReadTopic
) -> None:
    seen: list[str] = []
    good_seen = threading.Event()

    def handle(note: str) -> None:
        seen.append(note)
        good_seen.set()

    publish_records(
        kafka_bootstrap,
        topics.raw,
        [Record(key=b"doc-4", value=b"<html>oops</html>"), _event("doc-4", "good")],
    )
    with _running(kafka_bootstrap, topics, handle):
        assert good_seen.wait(timeout=60)
        dead = read_topic(topics.dead_letter, count=1)

    assert seen == ["good"]
    assert dead[0].value == b"<html>oops</html>"
    assert dead[0].headers["dlq.error"] == b"MalformedEvent"


def test_a_slow_document_does_not_hold_the_others_of_its_partition(
    kafka_bootstrap: str,
) -> None:
    """Several documents on one partition are handled at once: the slow one waits for the
    fast one, which could never finish first if documents were handled one at a time."""
    topics = fresh_topics(kafka_bootstrap, partitions=1)
    fast_done = threading.Event()
    slow_saw_fast: list[bool] = []

    def handle(note: str) -> None:
        if note == "slow":
            slow_saw_fast.append(fast_done.wait(timeout=30))
        else:
            fast_done.set()

    publish_records(
        kafka_bootstrap, topics.raw, [_event("doc-slow", "slow"), _event("doc-fast", "fast")]
    )
    with _running(kafka_bootstrap, topics, handle, keys_in_flight=2):
        assert fast_done.wait(timeout=60)
        assert wait_until(lambda: bool(slow_saw_fast))

    assert slow_saw_fast == [True]
