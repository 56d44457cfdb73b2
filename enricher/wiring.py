"""The one place that builds the enricher from its settings: Kafka, Kladana, the runtime."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import requests

from enricher.document_handler import EnrichHandler
from enricher.handlers import DocumentSource
from enricher.kladana import KladanaClient
from enricher.limiter import RequestLimiter
from enricher.metrics import EnricherMetrics, default_enricher_metrics
from enricher.settings import EnricherSettings
from shared.consumer_runtime import ConsumerRuntime
from shared.consumer_service import RuntimeConfig, open_runtime
from shared.health import Readiness
from shared.retry_topic import RetryPolicy


@contextmanager
def enricher_loop(
    settings: EnricherSettings, stop: threading.Event, readiness: Readiness | None = None
) -> Iterator[ConsumerRuntime]:
    """A runtime ready to ``run()`` until ``stop`` is set, against Kladana; closes what it
    opened."""
    with requests.Session() as session:
        client = KladanaClient(
            session,
            settings.kladana_api_url,
            settings.kladana_token,
            settings.kladana_timeout_s,
            limiter=RequestLimiter(
                units=settings.kladana_rate_units,
                window_s=settings.kladana_rate_window_s,
                cost=settings.kladana_request_cost,
                max_parallel=settings.kladana_max_parallel,
                stop=stop,
            ),
        )
        with open_enricher_runtime(settings, client, stop, readiness or Readiness()) as runtime:
            yield runtime


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
