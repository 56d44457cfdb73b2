"""Horizontal scaling and clean shutdown with real ``python -m enricher`` processes.

Three replicas split six partitions; one killed with SIGKILL has its partitions and
events taken over by the other two; one stopped with SIGTERM during a steady stream
exits 0 within SHUTDOWN_TIMEOUT_S, loses nothing and makes no committed event be
enriched again. The notifier, stopped with SIGTERM, exits 0 and leaves its group.

Who owns which partitions comes from each process's "partitions assigned" log line
(shared/kafka.py): the embedded broker's group descriptions are not readable with
kafka-python's admin client.
"""

import json
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, TopicPartition

from devstack.http_server import BackgroundServer
from devstack.processes import ServiceProcess
from sandbox.app import API_PREFIX
from sandbox.app import create_app as create_sandbox
from sandbox.faults import Faults
from shared import topic_reader
from shared.events import ENRICHED_DOCUMENT, to_record
from shared.kafka import Publisher, create_consumer, create_producer
from tests.conftest import KafkaRecordView, PipelineTopics, ReadTopic, fresh_topics
from tests.enricher_fakes import raw_event
from tests.helpers import wait_until

pytestmark = pytest.mark.broker

TOKEN = "scaling-token"
PARTITIONS = 6
SHUTDOWN_TIMEOUT_S = 15


@pytest.fixture
def six_partitions(kafka_bootstrap: str) -> PipelineTopics:
    return fresh_topics(kafka_bootstrap, partitions=PARTITIONS)


@pytest.fixture
def enricher_environment(
    kafka_bootstrap: str, six_partitions: PipelineTopics
) -> Iterator[dict[str, str]]:
    """One replica's environment, against the sandbox synthesizing any document. The
    replicas split one token's Kladana budget (docs/enricher.md, "Several instances")."""
    sandbox = create_sandbox(token=TOKEN, faults=Faults(latency_ms=20, synthesize=True))
    with BackgroundServer(sandbox) as server:
        yield {
            **six_partitions.environment(kafka_bootstrap),
            "KLADANA_API_URL": server.url + API_PREFIX,
            "KLADANA_TOKEN": TOKEN,
            "KLADANA_RATE_UNITS": "15",
            "KLADANA_MAX_PARALLEL": "1",
            "ENRICHER_GROUP_ID": f"{six_partitions.group_prefix}-enricher",
            "SHUTDOWN_TIMEOUT_S": str(SHUTDOWN_TIMEOUT_S),
        }


@contextmanager
def replicas(
    count: int, environment: dict[str, str], log_dir: Path
) -> Iterator[list[ServiceProcess]]:
    """``count`` enricher processes in one group; whatever still runs is stopped after."""
    with ExitStack() as stack:
        started = []
        for number in range(count):
            service = ServiceProcess("enricher", environment, log_dir=log_dir / f"replica-{number}")
            stack.callback(service.stop)
            started.append(service.start())
        yield started


def assigned(service: ServiceProcess, topic: str) -> set[int] | None:
    """The partitions of ``topic`` named by the process's latest assignment; None before one."""
    latest = None
    for line in service.log_path.read_text().splitlines():
        entry = json.loads(line) if line.startswith("{") else {}
        if entry.get("message") == "partitions assigned":
            latest = {
                int(name.rpartition("/")[2])
                for name in entry["partitions"]
                if name.rpartition("/")[0] == topic
            }
    return latest


def split_between(services: list[ServiceProcess], topic: str) -> bool:
    """Every partition of ``topic`` owned by exactly one of ``services``, each owning some."""
    owned = [assigned(service, topic) for service in services]
    if any(not partitions for partitions in owned):
        return False
    every = [p for partitions in owned for p in partitions or ()]
    return sorted(every) == list(range(PARTITIONS))


class Stream:
    """Publishes a raw event about a new document every ``interval_s`` until stopped."""

    def __init__(self, bootstrap: str, topic: str, *, interval_s: float = 0.1) -> None:
        self.raw_ids: list[str] = []
        self._publisher = Publisher(create_producer(bootstrap), ack_timeout_s=10)
        self._topic = topic
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="raw-stream")

    def __enter__(self) -> "Stream":
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._publisher.close()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            event = raw_event(str(uuid.uuid4()))
            self._publisher.publish(self._topic, to_record(event))
            self.raw_ids.append(event.get_id())


def enriched_ids(records: list[KafkaRecordView]) -> list[str]:
    """The raw event ids of the enriched events, repeated as often as they were enriched."""
    envelopes = [json.loads(record.value) for record in records]
    return [e["data"]["raw_event_id"] for e in envelopes if e["type"] == ENRICHED_DOCUMENT.type]


def all_enriched(read_topic: ReadTopic, topic: str, raw_ids: list[str]) -> bool:
    if set(enriched_ids(read_topic(topic))) >= set(raw_ids):
        return True
    time.sleep(0.5)  # each look opens a consumer: not twenty times a second
    return False


def logs(services: list[ServiceProcess]) -> str:
    return "\n".join(service.log_path.read_text()[-3000:] for service in services)


