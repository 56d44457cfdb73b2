"""Prometheus metrics both consumers (enricher, notifier) export, and their lag sampler.

No ``service`` label: each service is its own process, scraped as its own Prometheus job,
so ``job`` already tells them apart. docs/observability.md lists every metric.
"""

import functools
import logging
import time
from collections.abc import Callable

from kafka import KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import TopicPartition
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

log = logging.getLogger(__name__)

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Up to a minute: a consumer waits out quick retries and rate-limit pauses in-process."""

LAG_INTERVAL_S = 5.0
"""End offsets cost the broker a request: the lag is refreshed this often at most."""
_LAG_TIMEOUT_MS = 2000


class ConsumerMetrics:
    """Events in, out and failed, processing time, and lag per partition."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events_in = Counter(
            "consumer_events_in",
            "Records taken from a topic for processing (a record read again counts again).",
            ["topic"],
            registry=registry,
        )
        self.events_out = Counter(
            "consumer_events_out",
            "Records settled, by outcome (enricher: enriched, unavailable, deleted, parked, "
            "dead_lettered; notifier: handled, dead_lettered).",
            ["outcome"],
            registry=registry,
        )
        self.events_failed = Counter(
            "consumer_events_failed",
            "Failed attempts at a record, by the error's class, whether it was retried, "
            "parked or dead-lettered afterwards.",
            ["reason"],
            registry=registry,
        )
        self.processing_seconds = Histogram(
            "consumer_processing_seconds",
            "Time to settle one record: handling it, Kladana or the SMS provider included.",
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.lag = Gauge(
            "consumer_lag",
            "Records of an assigned partition not yet consumed: end offset minus position.",
            ["topic", "partition"],
            registry=registry,
        )

    def failed(self, error: BaseException) -> None:
        self.events_failed.labels(type(error).__name__).inc()


@functools.cache
def default_consumer_metrics() -> ConsumerMetrics:
    """The process's consumer metrics, on the registry ``/metrics`` serves."""
    return ConsumerMetrics(REGISTRY)


class LagSampler:
    """Sets the lag gauge of the partitions a consumer holds, at most every ``interval_s``.

    Call :meth:`sample` from the thread that polls: a KafkaConsumer is not thread-safe.
    Partitions a rebalance took away are dropped from the gauge, so a scaled-out group
    shows each partition once, at the replica that holds it.
    """

    def __init__(
        self,
        gauge: Gauge,
        *,
        interval_s: float = LAG_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._gauge = gauge
        self._interval_s = interval_s
        self._clock = clock
        self._next_at = -float("inf")
        self._shown: set[TopicPartition] = set()

    def sample(self, consumer: KafkaConsumer) -> None:
        now = self._clock()
        if now < self._next_at:
            return
        self._next_at = now + self._interval_s
        assigned = set(consumer.assignment())
        try:
            ends = consumer.end_offsets(list(assigned), timeout_ms=_LAG_TIMEOUT_MS)
            positions = {tp: consumer.position(tp, timeout_ms=_LAG_TIMEOUT_MS) for tp in assigned}
        except KafkaError as error:
            # A lag gauge a few seconds old is no reason to disturb the loop.
            log.debug("consumer lag not sampled", extra={"reason": repr(error)})
            return
        shown = set()
        for partition in assigned:
            end, position = ends.get(partition), positions.get(partition)
            if end is not None and position is not None:
                self._gauge.labels(partition.topic, str(partition.partition)).set(
                    max(end - position, 0)
                )
                shown.add(partition)
        for gone in self._shown - shown:
            self._gauge.remove(gone.topic, str(gone.partition))
        self._shown = shown
