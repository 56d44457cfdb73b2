"""Fixtures every test directory shares: a real Kafka-protocol broker and fresh topics.

The broker, once per session, in this order: ``KAFKA_BOOTSTRAP_SERVERS`` if set; a
testcontainers Kafka if a Docker daemon answers; else the embedded Tansu broker.
Each test gets its own topics and consumer group names, so tests never see each
other's records.
"""

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from devstack.broker import EmbeddedBroker
from shared.topic_reader import ReadRecord, TopicReader
from shared.topics import ensure_topics

# The suite's property tests draw the same examples on every run, so a red CI names a
# change, not an unlucky draw, and no example fails for being slow on a busy machine.
# `HYPOTHESIS_PROFILE=explore` draws new, and more, examples: the way to hunt for bugs.
settings.register_profile("default", derandomize=True, deadline=None, database=None)
settings.register_profile("explore", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
    elif _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
    else:
        with EmbeddedBroker() as broker:
            yield broker.bootstrap_servers


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Stop the run when a test reaches the broker without ``@pytest.mark.broker``.

    ``-m "not broker"`` is how a machine without a broker runs the rest; an unmarked test
    would start one there instead. Every fixture that needs the broker depends on
    ``kafka_bootstrap``, so a test's fixture closure says whether it does.
    """
    unmarked = [
        item.nodeid
        for item in items
        if "kafka_bootstrap" in getattr(item, "fixturenames", ())
        and item.get_closest_marker("broker") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests use the broker (kafka_bootstrap, or a fixture built on it) "
            "without @pytest.mark.broker; mark them:\n  " + "\n  ".join(unmarked)
        )


@dataclass(frozen=True)
class PipelineTopics:
    """Unique topic and group names for one test."""

    raw: str
    enriched: str
    dead_letter: str
    group_prefix: str
    retry: str

    def settings(self, bootstrap: str) -> dict[str, Any]:
        """Settings fields that point a service at these topics, retrying quickly."""
        return {
            "kafka_bootstrap_servers": bootstrap,
            "raw_topic": self.raw,
            "enriched_topic": self.enriched,
            "dead_letter_topic": self.dead_letter,
            "enricher_retry_topic": self.retry,
            "retry_backoff_base_s": 0.05,
            "retry_backoff_cap_s": 0.5,
        }

    def environment(self, bootstrap: str) -> dict[str, str]:
        """The same as environment variables, for services run as processes."""
        return {name.upper(): str(value) for name, value in self.settings(bootstrap).items()}


def fresh_topics(bootstrap: str, *, partitions: int) -> PipelineTopics:
    """The pipeline's topics under new names, created with ``partitions`` each."""
    suffix = uuid.uuid4().hex[:10]
    names = PipelineTopics(
        raw=f"raw-{suffix}",
        enriched=f"enriched-{suffix}",
        dead_letter=f"dlq-{suffix}",
        group_prefix=f"group-{suffix}",
        retry=f"retry-{suffix}",
    )
    ensure_topics(
        bootstrap,
        [names.raw, names.enriched, names.dead_letter, names.retry],
        partitions=partitions,
    )
    return names


@pytest.fixture
def topics(kafka_bootstrap: str) -> PipelineTopics:
    return fresh_topics(kafka_bootstrap, partitions=3)


@dataclass(frozen=True)
class KafkaRecordView:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]

    @classmethod
    def of(cls, read: ReadRecord) -> "KafkaRecordView":
        record = read.record
        headers = dict(record.headers)
        return cls(read.partition.partition, read.offset, record.key, record.value, headers)


ReadTopic = Callable[..., list[KafkaRecordView]]


@pytest.fixture
def read_topic(kafka_bootstrap: str) -> ReadTopic:
    """Read a topic from the start, without a consumer group.

    With ``count``: until that many records arrived (or ``timeout_s`` passed; the caller's
    assertion then fails). Without: everything up to the end offsets of this moment.
    """

    def read(
        topic: str, *, count: int | None = None, timeout_s: float = 30.0
    ) -> list[KafkaRecordView]:
        with TopicReader(kafka_bootstrap, topic) as reader:
            if count is None:
                found = reader.read_to_end(timeout_s=timeout_s)
            else:
                found = reader.read_at_least(count, timeout_s=timeout_s)
        return [KafkaRecordView.of(record) for record in found]

    return read


@pytest.fixture
def committed_total(kafka_bootstrap: str) -> Callable[[str], int]:
    """The sum of a consumer group's committed offsets over all its partitions."""
    from kafka import KafkaAdminClient

    def total(group_id: str) -> int:
        admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        try:
            offsets = admin.list_group_offsets(group_id).get(group_id, {})
        finally:
            admin.close()
        return sum(meta.offset for meta in offsets.values() if meta.offset > 0)

    return total


POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
"""A PostgreSQL server (this machine's and CI's) where tests may create databases."""


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL on each backend the notifier's ledger supports:
    a SQLite file in ``tmp_path``, or a new PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    name = f"ledger_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
