"""The one place that builds the enricher from its settings: Kafka, Kladana, the runtime."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from enricher.document_handler import EnrichHandler
from enricher.handlers import DocumentSource
from enricher.kladana import KladanaClient
from enricher.limiting import Limiter
from enricher.metrics import EnricherMetrics, default_enricher_metrics
from enricher.redis_bucket import BucketLimits, RedisBucket
from enricher.settings import EnricherSettings
from enricher.shared_limiter import LEASE_S, Budget, SharedLimiter
from shared.consumer_runtime import ConsumerRuntime
from shared.consumer_service import RuntimeConfig, open_runtime
from shared.health import Readiness
from shared.retry_topic import RetryPolicy

REDIS_TIMEOUT_S = 1.0


@contextmanager
def enricher_loop(
    settings: EnricherSettings, stop: threading.Event, readiness: Readiness | None = None
) -> Iterator[ConsumerRuntime]:
    """A runtime ready to ``run()`` until ``stop`` is set, against Kladana; closes what it
    opened."""
    with requests.Session() as session, kladana_limiter(settings, stop) as limiter:
        client = KladanaClient(
            session,
            settings.kladana_api_url,
            settings.kladana_token,
            settings.kladana_timeout_s,
            limiter=limiter,
        )
        with open_enricher_runtime(settings, client, stop, readiness or Readiness()) as runtime:
            yield runtime


@contextmanager
def kladana_limiter(settings: EnricherSettings, stop: threading.Event) -> Iterator[Limiter]:
    """The shared limiter with ``KLADANA_LIMITER_URL`` set, else this process's own."""
    budget = Budget(
        units=settings.kladana_rate_units,
        window_s=settings.kladana_rate_window_s,
        cost=settings.kladana_request_cost,
        max_parallel=settings.kladana_max_parallel,
        fallback_replicas=settings.kladana_limiter_fallback_replicas,
    )
    if settings.kladana_limiter_url is None:
        # The settings are this process's share already.
        yield budget.share(1, stop, start_empty=False)
        return
    client = Redis.from_url(
        settings.kladana_limiter_url.get_secret_value(),
        # A Redis that does not answer must not hold a request longer than this: the
        # limiter falls back to this process's share instead.
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
        retry=Retry(NoBackoff(), retries=1),
    )
    limits = BucketLimits(
        cost=budget.cost,
        max_parallel=budget.max_parallel,
        lease_s=LEASE_S,
        keep_s=2 * max(LEASE_S, budget.window_s),
    )
    bucket = RedisBucket(client, settings.kladana_token, limits)
    try:
        yield SharedLimiter(bucket, budget, stop=stop, metrics=default_enricher_metrics().kladana)
    finally:
        client.close()


def retry_policy(settings: EnricherSettings) -> RetryPolicy:
    return RetryPolicy(
        quick_retries=settings.enricher_quick_retries,
        max_attempts=settings.enricher_max_attempts,
        quick_base_s=settings.retry_backoff_base_s,
        quick_cap_s=settings.retry_backoff_cap_s,
        park_base_s=settings.enricher_retry_delay_s,
        park_cap_s=settings.enricher_retry_delay_cap_s,
        retry_topic=settings.enricher_retry_topic,
    )


@contextmanager
def open_enricher_runtime(
    settings: EnricherSettings,
    client: DocumentSource,
    stop: threading.Event,
    readiness: Readiness,
    metrics: EnricherMetrics | None = None,
) -> Iterator[ConsumerRuntime]:
    """The runtime around any document source (tests pass a fake that records calls)."""
    metrics = metrics or default_enricher_metrics()
    config = RuntimeConfig(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.enricher_group_id,
        topics=(settings.raw_topic,),
        dead_letter_topic=settings.dead_letter_topic,
        policy=retry_policy(settings),
        # One key's work is one Kladana call at a time, and Kladana takes this many at once.
        keys_in_flight=settings.kladana_max_parallel,
        halt_recheck_s=settings.enricher_auth_recheck_s,
    )
    handler = EnrichHandler(
        client,
        settings.transaction_types(),
        enriched_topic=settings.enriched_topic,
        dead_letter_topic=settings.dead_letter_topic,
        group_id=settings.enricher_group_id,
        timezone=settings.kladana_timezone,
        metrics=metrics,
    )
    with open_runtime(
        config, lambda _publisher: handler, stop, readiness, metrics=metrics.consumer
    ) as runtime:
        yield runtime
