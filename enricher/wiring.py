"""The one place that builds the enricher from its settings: Kafka, Kladana, the loop."""

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import requests

from enricher.handlers import DocumentSource
from enricher.kladana import KladanaClient
from enricher.limiter import RequestLimiter
from enricher.loop import BatchLoop
from enricher.processor import DocumentProcessor, OutputTopics
from enricher.retry import RetryBudget
from enricher.settings import EnricherSettings
from shared.consumer_loop import PUBLISH_ACK_TIMEOUT_S
from shared.health import Readiness
from shared.kafka import Publisher, create_consumer, create_producer


@contextmanager
def enricher_loop(
    settings: EnricherSettings, stop: threading.Event, readiness: Readiness | None = None
) -> Iterator[BatchLoop]:
    """A loop ready to ``run()`` until ``stop`` is set, against Kladana; closes what it opened."""
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
        with open_batch_loop(settings, client, stop, readiness or Readiness()) as loop:
            yield loop


def retry_budget(settings: EnricherSettings) -> RetryBudget:
    return RetryBudget(
        quick_retries=settings.enricher_quick_retries,
        max_attempts=settings.enricher_max_attempts,
        quick_base_s=settings.retry_backoff_base_s,
        quick_cap_s=settings.retry_backoff_cap_s,
        park_base_s=settings.enricher_retry_delay_s,
        park_cap_s=settings.enricher_retry_delay_cap_s,
    )


@contextmanager
def open_batch_loop(
    settings: EnricherSettings,
    client: DocumentSource,
    stop: threading.Event,
    readiness: Readiness,
) -> Iterator[BatchLoop]:
    """The batch loop around any document source (tests pass a fake that records calls)."""
    publisher = Publisher(
        create_producer(settings.kafka_bootstrap_servers), ack_timeout_s=PUBLISH_ACK_TIMEOUT_S
    )
    pool = ThreadPoolExecutor(
        max_workers=settings.kladana_max_parallel, thread_name_prefix="enricher"
    )
    try:
        budget = retry_budget(settings)
        processor = DocumentProcessor(
            client,
            settings.transaction_types(),
            OutputTopics(
                enriched=settings.enriched_topic,
                retry=settings.enricher_retry_topic,
                dead_letter=settings.dead_letter_topic,
            ),
            budget,
            group_id=settings.enricher_group_id,
            timezone=settings.kladana_timezone,
            wait=stop.wait,
        )
        consumer = create_consumer(
            settings.kafka_bootstrap_servers,
            group_id=settings.enricher_group_id,
            topic=[settings.raw_topic, settings.enricher_retry_topic],
        )
        yield BatchLoop(
            consumer,
            processor,
            publisher,
            pool,
            readiness,
            stop,
            retry_topic=settings.enricher_retry_topic,
            budget=budget,
            auth_recheck_s=settings.enricher_auth_recheck_s,
        )
    finally:
        pool.shutdown(wait=True)
        publisher.close()
