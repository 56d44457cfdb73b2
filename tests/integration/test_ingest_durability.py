"""Nothing accepted is lost: webhooks answered 202 while the broker is down, at start-up
or after a SIGKILL all reach the raw topic once the broker is back, once each and in
order per document.

Each test runs a broker of its own (memory-only: after a restart it has no topics, so the
raw topic is created again before anything is read).
"""

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from devstack.broker import EmbeddedBroker, free_port, wait_for_port
from devstack.processes import ServiceProcess
from ingest.settings import IngestSettings
from ingest.spool import Spool
from ingest.wiring import build_worker
from shared.topic_reader import TopicReader
from shared.topics import ensure_topics
from tests.conftest import KafkaRecordView
from tests.helpers import stop_at_once, wait_until

pytestmark = pytest.mark.broker

DOCUMENTS = ("34efe2ee-015e-11e6-9464-e4de0000006b", "1111-22dddw-2w3ed-222e30")
TYPES = ("CustomerOrder", "Demand", "InvoiceOut", "PaymentIn", "Move")


@pytest.fixture
def raw_topic() -> str:
    return f"raw-durability-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def broker(raw_topic: str) -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker(port=free_port())
    broker.start()
    ensure_topics(broker.bootstrap_servers, [raw_topic], partitions=3)
    try:
        yield broker
    finally:
        stop_at_once(broker)


def restart(broker: EmbeddedBroker, raw_topic: str) -> None:
    broker.start()
    ensure_topics(broker.bootstrap_servers, [raw_topic], partitions=3)


@contextmanager
def draining_paused(spool_dir: Path) -> Iterator[None]:
    """Hold the spool's drain lock, so that no ingest worker drains meanwhile.

    Around a broker restart: the embedded broker acknowledges records for a topic it does
    not have (it has none after a restart until they are created again) and drops them.
    """
    spool = Spool(spool_dir, write_timeout_s=5)
    deadline = time.monotonic() + 60
    while True:
        with spool.drain_lock() as held:
            if held:
                yield
                return
        assert time.monotonic() < deadline, "a drainer kept the drain lock"
        time.sleep(0.05)


def webhooks() -> list[dict[str, str]]:
    """Alternating documents, each going through its steps in order."""
    return [
        {"id": document_id, "type": type_name, "step": str(step)}
        for step, type_name in enumerate(TYPES)
        for document_id in DOCUMENTS
    ]


def read_all(
    bootstrap: str, topic: str, *, count: int, timeout_s: float = 60
) -> list[KafkaRecordView]:
    """Every record of ``topic``, once ``count`` arrived (or the time is up), and a little
    longer, so that a duplicate would show."""
    with TopicReader(bootstrap, topic) as reader:
        found = reader.read_at_least(count, timeout_s=timeout_s)
        found += reader.read_to_end(settle_s=1.0)
    return [KafkaRecordView.of(record) for record in found]


def assert_once_each_in_order(records: list[Any], sent: list[tuple[str, str]]) -> None:
    """``sent``: (document id, event id) in the order they were answered 202."""
    event_ids = [json.loads(record.value)["id"] for record in records]
    assert sorted(event_ids) == sorted(event_id for _, event_id in sent)  # once each
    for document_id in DOCUMENTS:
        mine = sorted(
            (r for r in records if r.key == document_id.encode()),
            key=lambda r: r.offset,
        )
        assert len({r.partition for r in mine}) == 1
        assert [json.loads(r.value)["id"] for r in mine] == [
            event_id for document, event_id in sent if document == document_id
        ]


def test_webhooks_answered_while_the_broker_is_down_reach_it_once_it_returns(
    broker: EmbeddedBroker, raw_topic: str, tmp_path: Path
) -> None:
    settings = IngestSettings(
        kafka_bootstrap_servers=broker.bootstrap_servers,
        raw_topic=raw_topic,
        ingest_publish_budget_ms=300,
        ingest_drain_interval_ms=100,
        ingest_spool_dir=tmp_path / "spool",
    )
    worker = build_worker(settings)
    durability = worker.durability
    durability.start()
    client: FlaskClient = worker.app.test_client()
    try:
        assert wait_until(lambda: client.get("/readyz").json["status"] == "ready", timeout_s=30)
        with draining_paused(settings.ingest_spool_dir):
            stop_at_once(broker)
            assert wait_until(
                lambda: client.get("/readyz").json["status"] == "spooling", timeout_s=30
            )
            sent = []
            for query in webhooks():
                response = client.post("/webhook", query_string=query)
                assert response.status_code == 202, response.get_data(as_text=True)
                sent.append((query["id"], response.json["event_id"]))

            ready = client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json["spool_depth"] == len(sent)
            assert ready.json["oldest_spooled_age_s"] >= 0
            scraped = client.get("/metrics").get_data(as_text=True)
            assert f"ingest_spool_depth {float(len(sent))}" in scraped
            restart(broker, raw_topic)
        assert wait_until(lambda: client.get("/readyz").json["spool_depth"] == 0, timeout_s=60)
        assert wait_until(lambda: client.get("/readyz").json["status"] == "ready", timeout_s=30)
    finally:
        durability.close(timeout_s=1)
    records = read_all(broker.bootstrap_servers, raw_topic, count=len(sent))
    assert_once_each_in_order(records, sent)


