"""The enricher's consumer loop: poll a batch, settle its documents concurrently, commit.

Per batch: records are grouped by document; each group runs on the thread pool (its
records strictly in order), and outputs are sent as soon as they are known. Then the
loop waits for every acknowledgement, commits per partition up to the first record
whose outputs were not acknowledged, and rewinds to that record so it is read again.

Retry-topic records wait for their not-before time by pausing their partition (and
seeking back to them) rather than sleeping, so other partitions keep flowing. A refused
token halts consumption altogether: see :meth:`BatchLoop._halt`.
"""

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime

from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from enricher.batch import OffsetLedger, Polled, group_by_document
from enricher.errors import ConfigurationError
from enricher.processor import DocumentProcessor, Settled
from enricher.retry import RetryBudget, split_due
from shared.consumer_loop import commit_positions
from shared.errors import BrokerUnavailable
from shared.events import Record
from shared.health import Readiness
from shared.kafka import Delivery, Publisher
from shared.metrics import ConsumerMetrics, LagSampler, default_consumer_metrics

log = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 500


@dataclass
class _Sent:
    settled: Settled
    deliveries: list[Delivery] | None
    """None when the broker did not even take the records: they are sent again."""


class BatchLoop:
    """Runs until ``stop`` is set; then finishes the records in hand, commits, leaves the group."""

    def __init__(
        self,
        consumer: KafkaConsumer,
        processor: DocumentProcessor,
        publisher: Publisher,
        pool: Executor,
        readiness: Readiness,
        stop: threading.Event,
        *,
        retry_topic: str,
        budget: RetryBudget,
        auth_recheck_s: float,
        jitter: Callable[[], float] = random.random,
        metrics: ConsumerMetrics | None = None,
    ) -> None:
        self._consumer = consumer
        self._processor = processor
        self._publisher = publisher
        self._pool = pool
        self._readiness = readiness
        self._stop = stop
        self._retry_topic = retry_topic
        self._budget = budget
        self._auth_recheck_s = auth_recheck_s
        self._jitter = jitter
        self._parked: dict[TopicPartition, datetime] = {}
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
            recheck_due = time.monotonic() - self._halted_at >= self._auth_recheck_s
            if self._auth_recheck_s <= 0 or not recheck_due:
                # Pause again every round: a rebalance hands partitions over unpaused.
                self._consumer.pause(*assigned)
                return
            log.info("trying again after a configuration error")
            self._halted_at = None
            self._consumer.resume(*(assigned - set(self._parked)))
        now = datetime.now(UTC)
        for partition, due in list(self._parked.items()):
            if partition not in assigned or due <= now:
                del self._parked[partition]
                if partition in assigned:
                    self._consumer.resume(partition)

    def _due(self, polled: dict[TopicPartition, list[object]]) -> list[Polled]:
        """The polled records that may be processed now; parks retry records not yet due."""
        now = datetime.now(UTC)
        batch: list[Polled] = []
        for partition, messages in polled.items():
            records = [
                Polled(
                    partition,
                    message.offset,  # type: ignore[attr-defined]
                    Record(
                        key=message.key,  # type: ignore[attr-defined]
                        value=message.value,  # type: ignore[attr-defined]
                        headers=tuple(message.headers or ()),  # type: ignore[attr-defined]
                    ),
                )
                for message in messages
            ]
            if partition.topic == self._retry_topic:
                records, waiting = split_due(records, now)
                if waiting is not None:
                    first_waiting, due = waiting
                    self._consumer.seek(partition, first_waiting.offset)
                    self._consumer.pause(partition)
                    self._parked[partition] = due
            batch.extend(records)
        return batch

    def _settle(self, batch: list[Polled]) -> None:
        ledger = OffsetLedger(batch)
        halting = threading.Event()

        def should_stop() -> bool:
            return self._stop.is_set() or halting.is_set()

        futures = [
            self._pool.submit(self._run_group, group, should_stop, halting)
            for group in group_by_document(batch)
        ]
        refused: ConfigurationError | None = None
        for future in futures:
            sent, error = future.result()
            refused = refused or error
            for item in sent:
                if self._confirm(item):
                    ledger.mark_done(item.settled.polled)
        commit_positions(self._consumer, ledger.committable())
        assigned = self._consumer.assignment()
        for partition, offset in ledger.rewind().items():
            # A partition a rebalance took away is read again by its new owner anyway.
            if partition in assigned:
                self._consumer.seek(partition, offset)
        if refused is not None:
            self._halt(refused)
        elif self._misconfigured:
            self._misconfigured = False
            self._readiness.ready()
            log.info("configuration error gone; consuming again")

    def _run_group(
        self, group: list[Polled], should_stop: Callable[[], bool], halting: threading.Event
    ) -> tuple[list[_Sent], ConfigurationError | None]:
        sent: list[_Sent] = []
        try:
            for settled in self._processor.process(group, should_stop):
                sent.append(_Sent(settled, self._send(settled)))
        except ConfigurationError as error:
            halting.set()  # other documents start nothing new either
            return sent, error
        return sent, None

    def _send(self, settled: Settled) -> list[Delivery] | None:
        try:
            return [self._publisher.send(output.topic, output.record) for output in settled.outputs]
        except BrokerUnavailable:
            return None

    def _confirm(self, sent: _Sent) -> bool:
        """True once every output of the record is acknowledged, after quick re-sends."""
        deliveries = sent.deliveries
        for retry in range(self._budget.quick_retries + 1):
            if retry:
                time.sleep(
                    self._budget.quick_delay(retry, jitter_draw=self._jitter(), retry_after=None)
                )
                deliveries = self._send(sent.settled)
            if deliveries is not None and _acknowledged(deliveries):
                return True
        log.warning(
            "outputs not acknowledged; the record will be read again",
            extra={"origin": sent.settled.polled.origin},
        )
        return False

    def _halt(self, error: ConfigurationError) -> None:
        """Stop consuming after a configuration error (a refused token): not the events' fault.

        Everything is paused and rewound to the first record not settled; nothing is
        committed past it and nothing is dead-lettered. After ``auth_recheck_s`` the loop
        tries again (a 403 may be lifted in Kladana); a new token needs a restart.
        """
        self._consumer.pause(*self._consumer.assignment())
        self._halted_at = time.monotonic()
        self._readiness.not_ready(f"configuration error: {error}")
        if not self._misconfigured:
            log.error(
                "consuming halted on a configuration error (a refused token)",
                extra={"reason": str(error), "recheck_s": self._auth_recheck_s},
            )
        self._misconfigured = True


def _acknowledged(deliveries: list[Delivery]) -> bool:
    try:
        for delivery in deliveries:
            delivery.confirm()
    except BrokerUnavailable:
        return False
    return True
