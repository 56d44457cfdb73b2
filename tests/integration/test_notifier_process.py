"""``python -m notifier`` as a real process: start, send, stop on SIGTERM, refuse bad rules."""

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
import requests

from devstack.broker import free_port
from shared.contracts import validate_event
from shared.events import to_record
from shared.kafka import Publisher, create_producer
from tests.conftest import PipelineTopics
from tests.helpers import SEED_SMS as SEED_TEXT
from tests.helpers import enriched_event, refused_start_up

ROOT = Path(__file__).resolve().parents[2]


def _environment(**variables: str) -> dict[str, str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if name
        not in ("NOTIFIER_RULES", "SMS_PROVIDER", "NOTIFIER_GROUP_ID", "NOTIFIER_DATABASE_URL")
    }
    environment.update(variables)
    return environment


def _lines(stream: Iterable[str]) -> "queue.Queue[str]":
    """The stream's lines, read in a thread so the test can wait with a deadline."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _wait_for_line(lines: "queue.Queue[str]", expected: str, timeout_s: float) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while expected not in seen:
        try:
            seen.append(lines.get(timeout=max(deadline - time.monotonic(), 0.01)).rstrip("\n"))
        except queue.Empty:
            break
    return seen


@pytest.mark.broker
def test_the_service_prints_the_seed_sms_and_exits_cleanly_on_sigterm(
    kafka_bootstrap: str, topics: PipelineTopics, tmp_path: Path
) -> None:
    event = enriched_event()
    validate_event(event)
    publisher = Publisher(create_producer(kafka_bootstrap), ack_timeout_s=10)
    try:
        publisher.publish(topics.enriched, to_record(event))
    finally:
        publisher.close()

    log_path = tmp_path / "notifier.log"
    log_file = log_path.open("w")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "notifier"],
        cwd=ROOT,
        env=_environment(
            **topics.environment(kafka_bootstrap),
            SMS_PROVIDER="console",
            NOTIFIER_GROUP_ID=f"{topics.group_prefix}-notifier",
            NOTIFIER_DATABASE_URL=f"sqlite:///{tmp_path / 'notifier-ledger.db'}",
            METRICS_PORT=str(port),
        ),
        stdout=subprocess.PIPE,
        stderr=log_file,
        text=True,
    )
    assert process.stdout is not None
    try:
        expected = f"SMS to +919876543210: {SEED_TEXT} [DLT template 1107161234567890123]"
        seen = _wait_for_line(_lines(process.stdout), expected, timeout_s=60)
        assert expected in seen, log_path.read_text()
        for probe in ("healthz", "readyz"):  # what compose's healthcheck asks
            assert requests.get(f"http://127.0.0.1:{port}/{probe}", timeout=10).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        log_file.close()


def test_a_bad_rules_file_stops_start_up_naming_the_rule(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[rule]]\nname = "order-shipped"\ntype = "SalesOrder"\nstate = "Shipped"\n'
        'template = "Order {number}"\n'
    )
    stderr = refused_start_up("notifier", {"NOTIFIER_RULES": str(rules)})
    assert "'order-shipped'" in stderr
    assert "unknown type 'SalesOrder'" in stderr
