"""The enricher's Prometheus metrics: the consumers' shared ones plus Kladana's API calls."""

import functools
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from shared.metrics import LATENCY_BUCKETS_S, ConsumerMetrics, default_consumer_metrics


class KladanaMetrics:
    """Calls to Kladana's JSON API: answers by status class, 429s by error code, latency."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "kladana_requests",
            "Requests to Kladana by answer: 2xx, 4xx, 5xx..., timeout, unreachable.",
            ["status_class"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "kladana_rate_limited",
            "429 answers by Kladana error code (1049 too many requests, 1073 too many "
            "parallel requests; none when the body names no code).",
            ["code"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "kladana_request_seconds",
            "Time from sending a request to Kladana to its answer (or timeout).",
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.expand_refused = Counter(
            "kladana_expand_refused",
            "Fetches whose expand Kladana refused, by entity: each was fetched again without "
            "it (its references then arrive as bare meta).",
            ["entity"],
            registry=registry,
        )
        self.fetches_saved = Counter(
            "kladana_fetches_saved",
            "Kladana calls saved by coalescing: events answered by a fetch of the same "
            "document earlier in their batch.",
            registry=registry,
        )
        self.limiter_fallback = Gauge(
            "kladana_limiter_fallback",
            "1 while the shared limiter's Redis (KLADANA_LIMITER_URL) is unreachable and this "
            "replica limits itself to its per-process share of Kladana's budget; else 0.",
            registry=registry,
        )
        self.limiter_fallbacks = Counter(
            "kladana_limiter_fallbacks",
            "Times this replica fell back from the shared limiter to its per-process share.",
            registry=registry,
        )


@dataclass(frozen=True)
class EnricherMetrics:
    consumer: ConsumerMetrics
    kladana: KladanaMetrics

    @classmethod
    def on(cls, registry: CollectorRegistry) -> "EnricherMetrics":
        """Fresh metrics on ``registry``: tests read their own without the process's."""
        return cls(ConsumerMetrics(registry), KladanaMetrics(registry))


@functools.cache
def default_enricher_metrics() -> EnricherMetrics:
    """The process's enricher metrics, on the registry ``/metrics`` serves."""
    return EnricherMetrics(default_consumer_metrics(), KladanaMetrics(REGISTRY))
