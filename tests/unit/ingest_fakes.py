"""Fakes of ingest's adapters that record calls, for the durability tests."""

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

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
