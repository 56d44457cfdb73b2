"""The consume-handle-commit loop against a real broker, with handlers that fail on purpose."""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from cloudevents.core.v1.event import CloudEvent

from shared.consumer_loop import ConsumerLoop, DeadLetterTarget, RetryPolicy
from shared.errors import PermanentError, RetriableError
from shared.events import RAW_WEBHOOK, Record, event_data, new_event, to_record
from shared.kafka import Publisher, create_consumer, create_producer
from tests.conftest import PipelineTopics, ReadTopic


def _publish(bootstrap: str, topic: str, records: list[Record]) -> None:
    publisher = Publisher(create_producer(bootstrap), ack_timeout_s=10)
    publisher.publish_all(topic, records)
    publisher.close()


def _event(document_id: str, note: str) -> Record:
    return to_record(
        new_event(RAW_WEBHOOK, source="/test", document_id=document_id, data={"note": note})
    )


@contextmanager
def _running_loop(
    bootstrap: str, topics: PipelineTopics, handler: Callable[[CloudEvent], None]
) -> Iterator[threading.Event]:
    stop = threading.Event()
    publisher = Publisher(create_producer(bootstrap), ack_timeout_s=10)
    loop = ConsumerLoop(
        create_consumer(bootstrap, group_id=topics.group_prefix, topic=topics.raw),
        handler,
        publisher,
        DeadLetterTarget(topics.dead_letter, topics.group_prefix),
        stop,
        retry=RetryPolicy(base_s=0.05, cap_s=0.2),
    )
    thread = threading.Thread(target=loop.run)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(timeout=30)
        publisher.close()
        assert not thread.is_alive()


def test_outcomes_success_retry_dead_letter_and_bug(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    read_topic: ReadTopic,
    committed_total: Callable[[str], int],
) -> None:
    handled: list[str] = []
    failures_left = {"flaky": 2}
    all_handled = threading.Event()

    def handler(event: CloudEvent) -> None:
        note = event.get_data()["note"]  # type: ignore[index]
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
    _publish(kafka_bootstrap, topics.raw, [_event("doc-1", note) for note in notes])

    with _running_loop(kafka_bootstrap, topics, handler):
        assert all_handled.wait(timeout=60)
        dead = read_topic(topics.dead_letter, count=2)

    # One document, one partition: order is kept even across the retries.
    assert handled == ["ok-1", "flaky", "ok-2"]
    assert failures_left["flaky"] == 0
    reasons = sorted(letter.headers["dlq.reason"].decode() for letter in dead)
    assert reasons == ["document is gone", "unexpected KeyError: 'sum'"]
    assert {letter.headers["dlq.origin"].decode().split("/")[0] for letter in dead} == {topics.raw}
    assert all(letter.key == b"doc-1" for letter in dead)
    assert committed_total(topics.group_prefix) == len(notes)


def test_retriable_failure_commits_nothing(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    read_topic: ReadTopic,
    committed_total: Callable[[str], int],
) -> None:
    attempts = threading.Semaphore(0)

    def handler(event: CloudEvent) -> None:
        attempts.release()
        raise RetriableError("still down")

    _publish(kafka_bootstrap, topics.raw, [_event("doc-2", "never")])
    with _running_loop(kafka_bootstrap, topics, handler):
        for _ in range(3):
            assert attempts.acquire(timeout=60)

    assert committed_total(topics.group_prefix) == 0
    assert read_topic(topics.dead_letter) == []


def test_records_that_are_not_events_are_dead_lettered(
    kafka_bootstrap: str, topics: PipelineTopics, read_topic: ReadTopic
) -> None:
    seen: list[str] = []
    good_seen = threading.Event()

    def handler(event: CloudEvent) -> None:
        seen.append(event_data(event, RAW_WEBHOOK)["note"])
        good_seen.set()

    _publish(
        kafka_bootstrap,
        topics.raw,
        [Record(key=b"doc-3", value=b"<html>oops</html>"), _event("doc-3", "good")],
    )
    with _running_loop(kafka_bootstrap, topics, handler):
        assert good_seen.wait(timeout=60)
        dead = read_topic(topics.dead_letter, count=1)

    assert seen == ["good"]
    assert dead[0].value == b"<html>oops</html>"
    assert dead[0].headers["dlq.error"] == b"MalformedEvent"
