"""The one place that builds ingest from its settings: one worker's spool, producers,
drainer, ``requestId`` store and Flask app. Nothing else constructs these."""

import logging
import threading
from dataclasses import dataclass

from flask import Flask

from ingest.access import AccessPolicy
from ingest.app import create_app
from ingest.broker import connect_drain_channel
from ingest.drainer import Drainer
from ingest.durable import DurableSink
from ingest.handlers import WebhookHandler
from ingest.librdkafka import connect_librdkafka_channel
from ingest.request_ids import RequestIds
from ingest.settings import IngestSettings
from ingest.sink import EventSink
from ingest.spool import Spool
from shared.kladana_types import TRANSACTION_TYPES

log = logging.getLogger("ingest")


@dataclass(frozen=True)
class Durability:
    """What one process runs to accept events durably; ``start()`` it after any fork."""

    spool: Spool
    sink: DurableSink
    drainer: Drainer

    def start(self) -> None:
        if not self.spool.writable():
            log.error(
                "spool not writable: events are accepted only while the broker answers",
                extra={"spool_dir": str(self.spool.directory)},
            )
        self.drainer.start()

    def close(self, timeout_s: float = 3.0) -> None:
        """Stop draining, close the producers, then the spool."""
        self.drainer.stop(timeout_s)
        self.spool.close()


@dataclass(frozen=True)
class Worker:
    """One worker process's app, and the durability under it (not yet started)."""

    app: Flask
    durability: Durability


def build_worker(settings: IngestSettings) -> Worker:
    durability = _build_durability(settings)
    return Worker(app=build_app(settings, durability.sink), durability=durability)


def _build_durability(settings: IngestSettings) -> Durability:
    spool = Spool(settings.ingest_spool_dir, write_timeout_s=settings.spool_write_timeout_s)
    wake = threading.Event()
    sink = DurableSink(
        spool, topic=settings.raw_topic, budget_s=settings.publish_budget_s, on_spooled=wake.set
    )
    drainer = Drainer(
        sink,
        spool,
        connect_request=lambda: connect_librdkafka_channel(settings),
        connect_drain=lambda: connect_drain_channel(settings),
        interval_s=settings.drain_interval_s,
        wake=wake,
    )
    return Durability(spool=spool, sink=sink, drainer=drainer)


def build_app(settings: IngestSettings, sink: EventSink) -> Flask:
    """The app over ``sink``: a worker's durable sink, or a test's fake."""
    request_ids = RequestIds(settings.ingest_spool_dir, ttl_s=settings.ingest_request_id_ttl_s)
    handler = WebhookHandler(sink, request_ids, request_id_wait_s=settings.request_id_wait_s)
    access = AccessPolicy(
        tokens=settings.tokens,
        allowed_networks=settings.ingest_allowed_networks,
        trusted_proxies=settings.ingest_trusted_proxies,
    )
    return create_app(
        handler,
        sink,
        access=access,
        types=TRANSACTION_TYPES,
        max_body_bytes=settings.ingest_max_body_bytes,
    )
