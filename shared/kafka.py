"""Kafka adapters built on kafka-python: one producer that waits for acknowledgements
and one consumer factory, both with the settings this pipeline relies on."""

import logging
from collections.abc import Sequence
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

from shared.errors import BrokerUnavailable
from shared.events import Record

log = logging.getLogger(__name__)

# Consumer-group timing that works on Apache Kafka (whose minimum session timeout is
# 6 s) and lets a group on the embedded broker settle in seconds.
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 1000


def create_producer(bootstrap_servers: str, *, max_block_ms: int = 10_000) -> KafkaProducer:
    """A producer whose sends count only once every in-sync replica has the record."""
    return KafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        retries=5,
        max_in_flight_requests_per_connection=1,  # keeps per-key order across retries
        max_block_ms=max_block_ms,
        linger_ms=0,
    )


class _LogAssignment(ConsumerRebalanceListener):  # type: ignore[misc]  # no type hints
    """Logs every new assignment: which replica owns which partitions, after each rebalance."""

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Nothing to do: commits follow every batch, and the next assignment is logged."""

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info(
            "partitions assigned",
            extra={"partitions": sorted(f"{tp.topic}/{tp.partition}" for tp in assigned)},
        )


def create_consumer(
    bootstrap_servers: str, *, group_id: str, topic: str | Sequence[str]
) -> KafkaConsumer:
    """A group member that commits only when told to, starting at the earliest offset."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
        max_poll_records=100,
    )
    consumer.subscribe(
        [topic] if isinstance(topic, str) else list(topic), listener=_LogAssignment()
    )
    return consumer


class PendingAck:
    """A record sent but perhaps not yet acknowledged: :meth:`confirm` waits for the ack."""

    def __init__(self, future: Any, ack_timeout_s: float) -> None:
        self._future = future
        self._ack_timeout_s = ack_timeout_s

    def confirm(self) -> None:
        """Return once the broker acknowledged the record, or raise BrokerUnavailable."""
        try:
            self._future.get(timeout=self._ack_timeout_s)
        except KafkaError as error:
            raise BrokerUnavailable(
                f"broker did not acknowledge: {type(error).__name__}"
            ) from error


class Publisher:
    """Sends records and returns only once the broker acknowledged them."""

    def __init__(self, producer: KafkaProducer, *, ack_timeout_s: float) -> None:
        self._producer = producer
        self._ack_timeout_s = ack_timeout_s

    def publish(self, topic: str, record: Record) -> None:
        """Send one record and wait for its acknowledgement, or raise BrokerUnavailable."""
        self.publish_all(topic, [record])

    def publish_all(self, topic: str, records: list[Record]) -> None:
        """Send records in order and wait until all are acknowledged."""
        for ack in [self.send(topic, record) for record in records]:
            ack.confirm()

    def send(self, topic: str, record: Record) -> PendingAck:
        """Send without waiting for the ack, so many records can be in flight at once.

        Thread-safe (kafka-python's producer is); sends of one key keep their order.
        """
        try:
            future = self._producer.send(
                topic, key=record.key, value=record.value, headers=list(record.headers)
            )
        except KafkaError as error:
            raise BrokerUnavailable(
                f"broker did not take the record: {type(error).__name__}"
            ) from error
        return PendingAck(future, self._ack_timeout_s)

    def is_connected(self) -> bool:
        """True while the producer holds an open broker connection.

        Not ``bootstrap_connected()``: in kafka-python 3 that is true only during the first
        bootstrap (dpkp/kafka-python#1962). The ``connection-count`` metric drops to 0 when
        the broker goes away and recovers when kafka-python reconnects on its own.
        """
        metrics = self._producer.metrics() or {}
        return bool(metrics.get("producer-metrics", {}).get("connection-count"))

    def close(self, timeout_s: float = 5.0) -> None:
        """Close, logging instead of raising when records are still unsent.

        Unsent records belong to work that was never acknowledged, so their sender
        (an HTTP client that got a 503, a consumer that did not commit) tries again.
        """
        try:
            self._producer.close(timeout=timeout_s)
        except KafkaError as error:
            log.warning("producer closed with unsent records", extra={"reason": repr(error)})
