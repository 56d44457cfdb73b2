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

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from enricher.settings import RedriveSettings
from shared.batch import Polled
from shared.consumer_runtime import PUBLISH_ACK_TIMEOUT_S
from shared.errors import MalformedEvent
from shared.events import Record, from_record
from shared.kafka import Publisher, create_producer, read_from_beginning
from shared.retry_topic import RETRY_PREFIX, without_headers
from shared.topics import ensure_topics

LEDGER_SUFFIX = ".redriven"
FROM_HEADER = "redrive.from"
TIME_HEADER = "redrive.time"
_POLL_TIMEOUT_MS = 200


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
    done = {polled.record.key for polled in records_to_end(bootstrap, ledger)}
    moves: list[Polled] = []
    already_moved = 0
    group = settings.enricher_group_id.encode()
    for polled in records_to_end(bootstrap, settings.dead_letter_topic):
        if dict(polled.record.headers).get("dlq.group") != group:
            continue
        if polled.origin.encode() in done:
            already_moved += 1
        elif chosen.matches(polled.record):
            moves.append(polled)
    if moves and not dry_run:
        now = datetime.now(UTC)
        publisher = Publisher(create_producer(bootstrap), ack_timeout_s=PUBLISH_ACK_TIMEOUT_S)
        try:
            publisher.publish_all(
                settings.raw_topic,
                [redriven_record(polled.record, polled.origin, now) for polled in moves],
            )
            publisher.publish_all(
                ledger, [Record(key=polled.origin.encode(), value=b"") for polled in moves]
            )
        finally:
            publisher.close()
    return RedriveReport(len(moves), already_moved, dry_run)


def records_to_end(bootstrap_servers: str, topic: str) -> Iterator[Polled]:
    """Every record of ``topic`` from the beginning to (at least) its end offsets of now."""
    consumer = read_from_beginning(bootstrap_servers, topic)
    try:
        partitions = sorted(consumer.assignment())
        end = consumer.end_offsets(partitions)
        while any(consumer.position(partition) < end[partition] for partition in partitions):
            # Records past the end offsets are kept too: the embedded broker reports the
            # end of a multi-record batch short, and newer records do no harm.
            for partition, messages in consumer.poll(timeout_ms=_POLL_TIMEOUT_MS).items():
                for message in messages:
                    yield Polled(
                        partition,
                        message.offset,
                        Record(message.key, message.value, tuple(message.headers or ())),
                    )
    finally:
        consumer.close()
