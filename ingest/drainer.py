"""Each worker's background thread: it reaches the broker, then keeps the spool drained.

The thread first builds the request path's producer and hands it to the sink (until then
every event is spooled), then the drainer's own producer. From then on it wakes every
drain interval, or as soon as this process spooled something, and drains if it wins the
spool's drain lock: oldest first, removing records only once the broker acknowledged
them.
"""

import logging
import threading
from collections.abc import Callable
from itertools import groupby

from ingest.durable import BrokerChannel, DurableSink
from ingest.errors import SinkUnavailable
from ingest.spool import Spool

log = logging.getLogger("ingest")

DRAIN_BATCH_SIZE = 200


def drain_once(spool: Spool, channel: BrokerChannel, *, batch_size: int = DRAIN_BATCH_SIZE) -> int:
    """Publish spooled records oldest first until the spool is empty or the broker fails
    one; the number published. Does nothing (0) while another drainer holds the lock."""
    published = 0
    with spool.drain_lock() as held:
        if not held:
            return 0
        while batch := spool.oldest(batch_size):
            for topic, group in groupby(batch, key=lambda spooled: spooled.topic):
                run = list(group)
                acknowledged = channel.send_within(topic, [spooled.record for spooled in run])
                done = [spooled.seq for spooled, ok in zip(run, acknowledged, strict=True) if ok]
                spool.remove(done)
                published += len(done)
                if len(done) < len(run):
                    log.warning(
                        "spool drain interrupted: broker did not acknowledge",
                        extra={"published": published, "failed": len(run) - len(done)},
                    )
                    return published
    return published


class Drainer:
    """The background thread of one worker process. ``start()`` after the fork."""

    def __init__(
        self,
        sink: DurableSink,
        spool: Spool,
        *,
        connect_request: Callable[[], BrokerChannel],
        connect_drain: Callable[[], BrokerChannel],
        interval_s: float,
        wake: threading.Event,
    ) -> None:
        """``wake`` is set (by the sink) when this process spooled something."""
        self._sink = sink
        self._spool = spool
        self._connect_request = connect_request
        self._connect_drain = connect_drain
        self._interval_s = interval_s
        self._wake = wake
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingest-drainer", daemon=True)
        self._channels: list[BrokerChannel] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread, then close the producers it built."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        for channel in self._channels:
            channel.close(timeout_s)

    def _run(self) -> None:
        request = self._connect(self._connect_request, "request")
        if request is None:
            return
        self._sink.attach(request)
        drain = self._connect(self._connect_drain, "drain")
        if drain is None:
            return
        while not self._stop.is_set():
            try:
                published = drain_once(self._spool, drain)
            except SinkUnavailable as error:
                log.error("spool drain failed", extra={"reason": str(error)})
            else:
                if published:
                    log.info("spooled events published", extra={"published": published})
            self._wake.wait(self._interval_s)
            self._wake.clear()

    def _connect(self, connect: Callable[[], BrokerChannel], role: str) -> BrokerChannel | None:
        """Retry until the broker answers; None if stopped first."""
        attempt = 0
        while not self._stop.is_set():
            attempt += 1
            try:
                channel = connect()
            except Exception as error:  # kafka-python raises more than KafkaError here
                if attempt == 1:
                    log.warning(
                        "broker unreachable; spooling events until it answers",
                        extra={"producer": role, "reason": type(error).__name__},
                    )
                self._stop.wait(self._interval_s)
                continue
            self._channels.append(channel)
            log.info("broker connected", extra={"producer": role, "attempts": attempt})
            return channel
        return None
