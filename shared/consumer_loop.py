"""The consume-handle-commit loop both consumers (enricher, notifier) run.

For each record, in partition order:
- the handler succeeds: the offset is committed (the handler returns only after its
  output was acknowledged, so a commit never runs ahead of the output);
- the handler raises a retriable error: the partition is rewound to that record and
  tried again after a backoff, nothing is committed, other partitions keep flowing;
- it raises a permanent error (or an unexpected one): the record goes to the dead-letter
  topic with the reason in its headers, then the offset is committed.
"""

import logging
import random
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from cloudevents.core.v1.event import CloudEvent
from kafka import KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from shared.backoff import backoff_delay
from shared.errors import PipelineError
from shared.events import Record, from_record
from shared.kafka import Publisher, create_consumer, create_producer
from shared.lifecycle import stop_on_signals
from shared.logs import event_context
from shared.metrics import ConsumerMetrics, LagSampler, default_consumer_metrics
from shared.settings import ConsumerSettings

log = logging.getLogger(__name__)

Handler = Callable[[CloudEvent], None]


@dataclass(frozen=True)
class RetryPolicy:
    base_s: float = 0.5
    cap_s: float = 30.0


@dataclass(frozen=True)
class DeadLetterTarget:
    topic: str
    group_id: str


def dead_letter_record(
    record: Record, *, reason: str, error: BaseException, origin: str, group_id: str
) -> Record:
    """The original record with the reason and its origin added as ``dlq.*`` headers."""
    headers = (
        *record.headers,
        ("dlq.reason", reason.encode()),
        ("dlq.error", type(error).__name__.encode()),
        ("dlq.origin", origin.encode()),
        ("dlq.group", group_id.encode()),
        ("dlq.time", datetime.now(UTC).isoformat().encode()),
    )
    return Record(key=record.key, value=record.value, headers=headers)


class ConsumerLoop:
    """Runs ``handler`` on every record of the consumer's assignment until ``stop`` is set."""

    def __init__(
        self,
        consumer: KafkaConsumer,
        handler: Handler,
        publisher: Publisher,
        dead_letters: DeadLetterTarget,
        stop: threading.Event,
        *,
        retry: RetryPolicy = RetryPolicy(),
        jitter: Callable[[], float] = random.random,
        metrics: ConsumerMetrics | None = None,
    ) -> None:
        self._consumer = consumer
        self._handler = handler
        self._publisher = publisher
        self._dead_letters = dead_letters
        self._stop = stop
        self._retry = retry
        self._jitter = jitter
        self._attempts: dict[tuple[TopicPartition, int], int] = {}
        self._metrics = metrics or default_consumer_metrics()
        self._lag = LagSampler(self._metrics.lag)

    def run(self) -> None:
        try:
            while not self._stop.is_set():
                self._lag.sample(self._consumer)
                batches = self._consumer.poll(timeout_ms=500)
                for partition, records in batches.items():
                    self._consume_partition(partition, records)
        finally:
            self._consumer.close()  # leaves the group so others take over at once

    def _consume_partition(self, partition: TopicPartition, records: list[object]) -> None:
        for message in records:
            if self._stop.is_set():
                return  # uncommitted records are delivered again to whoever owns them next
            offset: int = message.offset  # type: ignore[attr-defined]
            record = Record(
                key=message.key,  # type: ignore[attr-defined]
                value=message.value,  # type: ignore[attr-defined]
                headers=tuple(message.headers or ()),  # type: ignore[attr-defined]
            )
            origin = f"{partition.topic}/{partition.partition}/{offset}"
            self._metrics.events_in.labels(partition.topic).inc()
            with (
                event_context(document_id=record.document_id) as log_fields,
                self._metrics.processing_seconds.time(),
            ):
                delay = self._process(record, origin, (partition, offset), log_fields)
            if delay is not None:
                self._consumer.seek(partition, offset)
                self._stop.wait(delay)
                return
            self._commit(partition, offset)

    def _process(
        self,
        record: Record,
        origin: str,
        position: tuple[TopicPartition, int],
        log_fields: dict[str, str],
    ) -> float | None:
        """Handle one record; the backoff in seconds when it must be tried again, else None."""
        try:
            event = from_record(record)
            log_fields["event_id"] = event.get_id()
            self._handler(event)
        except PipelineError as error:
            if error.retriable:
                return self._schedule_retry(position, error, origin)
            return self._dead_letter(record, origin, position, error, str(error))
        except Exception as error:
            # A handler bug on odd input must not stall every event behind it.
            log.error(
                "handler failed unexpectedly",
                extra={"origin": origin, "traceback": traceback.format_exc()},
            )
            return self._dead_letter(
                record, origin, position, error, f"unexpected {type(error).__name__}: {error}"
            )
        self._attempts.pop(position, None)
        self._metrics.events_out.labels("handled").inc()
        return None

    def _schedule_retry(
        self, position: tuple[TopicPartition, int], error: PipelineError, origin: str
    ) -> float:
        self._metrics.failed(error)
        attempt = self._attempts.get(position, 0) + 1
        self._attempts[position] = attempt
        delay = backoff_delay(
            attempt,
            base=self._retry.base_s,
            cap=self._retry.cap_s,
            jitter_draw=self._jitter(),
            floor=getattr(error, "retry_after", None) or 0.0,
        )
        log.warning(
            "retrying after a transient error",
            extra={"origin": origin, "attempt": attempt, "delay_s": delay, "reason": str(error)},
        )
        return delay

    def _dead_letter(
        self,
        record: Record,
        origin: str,
        position: tuple[TopicPartition, int],
        error: BaseException,
        reason: str,
    ) -> float | None:
        letter = dead_letter_record(
            record, reason=reason, error=error, origin=origin, group_id=self._dead_letters.group_id
        )
        try:
            self._publisher.publish(self._dead_letters.topic, letter)
        except PipelineError as publish_error:
            return self._schedule_retry(position, publish_error, origin)
        log.error("dead-lettered", extra={"origin": origin, "reason": reason})
        self._metrics.failed(error)
        self._metrics.events_out.labels("dead_lettered").inc()
        self._attempts.pop(position, None)
        return None

    def _commit(self, partition: TopicPartition, offset: int) -> None:
        commit_positions(self._consumer, {partition: offset + 1})