def _ingest(port: int, bootstrap: str, raw_topic: str, tmp_path: Path) -> ServiceProcess:
    return ServiceProcess(
        "ingest",
        {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "RAW_TOPIC": raw_topic,
            "INGEST_PORT": str(port),
            "INGEST_WORKERS": "2",
            "INGEST_PUBLISH_BUDGET_MS": "300",
            "INGEST_DRAIN_INTERVAL_MS": "100",
            "INGEST_SPOOL_DIR": str(tmp_path / "spool"),
        },
        log_dir=tmp_path,
    )


def _readyz(base_url: str) -> dict[str, Any] | None:
    try:
        body: dict[str, Any] = requests.get(f"{base_url}/readyz", timeout=5).json()
    except requests.RequestException:
        return None
    return body


def _post_all(base_url: str) -> list[tuple[str, str]]:
    sent = []
    for query in webhooks():
        response = requests.post(f"{base_url}/webhook", params=query, timeout=10)
        assert response.status_code == 202, response.text
        sent.append((query["id"], response.json()["event_id"]))
    return sent


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def test_ingest_starts_and_accepts_webhooks_while_the_broker_is_unreachable(
    raw_topic: str, tmp_path: Path
) -> None:
    broker = EmbeddedBroker(port=free_port())  # not started yet
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    service = _ingest(port, broker.bootstrap_servers, raw_topic, tmp_path).start()
    try:
        with draining_paused(tmp_path / "spool"):
            wait_for_port("127.0.0.1", port, timeout_s=60)
            assert wait_until(
                lambda: (_readyz(base_url) or {}).get("status") == "spooling", timeout_s=60
            ), service.log_path.read_text()
            sent = _post_all(base_url)
            assert (_readyz(base_url) or {}).get("spool_depth") == len(sent)
            restart(broker, raw_topic)
        assert wait_until(
            lambda: (_readyz(base_url) or {}).get("spool_depth") == 0, timeout_s=90
        ), service.log_path.read_text()
        records = read_all(broker.bootstrap_servers, raw_topic, count=len(sent))
    finally:
        assert service.stop(timeout_s=30) == 0, service.log_path.read_text()
        stop_at_once(broker)
    assert_once_each_in_order(records, sent)


def test_a_sigkilled_ingest_loses_nothing_it_answered_202(raw_topic: str, tmp_path: Path) -> None:
    broker = EmbeddedBroker(port=free_port())  # down while the first ingest runs
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    killed = _ingest(port, broker.bootstrap_servers, raw_topic, tmp_path).start()
    try:
        wait_for_port("127.0.0.1", port, timeout_s=60)
        sent = _post_all(base_url)
        # The workers first, so that none of them drains or even exits cleanly.
        workers = _children(killed.pid)
        assert workers
        for worker in workers:
            os.kill(worker, signal.SIGKILL)
        killed.signal(signal.SIGKILL)
    finally:
        killed.stop(timeout_s=10)
    assert wait_until(lambda: not any(map(_alive, workers)), timeout_s=30)

    restart(broker, raw_topic)
    successor = _ingest(port, broker.bootstrap_servers, raw_topic, tmp_path).start()
    try:
        wait_for_port("127.0.0.1", port, timeout_s=60)
        assert wait_until(
            lambda: (_readyz(base_url) or {}).get("spool_depth") == 0, timeout_s=90
        ), successor.log_path.read_text()
        records = read_all(broker.bootstrap_servers, raw_topic, count=len(sent))
    finally:
        successor.stop(timeout_s=30)
        stop_at_once(broker)
    assert_once_each_in_order(records, sent)
