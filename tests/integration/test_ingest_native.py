"""Native API webhooks through the real durable sink to a real broker: one raw event per
event, and a repeated requestId adds none."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from ingest.native import native_event_id
from ingest.settings import IngestSettings
from ingest.wiring import Worker, build_worker
from shared.contracts import validate_envelope
from tests.conftest import PipelineTopics, ReadTopic
from tests.helpers import wait_until

pytestmark = pytest.mark.broker

REQUEST_ID = "cbb9a2e0-3e6f-4d1c-9f4e-2b1f8f2c7a10"
ACCOUNT_ID = "84e60e93-f7b2-11e5-7a69-971500188b19"
API = "https://api.kladana.com/api/remap/1.2/entity"
EVENTS = [
    ("customerorder", "34efe2ee-015e-11e6-9464-e4de0000006b", "UPDATE"),
    ("demand", "5427bc76-b95f-11eb-0a80-04bb000cd583", "CREATE"),
    ("paymentin", "0b0a3c1e-2d3f-11ee-0a80-0f2a00000001", "DELETE"),
]
BODY = {
    "auditContext": {"moment": "2024-06-10 15:27:00", "uid": "admin@example"},
    "events": [
        {
            "meta": {"type": entity, "href": f"{API}/{entity}/{document_id}"},
            "action": action,
            "accountId": ACCOUNT_ID,
        }
        for entity, document_id, action in EVENTS
    ],
}


@pytest.fixture
def settings(kafka_bootstrap: str, topics: PipelineTopics, tmp_path: Path) -> IngestSettings:
    return IngestSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        raw_topic=topics.raw,
        ingest_spool_dir=tmp_path / "spool",
    )


@pytest.fixture
def worker(settings: IngestSettings) -> Iterator[Worker]:
    worker = build_worker(settings)
    worker.durability.start()
    try:
        yield worker
    finally:
        worker.durability.close()


@pytest.fixture
def client(worker: Worker) -> FlaskClient:
    return worker.app.test_client()


def deliver(client: FlaskClient) -> dict[str, Any]:
    response = client.post("/webhook", query_string={"requestId": REQUEST_ID}, json=BODY)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert isinstance(body, dict)
    return body


def test_a_native_webhook_with_three_events_yields_three_raw_events_once(
    client: FlaskClient, worker: Worker, topics: PipelineTopics, read_topic: ReadTopic
) -> None:
    first = deliver(client)
    repeats = [deliver(client) for _ in range(3)]  # Kladana's three more attempts

    assert first["duplicate"] is False
    assert all(repeat == {**first, "duplicate": True} for repeat in repeats)
    # Whatever was accepted is on the topic once the spool is empty.
    read_topic(topics.raw, count=3)
    assert wait_until(lambda: worker.durability.sink.status().spool_depth == 0, timeout_s=30)
    records = read_topic(topics.raw)
    assert len(records) == 3
    envelopes = {json.loads(record.value)["id"]: record for record in records}
    assert set(envelopes) == {native_event_id(REQUEST_ID, index) for index in range(3)}
    for index, (entity, document_id, action) in enumerate(EVENTS):
        record = envelopes[native_event_id(REQUEST_ID, index)]
        envelope = json.loads(record.value)
        validate_envelope(envelope)
        assert record.key == document_id.encode()
        assert envelope["data"]["entity"] == entity
        assert envelope["data"]["action"] == action
        assert envelope["data"]["request_id"] == REQUEST_ID
        assert envelope["data"]["kind"] == "native"


def test_a_delivery_mixing_other_entities_is_answered_200_and_its_known_events_arrive(
    client: FlaskClient, worker: Worker, topics: PipelineTopics, read_topic: ReadTopic
) -> None:
    mixed = {
        "events": [
            {
                "meta": {"type": "product", "href": f"{API}/product/7f1b2c3d-0000-11ee-0a80-1"},
                "action": "UPDATE",
                "accountId": ACCOUNT_ID,
            },
            *BODY["events"],
        ]
    }
    response = client.post("/webhook", query_string={"requestId": REQUEST_ID}, json=mixed)

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["ignored_events"] == 1
    read_topic(topics.raw, count=3)
    assert wait_until(lambda: worker.durability.sink.status().spool_depth == 0, timeout_s=30)
    records = read_topic(topics.raw)
    # The known events keep the ids of their places in the delivery: 1, 2 and 3.
    assert sorted(json.loads(record.value)["id"] for record in records) == sorted(
        native_event_id(REQUEST_ID, index) for index in (1, 2, 3)
    )
    assert sorted(record.key for record in records) == sorted(
        document_id.encode() for _, document_id, _ in EVENTS
    )
