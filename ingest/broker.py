"""The drainer's way to Kafka (kafka-python): a patient producer that publishes the spool.

The request path has a producer of its own, bounded by the publish budget
(:mod:`ingest.librdkafka`). Both are built in the background, after the fork, so that a
worker boots and answers while the broker is unreachable.
"""

import logging
import time
from collections.abc import Sequence

from kafka import KafkaProducer
from kafka.errors import KafkaError

from ingest.settings import IngestSettings
from shared.events import Record
from shared.kafka import Publisher

log = logging.getLogger("ingest")

CONNECT_TIMEOUT_MS = 5000
"""How long one attempt to reach the broker may block the background thread."""
RECONNECT_BACKOFF_MAX_MS = 1000
DRAIN_DELIVERY_TIMEOUT_MS = 30_000
DRAIN_MAX_BLOCK_MS = 10_000
_GRACE_S = 1.0
"""Beyond the delivery timeout, for the producer's I/O thread to fail an expired record."""


class DrainChannel:
    """A producer that reports, record by record, what the broker acknowledged."""

    def __init__(self, producer: KafkaProducer, *, ack_wait_s: float) -> None:
        self._producer = producer
        self._ack_wait_s = ack_wait_s
        # For its connection check and its close; sending is done here, record by record.
        self._publisher = Publisher(producer, ack_timeout_s=ack_wait_s)

    def send_within(
        self, topic: str, records: Sequence[Record], timeout_s: float | None = None
    ) -> list[bool]:
        """Send ``records`` in order; for each, whether the broker acknowledged it within
        ``timeout_s`` (metadata wait included), or within the channel's own wait."""
        deadline = time.monotonic() + (self._ack_wait_s if timeout_s is None else timeout_s)
        futures = []
        try:
            for record in records:
                futures.append(
                    self._producer.send(
                        topic, key=record.key, value=record.value, headers=list(record.headers)
                    )
                )
        except KafkaError as error:
            log.warning("broker refused a send", extra={"reason": type(error).__name__})
        acknowledged = []
        for future in futures:
            try:
                future.get(timeout=max(0.0, deadline - time.monotonic()))
            except KafkaError:
                acknowledged.append(False)
            else:
                acknowledged.append(True)
        return acknowledged + [False] * (len(records) - len(futures))

    def is_connected(self) -> bool:
        return self._publisher.is_connected()

    def close(self, timeout_s: float = 5.0) -> None:
        self._publisher.close(timeout_s)


def connect_drain_channel(settings: IngestSettings) -> DrainChannel:
    """The drainer's producer, which may wait for a slow broker far longer than a request.

    Once ``DRAIN_DELIVERY_TIMEOUT_MS`` has passed since ``send()``, it fails the record
    instead of sending it later; the record stays in the spool for the next drain.
    """
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        max_in_flight_requests_per_connection=1,  # keeps per-key order across retries
        # Not idempotent: a broker that lost its producer state (a restarted in-memory
        # broker does) answers UnknownProducerId to an idempotent producer's every retry
        # until the record expires, so nothing would ever drain. Without it a retry may
        # duplicate a record; the copy has the event's id, which consumers de-duplicate on.
        enable_idempotence=False,
        linger_ms=0,
        max_block_ms=DRAIN_MAX_BLOCK_MS,
        request_timeout_ms=DRAIN_DELIVERY_TIMEOUT_MS,
        delivery_timeout_ms=DRAIN_DELIVERY_TIMEOUT_MS,
        bootstrap_timeout_ms=CONNECT_TIMEOUT_MS,
        # Back on the broker within a second of its return (kafka-python's default backs
        # off to 30 s), so that a drain resumes soon after an outage.
        reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
    )
    return DrainChannel(producer, ack_wait_s=DRAIN_DELIVERY_TIMEOUT_MS / 1000 + _GRACE_S)
