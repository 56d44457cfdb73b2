"""The pipeline at a glance, read from the broker and the ledger: what ``python -m shared.status``
prints. Reads only: no consumer group is joined, no offset committed, no schema created.
"""

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer
from kafka.structs import TopicPartition
from pydantic import Field
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from notifier.errors import LedgerUnavailable
from notifier.ledger import Ledger
from notifier.ledger_schema import database_url, printable_url
from shared.settings import KafkaSettings
from shared.topics import DEFAULT_RETRY_TOPIC

_POLL_MS = 500
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
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False
    )
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        partitions = [
            TopicPartition(topic, number)
            for topic in settings.topics()
            for number in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        ends: dict[TopicPartition, int] = consumer.end_offsets(partitions)
        beginnings: dict[TopicPartition, int] = consumer.beginning_offsets(partitions)
        groups = [
            group_lag(group, topic, _committed(admin, group), ends, beginnings)
            for group, topics in settings.groups().items()
            for topic in topics
        ]
        dead_letters = count_dead_letters(consumer, settings.dead_letter_topic, partitions, ends)
    finally:
        admin.close()
        consumer.close()
    end_offsets: dict[str, dict[int, int]] = {topic: {} for topic in settings.topics()}
    for partition, end in ends.items():
        end_offsets[partition.topic][partition.partition] = end
    return PipelineStatus(
        end_offsets, groups, dead_letters, notifications(settings.notifier_database_url, now)
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


def count_dead_letters(
    consumer: KafkaConsumer,
    topic: str,
    partitions: list[TopicPartition],
    ends: dict[TopicPartition, int],
) -> list[DeadLetterCount]:
    """Every dead letter up to the end offsets of now, counted by error class and group."""
    wanted = [p for p in partitions if p.topic == topic and ends[p] > 0]
    if not wanted:
        return []
    consumer.assign(wanted)
    consumer.seek_to_beginning(*wanted)
    counts: Counter[tuple[str, str]] = Counter()
    latest: dict[tuple[str, str], tuple[str, str]] = {}
    deadline = time.monotonic() + _READ_TIMEOUT_S
    while any(consumer.position(p) < ends[p] for p in wanted) and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=_POLL_MS).values():
            for record in records:
                headers = {name: value.decode(errors="replace") for name, value in record.headers}
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
