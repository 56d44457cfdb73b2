"""The notifier's Prometheus metrics beside the consumers' shared ones: SMS and the ledger."""

import functools

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from shared.metrics import LATENCY_BUCKETS_S


class NotifierMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.sms = Counter(
            "notifier_sms",
            "Messages by what became of them: sent, failed, held (quiet hours), skipped "
            "(opted out, no usable phone), refused (a DLT variable or the text too long), "
            "duplicate_suppressed (sent or claimed before).",
            ["status"],
            registry=registry,
        )
        self.provider_seconds = Histogram(
            "notifier_provider_seconds",
            "Time of one call to the SMS provider, by result: ok, rejected, unavailable.",
            ["result"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.stuck = Gauge(
            "notifier_stuck_notifications",
            "Ledger rows left 'sending' by a process that died: resolve them by hand.",
            registry=registry,
        )


@functools.cache
def default_notifier_metrics() -> NotifierMetrics:
    """The process's notifier metrics, on the registry ``/metrics`` serves."""
    return NotifierMetrics(REGISTRY)
