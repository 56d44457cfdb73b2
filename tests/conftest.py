"""Fixtures every test directory shares: a real Kafka-protocol broker and fresh topics.

The broker, once per session, in this order: ``KAFKA_BOOTSTRAP_SERVERS`` if set; a
testcontainers Kafka if a Docker daemon answers and has (or can pull) Kafka's image
(tests/docker_kafka.py); else the embedded Tansu broker.
Each test gets its own topics and consumer group names, so tests never see each
other's records.

Under pytest-xdist (``make test``) each worker is a session of its own: it starts its own
container or Tansu broker, and with ``KAFKA_BOOTSTRAP_SERVERS`` all workers share that
one broker, which the fresh names per test make safe.
"""

import fcntl
import itertools
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from devstack.broker import EmbeddedBroker
from shared.topic_reader import ReadRecord, TopicReader
from shared.topics import ensure_topics
from tests.docker_kafka import kafka_container
from tests.helpers import stop_at_once

# The suite's property tests draw the same examples on every run, so a red CI names a
# change, not an unlucky draw, and no example fails for being slow on a busy machine.
# `HYPOTHESIS_PROFILE=explore` draws new, and more, examples: the way to hunt for bugs.
settings.register_profile("default", derandomize=True, deadline=None, database=None)
settings.register_profile("explore", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    with kafka_container() as container:
        if container is not None:
            yield container
            return
    broker = EmbeddedBroker()
    broker.start()
    try:
        yield broker.bootstrap_servers
    finally:
        # Not SIGTERM: Tansu would wait 5 s for any client still connected.
        stop_at_once(broker)


@pytest.hookimpl(trylast=True)  # after -k and -m deselected: the order is of what runs
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Stop the run when a test reaches the broker without ``@pytest.mark.broker``; under
    xdist, order the tests for its workers (:func:`_worksteal_order`).

    ``-m "not broker"`` is how a machine without a broker runs the rest; an unmarked test
    would start one there instead. Every fixture that needs the broker depends on
    ``kafka_bootstrap``, so a test's fixture closure says whether it does.
    """
    workerinput: dict[str, Any] = getattr(config, "workerinput", {})
    workers = int(workerinput.get("workercount", 1))
    if workers > 1:
        items[:] = _worksteal_order(items, workers)
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


def _worksteal_order(items: list[pytest.Item], workers: int) -> list[pytest.Item]:
    """The tests in the order that starts the slow ones first, on every worker at once.

    ``--dist worksteal`` first gives worker k the k-th of ``workers`` contiguous slices
    of this order (each ``len(left) // workers_left`` long); later an idle worker takes the
    back half of the longest queue. In collection order every end-to-end test would head
    the first slice and run one after another there, the run's critical path; here each
    heads a slice in turn. The ``alone`` tests go first: each waits for the tests running
    beside it to end, which at the start are the first of their slices, not the minute of
    the scenario run. Every worker computes the same order, as xdist requires; should
    xdist split otherwise, the slow tests are still spread through the run.
    """
    alone = [item for item in items if item.get_closest_marker("alone")]
    slow = [item for item in items if item.get_closest_marker("e2e") and item not in alone]
    rest = iter(item for item in items if item not in alone and item not in slow)
    heads: list[list[pytest.Item]] = [[] for _ in range(workers)]
    heads[0].extend(alone)
    for number, item in enumerate(slow):
        heads[number % workers].append(item)
    ordered: list[pytest.Item] = []
    left = len(items)
    for worker, head in enumerate(heads):
        size = left // (workers - worker)
        left -= size
        ordered += head
        ordered += itertools.islice(rest, max(0, size - len(head)))
    return ordered + list(rest)


_TURNS_DIRECTORY = "kladana_turns_directory"
"""The ``workerinput`` key of the directory whose lock files the workers take turns by."""
_turns_directory_key = pytest.StashKey[Path]()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist's controller, for each worker: where the run's workers take turns."""
    config = node.config
    if _turns_directory_key not in config.stash:
        config.stash[_turns_directory_key] = Path(tempfile.mkdtemp(prefix="pytest-turns-"))
    node.workerinput[_TURNS_DIRECTORY] = str(config.stash[_turns_directory_key])


def pytest_unconfigure(config: pytest.Config) -> None:
    if _turns_key in config.stash:  # a worker
        config.stash[_turns_key].close()
    if _turns_directory_key in config.stash:  # the controller
        shutil.rmtree(config.stash[_turns_directory_key], ignore_errors=True)


class _Turns:
    """One worker's side of a readers-writer lock over the run's workers: an ``alone``
    test runs while no other test does, the others run side by side.

    flock, so a worker that dies lets go of its locks. The turnstile keeps the others
    from starting tests while an ``alone`` test waits for the running ones to end; a run
    of ``alone`` tests keeps both locks from the first to the last. And a worker whose
    first test is not ``alone`` waits, a bounded while, for the ``alone`` tests to start
    first (they head the first worker's queue, :func:`_worksteal_order`), so that they
    do not wait for the slow tests that head the other queues.
    """

    GATE_S = 30.0
    """How long a worker waits for the ``alone`` tests to start before its first test: an
    optimisation only, the locks keep them alone in any case."""

    def __init__(self, directory: Path, *, alone_in_run: bool) -> None:
        # Open for the worker's whole session: closed, a file lets go of its lock.
        self._turnstile = (directory / "turnstile").open("a")
        self._running = (directory / "running").open("a")
        self._started = directory / "alone-started"
        self._wait_for_alone = alone_in_run
        self._exclusive = False

    @contextmanager
    def turn(self, *, alone: bool, next_alone: bool) -> Iterator[None]:
        if self._wait_for_alone and not alone:
            deadline = time.monotonic() + self.GATE_S
            while not self._started.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        self._wait_for_alone = False
        if not self._exclusive:
            fcntl.flock(self._turnstile, fcntl.LOCK_EX)
            if alone:
                self._started.touch()
                fcntl.flock(self._running, fcntl.LOCK_EX)
                self._exclusive = True
            else:
                fcntl.flock(self._running, fcntl.LOCK_SH)
                fcntl.flock(self._turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            if not (self._exclusive and next_alone):
                fcntl.flock(self._running, fcntl.LOCK_UN)
                if self._exclusive:
                    fcntl.flock(self._turnstile, fcntl.LOCK_UN)
                    self._exclusive = False

    def close(self) -> None:
        self._turnstile.close()
        self._running.close()


_turns_key = pytest.StashKey[_Turns]()


def _is_alone(item: pytest.Item | None) -> bool:
    return item is not None and item.get_closest_marker("alone") is not None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    """Under xdist, every test (set-up, call and teardown) takes its turn: ``alone`` tests,
    judged by a real clock against a rate or a latency, run with no other worker's load
    beside them; without xdist there is no one else."""
    workerinput: dict[str, Any] = getattr(item.config, "workerinput", {})
    directory = workerinput.get(_TURNS_DIRECTORY)
    if directory is None:
        return (yield)
    if _turns_key not in item.config.stash:
        alone_in_run = any(_is_alone(test) for test in item.session.items)
        item.config.stash[_turns_key] = _Turns(Path(directory), alone_in_run=alone_in_run)
    with item.config.stash[_turns_key].turn(alone=_is_alone(item), next_alone=_is_alone(nextitem)):
        return (yield)


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
