"""The sink behind ``/webhook``: the broker within a budget, else the local spool.

An event counts as accepted once it is durable: acknowledged by the broker, or fsynced
to the spool. An event goes straight to the spool while an older event of the same
document waits there (so that it cannot overtake it), and while the broker is known to be
unreachable (so that an outage does not make every answer wait out the budget).
"""

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from ingest.errors import SinkUnavailable
from ingest.sink import SinkStatus
from ingest.spool import Spool
from shared.events import Record

log = logging.getLogger("ingest")


class BrokerChannel(Protocol):
    """What the sink and the drainer need of Kafka: :class:`ingest.librdkafka.LibrdkafkaChannel`
    on the request path, :class:`ingest.broker.DrainChannel` for the drain."""

    def send_within(
        self, topic: str, records: Sequence[Record], timeout_s: float | None = None
    ) -> list[bool]:
        """Send in order; for each record, whether the broker acknowledged it in time."""
        ...

    def is_connected(self) -> bool: ...

    def close(self, timeout_s: float = 5.0) -> None: ...


class DurableSink:
    """An :class:`ingest.sink.EventSink` over a broker channel and a :class:`Spool`.

    Until :meth:`attach` hands it a channel (the producer is built in the background),
    every event goes to the spool. ``on_spooled`` is called after each spool write, to wake
    this process's drainer.
    """

    def __init__(
        self,
        spool: Spool,
        *,
        topic: str,
        budget_s: float,
        on_spooled: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._spool = spool
        self._topic = topic
        self._budget_s = budget_s
        self._on_spooled = on_spooled
        self._clock = clock
        self._channel: BrokerChannel | None = None
        self._lock = threading.Lock()

    def attach(self, channel: BrokerChannel) -> None:
        with self._lock:
            self._channel = channel

    def accept(self, records: Sequence[Record]) -> None:
        channel = self._channel
        if channel is None:
            self._spool_records(records, reason="no_producer")
            return
        if self._document_waits_in_spool(records):
            self._spool_records(records, reason="document_spooled")
            return
        if not channel.is_connected():
            self._spool_records(records, reason="broker_disconnected")
            return
        acknowledged = channel.send_within(self._topic, records, self._budget_s)
        unacknowledged = [
            record for record, ok in zip(records, acknowledged, strict=True) if not ok
        ]
        if unacknowledged:
            self._spool_records(unacknowledged, reason="broker_unavailable")

    def status(self) -> SinkStatus:
        channel = self._channel
        broker_connected = channel is not None and channel.is_connected()
        try:
            depth = self._spool.depth()
        except SinkUnavailable:
            return SinkStatus(
                broker_connected=broker_connected,
                spool_depth=0,
                oldest_spooled_age_s=None,
                spool_writable=False,
            )
        oldest = depth.oldest_spooled_at
        return SinkStatus(
            broker_connected=broker_connected,
            spool_depth=depth.count,
            oldest_spooled_age_s=None if oldest is None else max(0.0, self._clock() - oldest),
            spool_writable=self._spool.writable(),
        )

    def _document_waits_in_spool(self, records: Sequence[Record]) -> bool:
        try:
            return self._spool.holds_any_of({record.key for record in records})
        except SinkUnavailable as error:
            # Nothing can be drained from an unreadable spool, so nothing there can be
            # overtaken: the broker is the only way left to accept the event.
            log.error("spool unreadable; publishing directly", extra={"reason": str(error)})
            return False

    def _spool_records(self, records: Sequence[Record], *, reason: str) -> None:
        try:
            self._spool.append(self._topic, records)
        except SinkUnavailable as error:
            log.error(
                "event neither acknowledged nor spooled",
                extra={"reason": str(error), "why_spooled": reason},
            )
            raise
        log.info("event spooled", extra={"records": len(records), "why_spooled": reason})
        self._on_spooled()
