"""``python -m ingest`` as a real process: gunicorn workers publishing to the broker."""

import json
from pathlib import Path

import pytest
import requests

from devstack.broker import free_port, wait_for_port
from devstack.processes import ServiceProcess
from shared.contracts import validate_envelope
from tests.conftest import PipelineTopics, ReadTopic
from tests.helpers import refused_start_up, wait_until

DOCUMENT_ID = "34efe2ee-015e-11e6-9464-e4de0000006b"
SECRET = "process-s3cret"


def _ready(base_url: str) -> bool:
    try:
        return requests.get(f"{base_url}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _webhook_counts(base_url: str) -> tuple[float, float]:
    """(accepted, refused as unauthorized) as one scrape of /metrics reports them."""
    samples = dict(
        line.rsplit(" ", 1)
        for line in requests.get(f"{base_url}/metrics", timeout=10).text.splitlines()
        if line.startswith("ingest_webhooks_total")
    )
    return (
        float(samples.get('ingest_webhooks_total{reason="",result="accepted"}', 0)),
        float(samples.get('ingest_webhooks_total{reason="unauthorized",result="refused"}', 0)),
    )


@pytest.mark.broker
def test_the_service_accepts_a_webhook_and_exits_0_on_sigterm(
    kafka_bootstrap: str, topics: PipelineTopics, read_topic: ReadTopic, tmp_path: Path
) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    service = ServiceProcess(
        "ingest",
        {
            **topics.environment(kafka_bootstrap),
            "INGEST_PORT": str(port),
            "INGEST_TOKEN": SECRET,
            "INGEST_PUBLISH_BUDGET_MS": "1000",
            "INGEST_SPOOL_DIR": str(tmp_path / "spool"),
        },
        log_dir=tmp_path,
    ).start()
    try:
        wait_for_port("127.0.0.1", port, timeout_s=60)
        assert wait_until(lambda: _ready(base_url), timeout_s=60), service.log_path.read_text()

        refused = requests.post(
            f"{base_url}/webhook", params={"id": DOCUMENT_ID, "type": "Move"}, timeout=10
        )
        accepted = requests.post(
            f"{base_url}/webhook",
            params={"id": DOCUMENT_ID, "type": "CustomerOrder", "token": SECRET},
            timeout=30,
        )
        # Each scrape on a new connection, so that both gunicorn workers answer some:
        # every one must report the requests of all workers.
        counts = {_webhook_counts(base_url) for _ in range(10)}
        assert service.exit_code() is None, service.log_path.read_text()
    finally:
        exit_code = service.stop(timeout_s=30)

    logs = service.log_path.read_text()
    assert exit_code == 0, logs
    assert refused.status_code == 401
    assert refused.json()["error"] == "unauthorized"
    assert accepted.status_code == 202, accepted.text
    [record] = read_topic(topics.raw, count=1)
    envelope = json.loads(record.value)
    validate_envelope(envelope)
    assert record.key == DOCUMENT_ID.encode()
    assert envelope["id"] == accepted.json()["event_id"]
    assert envelope["data"]["query"] == {"id": DOCUMENT_ID, "type": "CustomerOrder"}
    assert SECRET not in logs
    assert counts == {(1.0, 1.0)}
    lines = [json.loads(line) for line in logs.splitlines()]  # JSON lines, gunicorn's too
    [logged] = [line for line in lines if line["message"] == "webhook accepted"]
    assert (logged["event_id"], logged["document_id"]) == (envelope["id"], DOCUMENT_ID)
    assert all(line["service"] == "ingest" for line in lines)


def test_a_malformed_setting_stops_start_up_naming_it() -> None:
    stderr = refused_start_up("ingest", {"PATH": "/usr/bin:/bin", "INGEST_PORT": "abc"})
    assert "INGEST_PORT" in stderr
    assert "abc" not in stderr
