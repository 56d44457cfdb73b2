"""Where accepted webhooks go: the contract between ingest's routes and its durability layer."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from shared.events import Record


@dataclass(frozen=True)
class SinkStatus:
    """What ``/readyz`` and the metrics report."""

    broker_connected: bool
    spool_depth: int
    oldest_spooled_age_s: float | None
    spool_writable: bool = True
    """Whether the spool can take events; with ``broker_connected``, what readiness means."""

    @property
    def can_accept(self) -> bool:
        return self.broker_connected or self.spool_writable


class EventSink(Protocol):
    def accept(self, records: Sequence[Record]) -> None:
        """Return only once every record is durable: acknowledged by the broker, or written
        and fsynced to the local spool. Records keep their order. Raises
        :class:`ingest.errors.SinkUnavailable` when neither can take them in time."""

    def status(self) -> SinkStatus: ...
