"""Ingest's Prometheus metrics.

The spool's gauges are read from the spool itself at every scrape: it is one file shared
by all gunicorn workers, so whichever worker answers reports the same depth and age.
The request counters live in each worker; under gunicorn they use prometheus_client's
multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set by ``python -m ingest`` before
anything imports prometheus_client), so whichever worker answers a scrape reports the
sum over all workers.
"""

import os
from collections.abc import Iterator, Mapping

from flask import Response
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ingest.sink import EventSink

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

WEBHOOKS = Counter(
    "ingest_webhooks_total",
    "Webhook requests answered, by result (accepted, duplicate, refused, unavailable) and"
    " reason (the error code of a refusal).",
    ["result", "reason"],
    registry=None,
)
NATIVE_EVENTS_IGNORED = Counter(
    "ingest_native_events_ignored_total",
    "Events of accepted native webhooks that were skipped, not published: about an entity"
    " that is none of the 14 transaction types.",
    ["entity"],
    registry=None,
)
WEBHOOK_SECONDS = Histogram(
    "ingest_webhook_seconds",
    "Time from a webhook request's arrival in the app to its answer.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5),
    registry=None,
)


def count_webhook(response: Response, elapsed_s: float) -> None:
    """Count one answered webhook request; the reason of a refusal is its JSON error code."""
    WEBHOOK_SECONDS.observe(elapsed_s)
    status = response.status_code
    if status < 300:
        body = response.get_json(silent=True)
        duplicate = isinstance(body, dict) and body.get("duplicate") is True
        WEBHOOKS.labels("duplicate" if duplicate else "accepted", "").inc()
        return
    body = response.get_json(silent=True)
    code = body.get("error") if isinstance(body, dict) else None
    result = "unavailable" if status == 503 else "refused"
    WEBHOOKS.labels(result, code if isinstance(code, str) else str(status)).inc()


def count_ignored_events(ignored: Mapping[str, int]) -> None:
    """Count a newly accepted native delivery's skipped events; a repeat's are not counted
    again, so the counter tells how many events Kladana sent about other entities."""
    for entity, count in ignored.items():
        NATIVE_EVENTS_IGNORED.labels(entity).inc(count)


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
    if os.environ.get(MULTIPROCESS_DIR_VARIABLE):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(WEBHOOKS)
        registry.register(NATIVE_EVENTS_IGNORED)
        registry.register(WEBHOOK_SECONDS)
    return registry
