"""Fakes of ingest's adapters that record calls: the broker, the sink, the requestId store."""

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ingest.request_ids import Claim
from ingest.sink import SinkStatus
from shared.events import Record


def record(document_id: str, step: int) -> Record:
    """A record about ``document_id``, told apart from the others by ``step``."""
    return Record(
        key=document_id.encode(),
        value=json.dumps({"document_id": document_id, "step": step}).encode(),
        headers=(("content-type", b"application/cloudevents+json"),),
    )


@dataclass
class FakeChannel:
    """A broker that acknowledges what ``acknowledges`` says, and records what it got."""

    acknowledges: Callable[[Record], bool] = lambda _record: True
    connected: bool = True
    pause_s: float = 0.0
    """Per call, so that concurrent drainers overlap."""
    sent: list[tuple[str, Record]] = field(default_factory=list)
    timeouts: list[float | None] = field(default_factory=list)
    closed: bool = False

    def send_within(
        self, topic: str, records: Sequence[Record], timeout_s: float | None = None
    ) -> list[bool]:
        time.sleep(self.pause_s)
        self.timeouts.append(timeout_s)
        answers = [self.acknowledges(record) for record in records]
        self.sent.extend((topic, r) for r, ok in zip(records, answers, strict=True) if ok)
        return answers

    def is_connected(self) -> bool:
        return self.connected

    def close(self, timeout_s: float = 5.0) -> None:
        self.closed = True


@dataclass
class RecordingSink:
    """Accepts everything, or raises ``failure``; records what it accepted."""

    failure: Exception | None = None
    before_accept: Callable[[], None] = lambda: None
    """Called first in every ``accept``, e.g. to send a repeat while this one is in flight."""
    sink_status: SinkStatus = field(
        default_factory=lambda: SinkStatus(
            broker_connected=True, spool_depth=0, oldest_spooled_age_s=None
        )
    )
    accepted: list[Record] = field(default_factory=list)

    def accept(self, records: Sequence[Record]) -> None:
        self.before_accept()
        if self.failure is not None:
            raise self.failure
        self.accepted.extend(records)

    def status(self) -> SinkStatus:
        return self.sink_status

    def envelopes(self) -> list[dict[str, Any]]:
        return [json.loads(record.value) for record in self.accepted]


class ScriptedRequestIds:
    """A requestId store whose claims answer ``claims`` in turn (then the last one again),
    recording every call as ``(method, request_id)``."""

    def __init__(self, claims: Iterable[Claim] = (Claim.CLAIMED,)) -> None:
        self._claims = list(claims)
        self.calls: list[tuple[str, str]] = []

    def claim(self, request_id: str) -> Claim:
        self.calls.append(("claim", request_id))
        return self._claims.pop(0) if len(self._claims) > 1 else self._claims[0]

    def confirm(self, request_id: str) -> None:
        self.calls.append(("confirm", request_id))

    def release(self, request_id: str) -> None:
        self.calls.append(("release", request_id))
