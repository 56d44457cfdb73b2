"""The ingest app publishing to a real broker through the durable sink it runs with."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from ingest.settings import IngestSettings
from ingest.wiring import Worker, build_worker
from shared.contracts import validate_envelope
from tests.conftest import PipelineTopics, ReadTopic
from tests.helpers import wait_until

pytestmark = pytest.mark.broker

DOCUMENT_ID = "34efe2ee-015e-11e6-9464-e4de0000006b"
OTHER_DOCUMENT_ID = "1111-22dddw-2w3ed-222e30"


@pytest.fixture
def settings(kafka_bootstrap: str, topics: PipelineTopics, tmp_path: Path) -> IngestSettings:
    return IngestSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        raw_topic=topics.raw,
        # The most allowed: other test sessions share this machine's two cores. A webhook
        # that still misses it is spooled, then drained: every assertion below holds anyway.
        ingest_publish_budget_ms=1000,
        ingest_drain_interval_ms=100,
        ingest_spool_dir=tmp_path / "spool",
    )


@pytest.fixture
def worker(settings: IngestSettings) -> Iterator[Worker]:
    worker = build_worker(settings)
    worker.durability.start()
    try:
        assert wait_until(lambda: worker.durability.sink.status().broker_connected, timeout_s=30)
        yield worker
    finally:
        worker.durability.close(timeout_s=1)


@pytest.fixture
def client(worker: Worker) -> FlaskClient:
    return worker.app.test_client()


def test_webhooks_land_on_the_raw_topic_keyed_by_document(
    client: FlaskClient, topics: PipelineTopics, read_topic: ReadTopic
) -> None:
    event_ids = []
    for method in ("POST", "GET"):
        response = client.open(
            "/webhook", method=method, query_string={"id": DOCUMENT_ID, "type": "CustomerOrder"}
        )
        assert response.status_code == 202, response.get_data(as_text=True)
        event_ids.append(response.get_json()["event_id"])

    records = read_topic(topics.raw, count=2)
    envelopes = [json.loads(record.value) for record in records]
    assert sorted(envelope["id"] for envelope in envelopes) == sorted(event_ids)
    for record, envelope in zip(records, envelopes, strict=True):
        validate_envelope(envelope)
        assert record.key == DOCUMENT_ID.encode()
        assert record.headers["content-type"] == b"application/cloudevents+json"
        assert envelope["subject"] == envelope["partitionkey"] == DOCUMENT_ID
    assert sorted(envelope["data"]["method"] for envelope in envelopes) == ["GET", "POST"]


def test_events_of_one_document_stay_in_one_partition_in_order(
    client: FlaskClient, topics: PipelineTopics, read_topic: ReadTopic
) -> None:
    sent: dict[str, list[str]] = {DOCUMENT_ID: [], OTHER_DOCUMENT_ID: []}
    for step, type_name in enumerate(["CustomerOrder", "Demand", "InvoiceOut", "PaymentIn"]):
        for document_id in (DOCUMENT_ID, OTHER_DOCUMENT_ID):
            response = client.post(f"/webhook?id={document_id}&type={type_name}&step={step}")
            assert response.status_code == 202, response.get_data(as_text=True)
            sent[document_id].append(response.get_json()["event_id"])

    records = read_topic(topics.raw, count=8)
    for document_id, event_ids in sent.items():
        mine = sorted(
            (record for record in records if record.key == document_id.encode()),
            key=lambda record: record.offset,
        )
        assert len({record.partition for record in mine}) == 1
        assert [json.loads(record.value)["id"] for record in mine] == event_ids


def test_readyz_is_200_while_the_broker_is_reachable(client: FlaskClient) -> None:
    assert client.get("/readyz").get_json() == {
        "status": "ready",
        "broker_connected": True,
        "spool_depth": 0,
        "oldest_spooled_age_s": None,
        "spool_writable": True,
    }
