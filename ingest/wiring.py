"""Builds one worker's durable sink: the spool, the sink and its background drainer."""

import logging
import threading
from dataclasses import dataclass

from ingest.broker import connect_drain_channel
from ingest.drainer import Drainer
from ingest.durable import DurableSink
from ingest.librdkafka import connect_librdkafka_channel
from ingest.settings import IngestSettings
from ingest.spool import Spool

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


def build_durability(settings: IngestSettings) -> Durability:
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
