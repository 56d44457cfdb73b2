"""``make run`` (``python -m devstack``): the seed webhook prints the seed SMS, a service
that dies is restarted without losing what ingest accepted, Ctrl-C stops everything."""

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.broker import free_port, wait_for_port
from tests.helpers import SEED_DOCUMENT_ID, SEED_SMS, wait_until
from tests.sandbox_ids import ORDER_5644

pytestmark = pytest.mark.e2e

RETURN_ID = "a60041c8-eb25-11f1-9b6e-02fc00000001"
"""The sandbox's sales return 00003: the bundled rules send one SMS for it."""
RETURN_SMS = "Your return 00003 dated"


@dataclass(frozen=True)
class Stack:
    process: "subprocess.Popen[bytes]"
    output: Path
    ingest_port: int
    sandbox_port: int

    def console(self) -> str:
        return self.output.read_text()

    def pid(self, started: str) -> int:
        """The pid devstack printed in its latest ``<started> (pid N)`` line."""
        pids = re.findall(rf"{started} \(pid (\d+)\)", self.console())
        assert pids, self.console()
        return int(pids[-1])

    def send_webhook(self, document_id: str, document_type: str) -> None:
        accepted = requests.post(
            f"http://127.0.0.1:{self.ingest_port}/webhook",
            params={"id": document_id, "type": document_type},
            timeout=10,
        )
        assert accepted.status_code == 202, accepted.text


@contextmanager
def make_run(tmp_path: Path, **variables: str) -> Iterator[Stack]:
    """devstack running in ``tmp_path``, its console (stdout and stderr) in a file; on exit,
    SIGINT to its process group, as Ctrl-C in a terminal sends it to devstack and the
    services alike."""
    ingest_port, sandbox_port = free_port(), free_port()
    environment = {
        "PATH": "/usr/bin:/bin",
        "BROKER_PORT": str(free_port()),
        "INGEST_PORT": str(ingest_port),
        "SANDBOX_PORT": str(sandbox_port),
        "SMTP_SINK_PORT": str(free_port()),
        "RETRY_BACKOFF_BASE_S": "0.05",
        **variables,
    }
    output = tmp_path / "console.txt"
    with output.open("wb") as console:
        process = subprocess.Popen(
            [sys.executable, "-m", "devstack"],
            cwd=tmp_path,
            env=environment,
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack = Stack(process, output, ingest_port, sandbox_port)
    try:
        wait_for_port("127.0.0.1", ingest_port, timeout_s=60)
        assert wait_until(lambda: "curl -X POST" in stack.console(), timeout_s=60)
        yield stack
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=60)


def test_make_run_turns_the_seed_webhook_into_the_seed_sms(tmp_path: Path) -> None:
    with make_run(tmp_path) as stack:
        assert "INGEST_TOKEN" in stack.console()
        stack.send_webhook(SEED_DOCUMENT_ID, "CustomerOrder")
        assert wait_until(lambda: SEED_SMS in stack.console(), timeout_s=90), stack.console()
    assert stack.process.returncode == 0, stack.console()
    assert f"SMS to +919876543210: {SEED_SMS}" in stack.console()
    # Services exiting on Ctrl-C are not restarted (nor is a restart announced).
    assert "restarting" not in stack.console()
    devstack = tmp_path / ".devstack"
    assert {p.name for p in devstack.iterdir()} >= {
        "broker.log",
        "ingest.log",
        "enricher.log",
        "notifier.log",
        "sandbox.log",
    }
    assert (
        f"Listening at: http://127.0.0.1:{stack.ingest_port}"
        in (devstack / "ingest.log").read_text()
    )


def test_make_run_restarts_a_killed_notifier_and_loses_no_accepted_webhook(
    tmp_path: Path,
) -> None:
    with make_run(tmp_path) as stack:
        notifier = stack.pid("notifier started")
        # Stopped first, so the webhook accepted just before the kill is surely one the
        # notifier had not consumed: it lives in the broker only.
        os.kill(notifier, signal.SIGSTOP)
        stack.send_webhook(RETURN_ID, "SalesReturn")
        os.kill(notifier, signal.SIGKILL)
        stack.send_webhook(SEED_DOCUMENT_ID, "CustomerOrder")
        assert wait_until(lambda: "notifier restarted" in stack.console(), timeout_s=30), (
            stack.console()
        )
        assert f"notifier (pid {notifier}) was killed by SIGKILL" in stack.console()
        assert stack.pid("notifier restarted") != notifier
        assert wait_until(
            lambda: RETURN_SMS in stack.console() and SEED_SMS in stack.console(), timeout_s=90
        ), stack.console()
        assert stack.process.poll() is None, stack.console()
    assert stack.process.returncode == 0, stack.console()


def test_make_run_stops_when_the_in_memory_broker_dies(tmp_path: Path) -> None:
    with make_run(tmp_path) as stack:
        broker = stack.pid("broker started")
        os.kill(broker, signal.SIGKILL)
        assert wait_until(lambda: stack.process.poll() is not None, timeout_s=60), stack.console()
    assert stack.process.returncode == 1, stack.console()
    assert f"the broker (pid {broker}) was killed by SIGKILL" in stack.console()
    # The services it took down with it are not restarted against no broker.
    assert "restarting" not in stack.console()


CHANNEL_RULES = """
[[rule]]
name = "order-shipped"
type = "CustomerOrder"
state = "Shipped"
channels = ["whatsapp", "sms"]
whatsapp_template = "order_shipped"
whatsapp_parameters = ["{number}", "{date}", "{amount}"]
template = "Sales Order {number} has been handed over to the delivery service."

[[rule]]
name = "order-received"
type = "CustomerOrder"
state = "New"
channels = ["email"]
email_subject = "Order {number} received"
template = "We have received your order {number}. Thank you!"
"""


def test_make_run_sends_whatsapp_to_the_sandbox_fake_and_prints_email(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(CHANNEL_RULES, encoding="utf-8")
    with make_run(tmp_path, NOTIFIER_RULES=str(rules)) as stack:
        assert "/__sandbox/whatsapp/messages" in stack.console()
        stack.send_webhook(SEED_DOCUMENT_ID, "CustomerOrder")
        stack.send_webhook(ORDER_5644, "CustomerOrder")
        control = f"http://127.0.0.1:{stack.sandbox_port}/__sandbox/whatsapp/messages"

        def whatsapp() -> list[dict[str, Any]]:
            answer = requests.get(
                control, headers={"Authorization": "Bearer sandbox-token"}, timeout=10
            )
            messages: list[dict[str, Any]] = answer.json()["messages"]
            return messages

        assert wait_until(lambda: whatsapp() != [], timeout_s=90), stack.console()
        assert wait_until(lambda: "Email from" in stack.console(), timeout_s=90), stack.console()
        (message,) = whatsapp()
        # Its statuses came back to the notifier's webhook, which took them (a status that
        # overtook the record of its send is answered 503 and posted again, as Meta does).

        def taken() -> list[str]:
            return [p["status"] for p in whatsapp()[0]["statuses"] if p["answer"] == 200]

        assert wait_until(lambda: taken() == ["sent", "delivered"], timeout_s=30), whatsapp()
    assert (message["to"], message["template"], message["parameters"]) == (
        "+919876543210",
        "order_shipped",
        ["5643", "10.06.2024", "50,000"],
    )
    assert (
        "Email from orders@ganeshtraders.example to rahul.verma@example.in: Order 5644 received\n"
        "We have received your order 5644. Thank you!\n"
    ) in stack.console()
    assert "SMS to" not in stack.console()
    assert stack.process.returncode == 0, stack.console()
