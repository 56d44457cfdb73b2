"""The pipeline at a glance, read from the broker and the ledger: what ``python -m ops.status``
prints. Reads only: no consumer group is joined, no offset committed, no schema created.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.structs import TopicPartition
from pydantic import Field
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from notifier.errors import LedgerUnavailable
from notifier.ledger import Ledger
from notifier.ledger_schema import database_url, printable_url
from shared.settings import KafkaSettings
from shared.topic_reader import ReadRecord, TopicReader, read_topic
from shared.topics import DEFAULT_RETRY_TOPIC

_READ_TIMEOUT_S = 30.0


class StatusSettings(KafkaSettings):
    """The same variables the services read, so the command sees what they use."""

    enricher_retry_topic: str = DEFAULT_RETRY_TOPIC
    enricher_group_id: str = Field(default="enricher", min_length=1)
    notifier_group_id: str = Field(default="notifier", min_length=1)
    notifier_database_url: str | None = None
    """Unset: the notifications part is left out (the command says so)."""

    def topics(self) -> list[str]:
        return [
            self.raw_topic,
            self.enricher_retry_topic,
            self.enriched_topic,
            self.dead_letter_topic,
        ]

    def groups(self) -> dict[str, list[str]]:
        """Each consumer group and the topics it reads."""
        return {
            self.enricher_group_id: [self.raw_topic, self.enricher_retry_topic],
            self.notifier_group_id: [self.enriched_topic],
        }


@dataclass(frozen=True)
class PartitionLag:
    partition: int
    committed: int | None
    """None: the group never committed here; it starts at the beginning offset."""
    end_offset: int
    lag: int


@dataclass(frozen=True)
class GroupLag:
    group: str
    topic: str
    partitions: list[PartitionLag]

    @property
    def lag(self) -> int:
        return sum(partition.lag for partition in self.partitions)


@dataclass(frozen=True)
class DeadLetterCount:
    """Dead letters of one error class from one group; ``last_*`` from the latest of them."""

    error: str
    group: str
    count: int
    last_reason: str
    last_time: str


@dataclass(frozen=True)
class Notifications:
    since: datetime
    by_status: dict[str, int] = field(default_factory=dict)
    note: str | None = None
    """Why the counts are missing (no ledger configured, or not reachable)."""


@dataclass(frozen=True)
class PipelineStatus:
    end_offsets: dict[str, dict[int, int]]
    """Topic -> partition -> end offset; a missing topic has no partitions."""
    groups: list[GroupLag]
    dead_letters: list[DeadLetterCount]
    notifications: Notifications


def pipeline_status(settings: StatusSettings, now: datetime) -> PipelineStatus:
    """Raises KafkaError, or TopicReadTimeout when the dead letters cannot be read in time."""
    bootstrap = settings.kafka_bootstrap_servers
    with TopicReader(bootstrap, settings.topics()) as topics:
        ends = topics.end_offsets()
        beginnings = topics.beginning_offsets()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        groups = [
            group_lag(group, topic, _committed(admin, group), ends, beginnings)
            for group, topics in settings.groups().items()
            for topic in topics
        ]
    finally:
        admin.close()
    letters = read_topic(bootstrap, settings.dead_letter_topic, timeout_s=_READ_TIMEOUT_S)
    end_offsets: dict[str, dict[int, int]] = {topic: {} for topic in settings.topics()}
    for partition, end in ends.items():
        end_offsets[partition.topic][partition.partition] = end
    return PipelineStatus(
        end_offsets,
        groups,
        count_dead_letters(letters),
        notifications(settings.notifier_database_url, now),
    )


def _committed(admin: KafkaAdminClient, group: str) -> dict[TopicPartition, int]:
    offsets = admin.list_group_offsets(group).get(group, {})
    return {partition: meta.offset for partition, meta in offsets.items() if meta.offset >= 0}


def group_lag(
    group: str,
    topic: str,
    committed: dict[TopicPartition, int],
    ends: dict[TopicPartition, int],
    beginnings: dict[TopicPartition, int],
) -> GroupLag:
    """The group's lag on each partition of ``topic``: records after its committed offset."""
    rows = []
    for partition in sorted(p for p in ends if p.topic == topic):
        offset = committed.get(partition)
        start = offset if offset is not None else beginnings.get(partition, 0)
        end = ends[partition]
        rows.append(PartitionLag(partition.partition, offset, end, max(end - start, 0)))
    return GroupLag(group, topic, rows)


def count_dead_letters(letters: list[ReadRecord]) -> list[DeadLetterCount]:
    """Dead letters counted by error class and group, most first."""
    counts: Counter[tuple[str, str]] = Counter()
    latest: dict[tuple[str, str], tuple[str, str]] = {}
    for letter in letters:
        headers = {name: value.decode(errors="replace") for name, value in letter.record.headers}
        key = (headers.get("dlq.error", "unknown"), headers.get("dlq.group", "unknown"))
        counts[key] += 1
        moment = headers.get("dlq.time", "")
        if moment >= latest.get(key, ("", ""))[1]:
            latest[key] = (headers.get("dlq.reason", ""), moment)
    return [
        DeadLetterCount(error, group, count, *latest[(error, group)])
        for (error, group), count in counts.most_common()
    ]


def notifications(url: str | None, now: datetime) -> Notifications:
    """The ledger's rows of the last hour by status, or a note saying why there are none."""
    since = now - timedelta(hours=1)
    if url is None:
        return Notifications(since, note="NOTIFIER_DATABASE_URL not set: ledger not read")
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        # Connecting would create an empty file where the ledger was expected.
        return Notifications(since, note=f"no ledger file at {parsed.database}")
    engine = create_engine(database_url(url))
    try:
        counts = Ledger(engine).counts_by_status(since)
    except LedgerUnavailable as error:
        return Notifications(since, note=f"ledger {printable_url(url)} not readable: {error}")
    finally:
        engine.dispose()
    return Notifications(since, {str(status): count for status, count in sorted(counts.items())})