def commit_positions(consumer: KafkaConsumer, positions: dict[TopicPartition, int]) -> None:
    """Commit, per partition, the offset of the next record to read; log a failure."""
    if not positions:
        return
    try:
        consumer.commit(
            {
                partition: OffsetAndMetadata(offset, "", -1)
                for partition, offset in positions.items()
            }
        )
    except KafkaError as error:
        # Typically a rebalance took a partition away; its new owner will see the
        # records again (at-least-once), which the consumers tolerate.
        log.warning("commit failed", extra={"positions": str(positions), "reason": str(error)})


PUBLISH_ACK_TIMEOUT_S = 10.0


@contextmanager
def open_consumer_loop(
    settings: ConsumerSettings,
    *,
    group_id: str,
    topic: str,
    make_handler: Callable[[Publisher], Handler],
    stop: threading.Event,
) -> Iterator[ConsumerLoop]:
    """A loop ready to ``run()`` on ``topic`` as member of ``group_id`` until ``stop`` is set.

    ``make_handler`` receives the loop's publisher, for handlers that publish their
    output. The producer is closed on exit; the loop closes its consumer itself.
    """
    publisher = Publisher(
        create_producer(settings.kafka_bootstrap_servers), ack_timeout_s=PUBLISH_ACK_TIMEOUT_S
    )
    try:
        consumer = create_consumer(settings.kafka_bootstrap_servers, group_id=group_id, topic=topic)
        yield ConsumerLoop(
            consumer,
            make_handler(publisher),
            publisher,
            DeadLetterTarget(settings.dead_letter_topic, group_id),
            stop,
            retry=RetryPolicy(settings.retry_backoff_base_s, settings.retry_backoff_cap_s),
        )
    finally:
        publisher.close()


class RunnableLoop(Protocol):
    def run(self) -> None: ...


def run_until_signalled(
    service: str,
    bootstrap_servers: str,
    open_loop: Callable[[threading.Event], AbstractContextManager[RunnableLoop]],
    details: dict[str, Any],
    *,
    shutdown_timeout_s: float,
) -> None:
    """A consumer service's ``main``: run until SIGTERM or SIGINT, then return (exit 0).

    After the signal the loop finishes, publishes and commits the records in hand and
    leaves the group; if that outlasts ``shutdown_timeout_s`` the process exits with
    :data:`~shared.lifecycle.SHUTDOWN_TIMED_OUT` instead. A broker that cannot be reached
    at all ends the process with a one-line message (no traceback) and a non-zero status,
    for the supervisor to restart it.
    """
    stop = stop_on_signals(shutdown_timeout_s)
    try:
        with open_loop(stop) as loop:
            log.info(f"{service} started", extra=details)
            loop.run()
    except KafkaError as error:
        sys.exit(f"{service}: Kafka at {bootstrap_servers} failed: {type(error).__name__}")
    log.info(f"{service} stopped")
