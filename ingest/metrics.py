"""Prometheus metrics of the sink, read from the spool itself at every scrape.

The spool is one file shared by all gunicorn workers, so whichever worker answers a scrape
reports the same depth and age: no per-process state, no multiprocess mode needed.
"""

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ingest.sink import EventSink


class SinkCollector(Collector):
    def __init__(self, sink: EventSink) -> None:
        self._sink = sink

    def collect(self) -> Iterator[Metric]:
        status = self._sink.status()
        yield GaugeMetricFamily(
            "ingest_spool_depth",
            "Accepted events waiting in the local spool for the broker.",
            value=status.spool_depth,
        )
        yield GaugeMetricFamily(
            "ingest_spool_oldest_age_seconds",
            "Age of the oldest event in the local spool; 0 when it is empty.",
            value=status.oldest_spooled_age_s or 0.0,
        )
        yield GaugeMetricFamily(
            "ingest_spool_writable",
            "1 when the local spool can take events.",
            value=int(status.spool_writable),
        )
        yield GaugeMetricFamily(
            "ingest_broker_connected",
            "1 when the answering worker's producer holds a broker connection.",
            value=int(status.broker_connected),
        )


def sink_registry(sink: EventSink) -> CollectorRegistry:
    """A registry of its own per app, so that several apps in one process never clash."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SinkCollector(sink))
    return registry
