"""The one consumer runtime both consumers (enricher, notifier) run: poll a batch, settle its
keys concurrently, publish, commit only what is acknowledged.

Per batch: records are grouped by key (the document id); each group runs on the thread
pool, its records strictly in order, while different keys run side by side (as many as
the pool has threads). A record's outputs are sent as soon as they are known; then the
runtime waits for every acknowledgement, commits per partition up to the first record
that is not settled and acknowledged, and rewinds to that record so it is read again.

How a failure is settled is :mod:`shared.settling`'s business. What the runtime adds:

- retry-topic records wait for their not-before time, and held records for their
  backoff, by pausing their partition (and seeking back to them) rather than sleeping,
  so other partitions keep flowing;
- a :class:`~shared.errors.ConfigurationError` (a refused token) halts consumption: see
  :meth:`ConsumerRuntime._halt`;
- readiness, lag, and on ``stop`` a clean drain: the records in hand are finished and
  committed and the group is left, within the shutdown watchdog's bound
  (``shared.consumer_service.run_until_signalled``).
"""

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from kafka import KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from shared.batch import OffsetTracker, Polled, group_by_key
from shared.errors import BrokerUnavailable, ConfigurationError
from shared.events import Record
from shared.kafka import PendingAck, Publisher
from shared.metrics import ConsumerMetrics, LagSampler, default_consumer_metrics
from shared.retry_topic import RetryPolicy, split_due
from shared.settling import Handler, Held, Settled, Settler

log = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 500


class ReportsReadiness(Protocol):
    """Where the runtime says whether it consumes (``shared.health.Readiness``, or a
    service's own that combines it with more)."""

    def ready(self) -> None: ...

    def not_ready(self, reason: str) -> None: ...


@dataclass
class _Sent:
    settled: Settled
    acks: list[PendingAck] | None
    """None when the broker did not even take the records: they are sent again."""


@dataclass
class _GroupResult:
    sent: list[_Sent]
    held: Held | None = None
    refused: ConfigurationError | None = None


