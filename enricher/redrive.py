"""``python -m enricher redrive``: move the enricher's dead letters back to the raw topic.

Each moved record is the original (key, value, its own headers) without the ``dlq.*``
and ``retry.*`` headers, plus ``redrive.from`` (the dead letter's topic/partition/offset)
and ``redrive.time``. Only records the enricher's group dead-lettered are candidates:
the notifier's dead letters share the topic but are not raw events.

A second run never moves the same dead letter again: after the raw topic acknowledged
the moved records, their positions are written to the ledger topic
``<DEAD_LETTER_TOPIC>.redriven``, which every run reads first. (A crash between those
two writes moves those records once more: a duplicate, never a loss.)
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from enricher.settings import RedriveSettings
from shared.consumer_service import PUBLISH_ACK_TIMEOUT_S
from shared.errors import MalformedEvent
from shared.events import Record, from_record
from shared.kafka import Publisher, create_producer
from shared.retry_topic import RETRY_PREFIX, without_headers
from shared.topic_reader import ReadRecord, read_topic
from shared.topics import ensure_topics

LEDGER_SUFFIX = ".redriven"
FROM_HEADER = "redrive.from"
TIME_HEADER = "redrive.time"
# Reading a whole dead-letter topic: generous, yet an unanswering broker ends the run.
_READ_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class RedriveFilter:
    """Which dead letters to move; every given condition must hold."""

    type_name: str | None = None
    """The raw event's transaction type, e.g. CustomerOrder."""
    reason: str | None = None
    """A part of ``dlq.reason``, case ignored."""
    since: datetime | None = None
    until: datetime | None = None
    """Bounds on ``dlq.time`` (when it was dead-lettered): since <= time < until."""

    def matches(self, record: Record) -> bool:
        headers = dict(record.headers)
        reason = headers.get("dlq.reason", b"").decode(errors="replace")
        if self.reason is not None and self.reason.lower() not in reason.lower():
            return False
        if self.since is not None or self.until is not None:
            when = _time(headers.get("dlq.time"))
            if when is None:
                return False
            if (self.since is not None and when < self.since) or (
                self.until is not None and when >= self.until
            ):
                return False
        return self.type_name is None or transaction_type_of(record) == self.type_name


def _time(value: bytes | None) -> datetime | None:
    try:
        when = datetime.fromisoformat(value.decode()) if value is not None else None
    except (UnicodeDecodeError, ValueError):
        return None
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


def transaction_type_of(record: Record) -> str | None:
    """The raw event's ``data.type``; None for a record that is not a readable event."""
    try:
        data = from_record(record).get_data()
    except MalformedEvent:
        return None
    type_name = data.get("type") if isinstance(data, dict) else None
    return type_name if isinstance(type_name, str) else None


def redriven_record(record: Record, origin: str, now: datetime) -> Record:
    headers = (
        *without_headers(record.headers, "dlq.", RETRY_PREFIX),
        (FROM_HEADER, origin.encode()),
        (TIME_HEADER, now.isoformat().encode()),
    )
    return Record(key=record.key, value=record.value, headers=headers)


@dataclass(frozen=True)
class RedriveReport:
    moved: int
    """Records moved (or, on a dry run, that would be)."""
    already_moved: int
    """Matching or not, dead letters an earlier run moved: skipped."""
    dry_run: bool

    def summary(self, raw_topic: str) -> str:
        verb = "would move" if self.dry_run else "moved"
        return (
            f"{verb} {self.moved} dead-letter records to {raw_topic} "
            f"({self.already_moved} moved by earlier runs skipped)"
        )


def redrive(settings: RedriveSettings, chosen: RedriveFilter, *, dry_run: bool) -> RedriveReport:
    bootstrap = settings.kafka_bootstrap_servers
    ledger = settings.dead_letter_topic + LEDGER_SUFFIX
    ensure_topics(bootstrap, [ledger], partitions=1)
    done = {moved.record.key for moved in read_topic(bootstrap, ledger, timeout_s=_READ_TIMEOUT_S)}
    moves: list[ReadRecord] = []
    already_moved = 0
    group = settings.enricher_group_id.encode()
    for letter in read_topic(bootstrap, settings.dead_letter_topic, timeout_s=_READ_TIMEOUT_S):
        if dict(letter.record.headers).get("dlq.group") != group:
            continue
        if letter.origin.encode() in done:
            already_moved += 1
        elif chosen.matches(letter.record):
            moves.append(letter)
    if moves and not dry_run:
        now = datetime.now(UTC)
        publisher = Publisher(create_producer(bootstrap), ack_timeout_s=PUBLISH_ACK_TIMEOUT_S)
        try:
            publisher.publish_all(
                settings.raw_topic,
                [redriven_record(letter.record, letter.origin, now) for letter in moves],
            )
            publisher.publish_all(
                ledger, [Record(key=letter.origin.encode(), value=b"") for letter in moves]
            )
        finally:
            publisher.close()
    return RedriveReport(len(moves), already_moved, dry_run)
