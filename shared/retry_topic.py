"""When and how a transiently failed record is tried again: the one retry policy. Pure.

A processing *round* is one delivery of the record to a consumer: first from its own
topic, then (when the service has one) from its retry topic. Within a round the handler
is retried a few times in process (quick retries); a round that still fails parks the
record on the retry topic with its round count and a not-before time, or, once the
rounds are spent, dead-letters it. A service without a retry topic holds the record
instead: its partition is rewound to it and read again after the round's backoff.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.backoff import backoff_delay
from shared.batch import Polled
from shared.errors import MalformedEvent
from shared.events import Record

RETRY_PREFIX = "retry."
ATTEMPT_HEADER = "retry.attempt"
"""Rounds that failed so far (1 after the first)."""
NOT_BEFORE_HEADER = "retry.not_before"
"""ISO 8601 UTC time before which the event must not be tried again."""
REASON_HEADER = "retry.reason"


@dataclass(frozen=True)
class RetryPolicy:
    quick_retries: int
    """In-process retries of a record within one round."""
    max_attempts: int
    """Rounds before a record is dead-lettered (with a retry topic only)."""
    quick_base_s: float
    quick_cap_s: float
    park_base_s: float
    """Backoff between rounds: the retry topic's not-before time, or how long a held
    record's partition waits."""
    park_cap_s: float
    retry_topic: str | None = None
    """Where failed rounds wait; None: the record is held in place and never dead-lettered
    for a transient error (the notifier: its database coming back must not cost SMS)."""

    def quick_delay(self, retry: int, *, jitter_draw: float, retry_after: float | None) -> float:
        """Seconds before in-process retry number ``retry`` (from 1)."""
        base, cap = self.quick_base_s, self.quick_cap_s
        return backoff_delay(
            retry, base=base, cap=cap, jitter_draw=jitter_draw, floor=retry_after or 0.0
        )

    def park_delay(self, attempt: int, *, jitter_draw: float, retry_after: float | None) -> float:
        """Seconds a record waits (parked or held) after failed round ``attempt``."""
        base, cap = self.park_base_s, self.park_cap_s
        return backoff_delay(
            attempt, base=base, cap=cap, jitter_draw=jitter_draw, floor=retry_after or 0.0
        )

    def exhausted(self, attempt: int) -> bool:
        """True when round ``attempt`` was the last one allowed; never without a retry topic."""
        return self.retry_topic is not None and attempt >= self.max_attempts


def _header(record: Record, name: str) -> bytes | None:
    return next((value for key, value in record.headers if key == name), None)


def attempts_made(record: Record) -> int:
    """Rounds that failed before this delivery: 0 for an event fresh from the raw topic."""
    value = _header(record, ATTEMPT_HEADER)
    if value is None:
        return 0
    try:
        attempts = int(value.decode())
    except (UnicodeDecodeError, ValueError):
        raise MalformedEvent(f"header {ATTEMPT_HEADER} is not a number") from None
    if attempts < 0:
        raise MalformedEvent(f"header {ATTEMPT_HEADER} is negative")
    return attempts


def not_before(record: Record) -> datetime | None:
    """When a parked event becomes due; None when it has no (readable) time: due now."""
    value = _header(record, NOT_BEFORE_HEADER)
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.decode())
    except (UnicodeDecodeError, ValueError):
        return None
    return when if when.tzinfo is not None else None


def without_headers(
    headers: Sequence[tuple[str, bytes]], *prefixes: str
) -> tuple[tuple[str, bytes], ...]:
    return tuple((key, value) for key, value in headers if not key.startswith(prefixes))


def parked_record(record: Record, *, attempt: int, due: datetime, reason: str) -> Record:
    """The record as it waits on the retry topic: same key and value, fresh retry headers."""
    headers = (
        *without_headers(record.headers, RETRY_PREFIX),
        (ATTEMPT_HEADER, str(attempt).encode()),
        (NOT_BEFORE_HEADER, due.isoformat().encode()),
        (REASON_HEADER, reason.encode()),
    )
    return Record(key=record.key, value=record.value, headers=headers)


def park_until(now: datetime, delay_s: float) -> datetime:
    return now + timedelta(seconds=delay_s)


def split_due(
    records: Sequence[Polled], now: datetime
) -> tuple[list[Polled], tuple[Polled, datetime] | None]:
    """The leading records of one retry partition that are due, and the first one that is not
    with its due time.

    The partition waits at its first record that is not due (everything after it stays
    unread for now), so retry records are never taken out of order.
    """
    for index, polled in enumerate(records):
        due = not_before(polled.record)
        if due is not None and due > now:
            return list(records[:index]), (polled, due)
    return list(records), None
