"""``python -m ingest`` on SIGTERM: a request already in flight is answered and its events
reach the broker before the process exits 0 (gunicorn's graceful_timeout, then the
worker_exit hook's flush)."""

import json
import signal
import socket
from pathlib import Path

import pytest
import requests

from devstack.broker import free_port, wait_for_port
from devstack.processes import ServiceProcess
from ingest.native import native_event_id
from tests.conftest import PipelineTopics, ReadTopic
from tests.helpers import wait_until
from tests.integration.test_ingest_native import BODY, REQUEST_ID

pytestmark = pytest.mark.broker

SECRET = "shutdown-s3cret"


def _ready(base_url: str) -> bool:
    try:
        return requests.get(f"{base_url}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _request_producer_connected(service: ServiceProcess) -> bool:
    lines = service.log_path.read_text().splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    return any(
        entry.get("message") == "broker connected" and entry.get("producer") == "request"
        for entry in entries
    )


def _accepted(server_port: int, client_port: int) -> bool:
    """Whether the server accepted this loopback connection: until it does, the connection
    has no socket of its own, and /proc/net/tcp shows its inode as 0."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        remote_port = int(fields[2].rsplit(":", 1)[1], 16)
        if (local_port, remote_port) == (server_port, client_port):
            return fields[9] != "0"
    return False


def test_a_request_in_flight_at_sigterm_is_answered_and_published_before_exit(
    kafka_bootstrap: str, topics: PipelineTopics, read_topic: ReadTopic, tmp_path: Path
) -> None:
    port = free_port()
    service = ServiceProcess(
        "ingest",
        {
            **topics.environment(kafka_bootstrap),
            "INGEST_PORT": str(port),
            "INGEST_TOKEN": SECRET,
            "INGEST_WORKERS": "1",
            "INGEST_SPOOL_DIR": str(tmp_path / "spool"),
        },
        log_dir=tmp_path,
    ).start()
    body = json.dumps(BODY).encode()
    head = (
        f"POST /webhook?requestId={REQUEST_ID}&token={SECRET} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    try:
        wait_for_port("127.0.0.1", port, timeout_s=60)
        assert wait_until(lambda: _ready(f"http://127.0.0.1:{port}")), service.log_path.read_text()
        # Published at once, not spooled for the next start to publish.
        assert wait_until(lambda: _request_producer_connected(service)), (
            service.log_path.read_text()
        )
        with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
            # Half a request: the worker is reading it when the SIGTERM arrives.
            client.sendall(head + body[: len(body) // 2])
            # A connection still in the listen queue is reset when the server closes its
            # socket: only one the worker took is in flight.
            client_port = client.getsockname()[1]
            assert wait_until(lambda: _accepted(port, client_port)), service.log_path.read_text()
            service.signal(signal.SIGTERM)
            assert wait_until(lambda: "Handling signal: term" in service.log_path.read_text())
            client.sendall(body[len(body) // 2 :])
            answer = b""
            while chunk := client.recv(65536):
                answer += chunk
    finally:
        exit_code = service.stop(timeout_s=60)

    logs = service.log_path.read_text()
    assert exit_code == 0, logs
    assert answer.startswith(b"HTTP/1.1 200"), answer.decode(errors="replace")
    records = read_topic(topics.raw)
    assert {json.loads(r.value)["id"] for r in records} == {
        native_event_id(REQUEST_ID, index) for index in range(len(BODY["events"]))
    }
