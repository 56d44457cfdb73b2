"""The one place that builds the enricher from its settings: Kafka, Kladana, the loop."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import requests

from enricher.handlers import EnrichHandler
from enricher.kladana import KladanaClient
from enricher.settings import EnricherSettings
from shared.consumer_loop import ConsumerLoop, open_consumer_loop


@contextmanager
def enricher_loop(settings: EnricherSettings, stop: threading.Event) -> Iterator[ConsumerLoop]:
    """A consumer loop ready to ``run()`` until ``stop`` is set; closes what it opened."""
    with requests.Session() as session:
        client = KladanaClient(
            session,
            settings.kladana_api_url,
            settings.kladana_token,
            settings.kladana_timeout_s,
        )
        with open_consumer_loop(
            settings,
            group_id=settings.enricher_group_id,
            topic=settings.raw_topic,
            make_handler=lambda publisher: EnrichHandler(
                client,
                publisher,
                settings.enriched_topic,
                settings.transaction_types(),
                timezone=settings.kladana_timezone,
            ),
            stop=stop,
        ) as loop:
            yield loop