class ConsumerRuntime:
    """Runs until ``stop`` is set; then finishes the records in hand, commits, leaves the group."""

    def __init__(
        self,
        consumer: KafkaConsumer,
        handler: Handler,
        settler: Settler,
        publisher: Publisher,
        pool: Executor,
        readiness: ReportsReadiness,
        stop: threading.Event,
        *,
        policy: RetryPolicy,
        halt_recheck_s: float,
        jitter: Callable[[], float] = random.random,
        metrics: ConsumerMetrics | None = None,
    ) -> None:
        self._consumer = consumer
        self._handler = handler
        self._settler = settler
        self._publisher = publisher
        self._pool = pool
        self._readiness = readiness
        self._stop = stop
        self._policy = policy
        self._halt_recheck_s = halt_recheck_s
        self._jitter = jitter
        self._waiting: dict[TopicPartition, datetime] = {}
        """Partitions paused until a parked record is due or a held record's backoff ends."""
        self._held_rounds: dict[tuple[TopicPartition, int], int] = {}
        self._halted_at: float | None = None
        self._misconfigured = False
        self._lag = LagSampler((metrics or default_consumer_metrics()).lag)

    def run(self) -> None:
        self._readiness.ready()
        try:
            while not self._stop.is_set():
                self._lag.sample(self._consumer)
                self._pause_or_resume()
                batch = self._due(self._consumer.poll(timeout_ms=POLL_TIMEOUT_MS))
                if batch:
                    self._settle(batch)
        finally:
            self._readiness.not_ready("stopped")
            self._consumer.close()  # leaves the group so others take over at once

    def _pause_or_resume(self) -> None:
        assigned = self._consumer.assignment()
        if self._halted_at is not None:
            recheck_due = time.monotonic() - self._halted_at >= self._halt_recheck_s
            if self._halt_recheck_s <= 0 or not recheck_due:
                # Pause again every round: a rebalance hands partitions over unpaused.
                self._consumer.pause(*assigned)
                return
            log.info("trying again after a configuration error")
            self._halted_at = None
            self._consumer.resume(*(assigned - set(self._waiting)))
        now = datetime.now(UTC)
        for partition, due in list(self._waiting.items()):
            if partition not in assigned or due <= now:
                del self._waiting[partition]
                if partition in assigned:
                    self._consumer.resume(partition)

    def _due(self, polled: dict[TopicPartition, list[Any]]) -> list[Polled]:
        """The polled records that may be processed now; parks retry records not yet due."""
        now = datetime.now(UTC)
        batch: list[Polled] = []
        for partition, messages in polled.items():
            records = [
                Polled(
                    partition,
                    message.offset,
                    Record(message.key, message.value, tuple(message.headers or ())),
                )
                for message in messages
            ]
            if partition.topic == self._policy.retry_topic:
                records, waiting = split_due(records, now)
                if waiting is not None:
                    first_waiting, due = waiting
                    self._wait_at(first_waiting, due)
            batch.extend(records)
        return batch

    def _wait_at(self, polled: Polled, due: datetime) -> None:
        self._consumer.seek(polled.partition, polled.offset)
        self._pause_until(polled.partition, due)

    def _pause_until(self, partition: TopicPartition, due: datetime) -> None:
        self._consumer.pause(partition)
        self._waiting[partition] = max(due, self._waiting.get(partition, due))

    def _settle(self, batch: list[Polled]) -> None:
        tracker = OffsetTracker(batch)
        halting = threading.Event()

        def should_stop() -> bool:
            return self._stop.is_set() or halting.is_set()

        futures = [
            self._pool.submit(self._run_group, group, should_stop, halting)
            for group in group_by_key(batch)
        ]
        refused: ConfigurationError | None = None
        holds: list[Held] = []
        for future in futures:
            result = future.result()
            refused = refused or result.refused
            if result.held is not None:
                holds.append(result.held)
            for item in result.sent:
                if self._confirm(item):
                    tracker.mark_done(item.settled.polled)
                    self._held_rounds.pop(_position(item.settled.polled), None)
        commit_positions(self._consumer, tracker.committable())
        assigned = self._consumer.assignment()
        for partition, offset in tracker.rewind().items():
            # A partition a rebalance took away is read again by its new owner anyway.
            if partition in assigned:
                self._consumer.seek(partition, offset)
        for held in holds:
            if held.polled.partition in assigned:
                self._hold(held)
        if refused is not None:
            self._halt(refused)
        elif self._misconfigured:
            self._misconfigured = False
            self._readiness.ready()
            log.info("configuration error gone; consuming again")

    def _run_group(
        self, group: list[Polled], should_stop: Callable[[], bool], halting: threading.Event
    ) -> _GroupResult:
        result = _GroupResult(sent=[])
        try:
            for outcome in self._settler.settle(group, self._handler.for_key(), should_stop):
                if isinstance(outcome, Held):
                    result.held = outcome
                else:
                    result.sent.append(_Sent(outcome, self._send(outcome)))
        except ConfigurationError as error:
            halting.set()  # other keys start nothing new either
            result.refused = error
        return result

    def _hold(self, held: Held) -> None:
        """Read a held record again after a backoff that grows with each round it was held."""
        position = _position(held.polled)
        rounds = self._held_rounds.get(position, 0) + 1
        self._held_rounds[position] = rounds
        delay = self._policy.park_delay(
            rounds, jitter_draw=self._jitter(), retry_after=held.error.retry_after
        )
        log.warning(
            "held after a transient error; read again after the backoff",
            extra={"origin": held.polled.origin, "delay_s": delay, "reason": str(held.error)},
        )
        # No seek: the rewind after the batch already went back to this record, or to an
        # earlier one of the partition that was not acknowledged either.
        self._pause_until(held.polled.partition, datetime.now(UTC) + timedelta(seconds=delay))

    def _send(self, settled: Settled) -> list[PendingAck] | None:
        try:
            return [self._publisher.send(output.topic, output.record) for output in settled.outputs]
        except BrokerUnavailable:
            return None

    def _confirm(self, sent: _Sent) -> bool:
        """True once every output of the record is acknowledged, after quick re-sends."""
        acks = sent.acks
        for retry in range(self._policy.quick_retries + 1):
            if retry:
                time.sleep(
                    self._policy.quick_delay(retry, jitter_draw=self._jitter(), retry_after=None)
                )
                acks = self._send(sent.settled)
            if acks is not None and _acknowledged(acks):
                return True
        log.warning(
            "outputs not acknowledged; the record will be read again",
            extra={"origin": sent.settled.polled.origin},
        )
        return False

    def _halt(self, error: ConfigurationError) -> None:
        """Stop consuming after a configuration error (a refused token): not the records' fault.

        Everything is paused and rewound to the first record not settled; nothing is
        committed past it and nothing is dead-lettered. After ``halt_recheck_s`` the
        runtime tries again (a 403 may be lifted in Kladana); a new token needs a restart.
        """
        self._consumer.pause(*self._consumer.assignment())
        self._halted_at = time.monotonic()
        self._readiness.not_ready(f"configuration error: {error}")
        if not self._misconfigured:
            log.error(
                "consuming halted on a configuration error (a refused token)",
                extra={"reason": str(error), "recheck_s": self._halt_recheck_s},
            )
        self._misconfigured = True


def _position(polled: Polled) -> tuple[TopicPartition, int]:
    return (polled.partition, polled.offset)


def _acknowledged(acks: list[PendingAck]) -> bool:
    try:
        for ack in acks:
            ack.confirm()
    except BrokerUnavailable:
        return False
    return True


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
