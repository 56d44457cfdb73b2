"""``python -m ingest`` as a real process: tokens sent in the path or the query, right or
wrong, never appear in any log line, while the access log shows every request masked."""

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.broker import free_port, wait_for_port
from devstack.processes import ServiceProcess
from tests.conftest import PipelineTopics
from tests.helpers import native_webhook_body, wait_until

pytestmark = pytest.mark.broker

DOCUMENT_ID = "34efe2ee-015e-11e6-9464-e4de0000006b"
SECRET = "pr0cess-s3cret"
NEXT_SECRET = "n3xt-pr0cess-s3cret"
WRONG = "wr0ng-gu3ss"
NATIVE_BODY = native_webhook_body(DOCUMENT_ID)


def _ready(base_url: str) -> bool:
    try:
        return requests.get(f"{base_url}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def send(method: str, url: str, **options: Any) -> requests.Response:
    return requests.request(method, url, timeout=30, **options)


def _raw_request(port: int, target: str) -> None:
    """A request line sent as is, so that no client library normalises it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(
            f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        )
        while connection.recv(65536):
            pass


def test_no_token_reaches_any_log_line(
    kafka_bootstrap: str, topics: PipelineTopics, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    workflow = {"id": DOCUMENT_ID, "type": "Move"}
    service = ServiceProcess(
        "ingest",
        {
            **topics.environment(kafka_bootstrap),
            "INGEST_PORT": str(port),
            "INGEST_TOKEN": f"{SECRET},{NEXT_SECRET}",
            "INGEST_SPOOL_DIR": str(tmp_path / "spool"),
            "INGEST_WORKERS": "1",
            "LOG_LEVEL": "DEBUG",
        },
        log_dir=tmp_path,
    ).start()
    try:
        wait_for_port("127.0.0.1", port, timeout_s=60)
        assert wait_until(lambda: _ready(base), timeout_s=60), service.log_path.read_text()
        answers = {
            "query": send("GET", f"{base}/webhook", params={**workflow, "token": SECRET}),
            "path": send("POST", f"{base}/webhook/{NEXT_SECRET}", params=workflow),
            "native": send(
                "POST", f"{base}/webhook/{SECRET}", params={"requestId": "r-1"}, json=NATIVE_BODY
            ),
            "wrong query": send("GET", f"{base}/webhook", params={**workflow, "token": WRONG}),
            "wrong path": send("GET", f"{base}/webhook/{WRONG}", params=workflow),
            "both": send("GET", f"{base}/webhook/{SECRET}", params={"token": SECRET}),
            "too deep": send("GET", f"{base}/webhook/{SECRET}/x"),
        }
        _raw_request(port, f"/%77ebhook/{SECRET}?id={DOCUMENT_ID}&type=Move")
        _raw_request(port, f"/webhook?id={DOCUMENT_ID}&type=Move&%74oken={SECRET}")
        _raw_request(port, f"/webhook?id={DOCUMENT_ID}&type=Move&token={SECRET}&token={WRONG}")
        # Not even HTTP: gunicorn answers 400 itself and logs the request line as a warning.
        _raw_request(port, f"/webhook?token={SECRET} junk")
        assert service.exit_code() is None, service.log_path.read_text()
    finally:
        exit_code = service.stop(timeout_s=30)

    logs = service.log_path.read_text()
    assert exit_code == 0, logs
    assert {name: answer.status_code for name, answer in answers.items()} == {
        "query": 202,
        "path": 202,
        "native": 200,
        "wrong query": 401,
        "wrong path": 401,
        "both": 401,
        "too deep": 404,
    }
    for secret in (SECRET, NEXT_SECRET, WRONG):
        assert secret not in logs
    lines = [json.loads(line) for line in logs.splitlines()]
    access = [line for line in lines if line["logger"] == "gunicorn.access"]
    assert len(access) >= 11  # the readiness probes, then the requests above
    paths = {line["path"] for line in access}
    assert {"/webhook", "/webhook/****", "/readyz"} <= paths
    assert any(line["query"].endswith("token=****") for line in access)
    assert all(line["service"] == "ingest" for line in access)