def test_three_replicas_split_six_partitions_and_two_finish_the_events_of_a_killed_one(
    kafka_bootstrap: str,
    six_partitions: PipelineTopics,
    enricher_environment: dict[str, str],
    read_topic: ReadTopic,
    tmp_path: Path,
) -> None:
    raw = six_partitions.raw
    with replicas(3, enricher_environment, tmp_path) as services:
        assert wait_until(lambda: split_between(services, raw)), logs(services)
        assert [len(assigned(service, raw) or ()) for service in services] == [2, 2, 2]

        victim, *survivors = services
        victim_partitions = assigned(victim, raw) or set()
        with Stream(kafka_bootstrap, raw) as stream:
            assert wait_until(lambda: len(read_topic(six_partitions.enriched)) >= 10)
            victim.signal(signal.SIGKILL)
            enriched_at_kill = set(enriched_ids(read_topic(six_partitions.enriched)))
            assert wait_until(lambda: split_between(survivors, raw)), logs(survivors)
        assert wait_until(
            lambda: all_enriched(read_topic, six_partitions.enriched, stream.raw_ids),
            timeout_s=120,
        ), logs(survivors)
        assert victim.stop() == -signal.SIGKILL
        assert [service.stop(timeout_s=SHUTDOWN_TIMEOUT_S + 30) for service in survivors] == [0, 0]

    # The victim's partitions held events it had not enriched when it died; the
    # survivors enriched them.
    unfinished = {
        json.loads(record.value)["id"]
        for record in read_topic(raw)
        if record.partition in victim_partitions
    } - enriched_at_kill
    assert unfinished
    assert read_topic(six_partitions.dead_letter) == []


def committed_offsets(bootstrap: str, group_id: str) -> dict[TopicPartition, int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets(group_id).get(group_id, {})
    finally:
        admin.close()
    return {partition: meta.offset for partition, meta in offsets.items() if meta.offset >= 0}


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    return {tp.partition: end for tp, end in topic_reader.end_offsets(bootstrap, topic).items()}


def test_a_replica_stopped_during_a_steady_stream_exits_0_and_loses_or_redoes_nothing(
    kafka_bootstrap: str,
    six_partitions: PipelineTopics,
    enricher_environment: dict[str, str],
    read_topic: ReadTopic,
    tmp_path: Path,
) -> None:
    raw, enriched = six_partitions.raw, six_partitions.enriched
    with replicas(2, enricher_environment, tmp_path) as services:
        assert wait_until(lambda: split_between(services, raw)), logs(services)
        stopped, survivor = services
        with Stream(kafka_bootstrap, raw) as stream:
            assert wait_until(lambda: len(read_topic(enriched)) >= 20)
            # Committed first: an offset commits only after its enriched event was
            # acknowledged, so the end offsets read next lie past every one of them.
            committed = committed_offsets(
                kafka_bootstrap, enricher_environment["ENRICHER_GROUP_ID"]
            )
            enriched_before = end_offsets(kafka_bootstrap, enriched)
            # Past the bound the watchdog would exit with 124 instead.
            assert stopped.stop(timeout_s=SHUTDOWN_TIMEOUT_S + 30) == 0, logs([stopped])
            assert wait_until(lambda: split_between([survivor], raw)), logs(services)
            time.sleep(1)  # the stream goes on a little under the survivor alone
        assert wait_until(
            lambda: all_enriched(read_topic, enriched, stream.raw_ids), timeout_s=120
        ), logs([survivor])
        assert survivor.stop(timeout_s=SHUTDOWN_TIMEOUT_S + 30) == 0

    assert "enricher stopped" in stopped.log_path.read_text()
    committed_ids = {
        json.loads(record.value)["id"]
        for record in read_topic(raw)
        if record.offset < committed.get(TopicPartition(raw, record.partition), 0)
    }
    records = read_topic(enriched)
    before = [r for r in records if r.offset < enriched_before[r.partition]]
    after = [r for r in records if r.offset >= enriched_before[r.partition]]
    # Committed and enriched before the SIGTERM: enriched again after it would be a
    # duplicate the clean stop should have spared. (A committed event may still be
    # enriched after it for the first time: one parked on the retry topic.)
    done_before = committed_ids & set(enriched_ids(before))
    assert done_before, "nothing committed before the SIGTERM: the test proves nothing"
    assert after, "nothing enriched after the SIGTERM: the test proves nothing"
    assert done_before.isdisjoint(enriched_ids(after))


def test_the_notifier_exits_0_on_sigterm_and_the_member_that_stays_takes_its_partitions(
    kafka_bootstrap: str, topics: PipelineTopics, tmp_path: Path
) -> None:
    group = f"{topics.group_prefix}-notifier"
    notifier = ServiceProcess(
        "notifier",
        {
            **topics.environment(kafka_bootstrap),
            "NOTIFIER_GROUP_ID": group,
            "NOTIFIER_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
            "SMS_PROVIDER": "console",
            "METRICS_PORT": "0",
            "SHUTDOWN_TIMEOUT_S": str(SHUTDOWN_TIMEOUT_S),
        },
        log_dir=tmp_path,
    ).start()
    owned: list[int] = [0]
    stop = threading.Event()

    def companion() -> None:
        consumer = create_consumer(kafka_bootstrap, group_id=group, topic=topics.enriched)
        try:
            while not stop.is_set():
                consumer.poll(timeout_ms=200)
                owned[0] = len(consumer.assignment())
        finally:
            consumer.close()

    thread = threading.Thread(target=companion, name="companion")
    try:
        assert wait_until(lambda: bool(assigned(notifier, topics.enriched))), logs([notifier])
        thread.start()
        assert wait_until(lambda: 0 < owned[0] < 3), logs([notifier])
        assert notifier.stop(timeout_s=SHUTDOWN_TIMEOUT_S + 30) == 0, logs([notifier])
        # The member that stays takes over every partition. (The loop closes its
        # consumer, which sends LeaveGroup; on Apache Kafka that hands the partitions
        # over at once. The embedded broker takes seconds to rebalance after it, about as
        # long as a session expiry, so timing cannot tell leaving from expiring here.)
        assert wait_until(lambda: owned[0] == 3, timeout_s=60)
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()
        notifier.stop()
    assert "notifier stopped" in notifier.log_path.read_text()
