"""The request path's way to Kafka on librdkafka (confluent-kafka).

kafka-python builds batches, checksums and requests in Python under the GIL, which made
ingest's throughput a fraction of a bare Flask app's (docs/benchmarks.md); librdkafka does
that work in C threads. One background thread serves delivery reports; each request
waits only for its own records.
"""

import json
import logging
import threading
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from ingest.settings import IngestSettings
from shared.events import Record

log = logging.getLogger("ingest")

STATISTICS_INTERVAL_MS = 1000
CONNECT_TIMEOUT_S = 5.0
RECENT_ACK_S = 2 * STATISTICS_INTERVAL_MS / 1000
"""An acknowledgement this recent proves the broker reachable, whatever statistics that
were gathered before it (and delivered after it) said."""


class _AckWait:
    """Which records of one ``send_within`` call the broker acknowledged, filled in by
    librdkafka's delivery reports as they come; the call waits for them until its deadline."""

    def __init__(self, count: int) -> None:
        self.acknowledged = [False] * count
        self._pending = count
        self._done = threading.Event()
        self._lock = threading.Lock()

    def report(self, index: int, error: KafkaError | None) -> None:
        with self._lock:
            self.acknowledged[index] = error is None
            self._pending -= 1
            if self._pending == 0:
                self._done.set()

    def wait(self, timeout_s: float) -> None:
        self._done.wait(max(0.0, timeout_s))


def _report(
    channel: "LibrdkafkaChannel",
    acks: _AckWait,
    index: int,
    error: KafkaError | None,
    _message: object,
) -> None:
    if error is None:
        channel.last_ack_at = time.monotonic()
    acks.report(index, error)


class LibrdkafkaChannel:
    """A :class:`ingest.durable.BrokerChannel` whose sends never outlive their timeout."""

    def __init__(self, producer: Producer, *, ack_wait_s: float) -> None:
        self._producer = producer
        self._ack_wait_s = ack_wait_s
        self._connected = False
        self.ready = threading.Event()
        """Set once a broker link is up and the producer id assigned: sends can succeed."""
        self.last_ack_at = float("-inf")
        self._closing = threading.Event()
        self._poller = threading.Thread(target=self._serve_reports, daemon=True)
        self._poller.start()

    def send_within(
        self, topic: str, records: Sequence[Record], timeout_s: float | None = None
    ) -> list[bool]:
        """Send ``records`` in order; for each, whether the broker acknowledged it within
        ``timeout_s`` (or the channel's own wait)."""
        deadline = time.monotonic() + (self._ack_wait_s if timeout_s is None else timeout_s)
        acks = _AckWait(len(records))
        for index, record in enumerate(records):
            try:
                self._producer.produce(
                    topic,
                    value=record.value,
                    key=record.key,
                    headers=list(record.headers),
                    on_delivery=partial(_report, self, acks, index),
                )
            except (BufferError, KafkaException) as error:
                log.warning("broker refused a send", extra={"reason": type(error).__name__})
                for unsent in range(index, len(records)):
                    acks.report(unsent, KafkaError(KafkaError._FAIL))
                break
        acks.wait(deadline - time.monotonic())
        return list(acks.acknowledged)

    def is_connected(self) -> bool:
        return self._connected or time.monotonic() - self.last_ack_at < RECENT_ACK_S

    def close(self, timeout_s: float = 5.0) -> None:
        self._closing.set()
        self._poller.join(timeout=timeout_s)
        unsent = self._producer.flush(timeout_s)
        if unsent:
            log.warning("producer closed with unsent records", extra={"unsent": unsent})

    def _serve_reports(self) -> None:
        while not self._closing.is_set():
            self._producer.poll(0.1)

    def on_statistics(self, statistics_json: str) -> None:
        """librdkafka's periodic statistics: connected while any broker link is UP."""
        statistics: dict[str, Any] = json.loads(statistics_json)
        brokers: dict[str, Any] = statistics.get("brokers", {})
        self._connected = any(
            broker.get("state") == "UP" and broker.get("nodeid", -1) >= 0
            for broker in brokers.values()
        )
        # An idempotent producer sends nothing before the broker assigned it a producer id.
        if self._connected and statistics.get("eos", {}).get("idemp_state") == "Assigned":
            self.ready.set()


def connect_librdkafka_channel(settings: IngestSettings) -> LibrdkafkaChannel:
    """The request path's producer: nothing it sends outlives the publish budget."""
    budget_ms = settings.ingest_publish_budget_ms
    channel: LibrdkafkaChannel | None = None

    def statistics(statistics_json: str) -> None:
        if channel is not None:
            channel.on_statistics(statistics_json)

    producer = Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "acks": "all",
            "enable.idempotence": True,  # per-key order across retries, no retry duplicates
            # The producer gives up on a record a little before the request does, so that a
            # record the request spools is, as far as the producer can tell, never sent later.
            "message.timeout.ms": budget_ms * 4 // 5,
            "linger.ms": 1,
            "reconnect.backoff.max.ms": 1000,
            "enable.sparse.connections": False,  # connect to every broker now, not at first send
            "statistics.interval.ms": STATISTICS_INTERVAL_MS,
            "stats_cb": statistics,
        }
    )
    channel = LibrdkafkaChannel(producer, ack_wait_s=settings.publish_budget_s)
    try:
        producer.list_topics(settings.raw_topic, timeout=CONNECT_TIMEOUT_S)  # learn partitions
        # Until then every record would wait for the connection and the producer id within
        # its short timeout; the sink spools meanwhile instead.
        if not channel.ready.wait(CONNECT_TIMEOUT_S):
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "producer not ready"))
    except KafkaException:
        channel.close(timeout_s=0)
        raise
    return channel
