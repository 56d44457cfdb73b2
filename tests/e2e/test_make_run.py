"""``make run`` (``python -m devstack``): the seed webhook prints the seed SMS, Ctrl-C stops all."""

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from devstack.broker import free_port, wait_for_port
from tests.helpers import SEED_DOCUMENT_ID, SEED_SMS, wait_until

pytestmark = pytest.mark.e2e


def test_make_run_turns_the_seed_webhook_into_the_seed_sms(tmp_path: Path) -> None:
    ingest_port = free_port()
    environment = {
        "PATH": "/usr/bin:/bin",
        "BROKER_PORT": str(free_port()),
        "INGEST_PORT": str(ingest_port),
        "SANDBOX_PORT": str(free_port()),
        "RETRY_BACKOFF_BASE_S": "0.05",
    }
    output = tmp_path / "stdout.txt"
    with output.open("wb") as stdout:
        stack = subprocess.Popen(
            [sys.executable, "-m", "devstack"],
            cwd=tmp_path,
            env=environment,
            stdout=stdout,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port("127.0.0.1", ingest_port, timeout_s=60)
        assert wait_until(lambda: "curl -X POST" in output.read_text(), timeout_s=60)
        accepted = requests.post(
            f"http://127.0.0.1:{ingest_port}/webhook",
            params={"id": SEED_DOCUMENT_ID, "type": "CustomerOrder"},
            timeout=10,
        )
        assert accepted.status_code == 202, accepted.text
        assert wait_until(lambda: SEED_SMS in output.read_text(), timeout_s=90), output.read_text()
    finally:
        stack.send_signal(signal.SIGINT)
        exit_code = stack.wait(timeout=60)
    assert exit_code == 0, output.read_text()
    assert f"SMS to +919876543210: {SEED_SMS}" in output.read_text()
    assert {p.name for p in (tmp_path / ".devstack").iterdir()} >= {
        "broker.log",
        "ingest.log",
        "enricher.log",
        "notifier.log",
        "sandbox.log",
    }
