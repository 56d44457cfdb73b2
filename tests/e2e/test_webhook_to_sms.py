"""The whole pipeline as real processes: an HTTP webhook in, the exact seed SMS out, once.

Ingest, enricher and notifier run as ``python -m ...`` children against the real broker;
the Kladana sandbox and a recording SMS provider are real HTTP servers in this process.
"""

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.broker import free_port, wait_for_port
from devstack.http_server import BackgroundServer
from devstack.processes import ServiceProcess
from sandbox.app import create_app as create_sandbox
from tests.conftest import PipelineTopics, ReadTopic
from tests.helpers import SEED_DOCUMENT_ID, SEED_SMS, FakeProvider, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.broker]


@pytest.fixture
def sms_provider() -> Iterator[tuple[FakeProvider, str]]:
    provider = FakeProvider()
    with BackgroundServer(provider.app()) as server:
        yield provider, f"{server.url}/messages"


@pytest.fixture
def pipeline(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    sms_provider: tuple[FakeProvider, str],
    tmp_path: Path,
) -> Iterator[str]:
    """The three services running; yields ingest's base URL."""
    ingest_port = free_port()
    with BackgroundServer(create_sandbox(token="e2e-token")) as sandbox:
        environment = {
            **topics.environment(kafka_bootstrap),
            "INGEST_PORT": str(ingest_port),
            "INGEST_TOKEN": "e2e-secret",
            "INGEST_SPOOL_DIR": str(tmp_path / "spool"),
            "NOTIFIER_DATABASE_URL": f"sqlite:///{tmp_path / 'notifier-ledger.db'}",
            "KLADANA_API_URL": f"{sandbox.url}/api/remap/1.2",
            "KLADANA_TOKEN": "e2e-token",
            "ENRICHER_GROUP_ID": f"{topics.group_prefix}-enricher",
            "NOTIFIER_GROUP_ID": f"{topics.group_prefix}-notifier",
            "SMS_PROVIDER": "http",
            "SMS_HTTP_URL": sms_provider[1],
        }
        services = [
            ServiceProcess(module, environment, log_dir=tmp_path).start()
            for module in ("ingest", "enricher", "notifier")
        ]
        try:
            wait_for_port("127.0.0.1", ingest_port, timeout_s=60)
            yield f"http://127.0.0.1:{ingest_port}"
            assert [s.exit_code() for s in services] == [None, None, None], _logs(services)
        finally:
            exit_codes = [service.stop() for service in services]
        assert exit_codes == [0, 0, 0], _logs(services)


def _logs(services: list[ServiceProcess]) -> str:
    return "\n".join(
        f"--- {s.module}\n{s.log_path.read_text()[-3000:]}" for s in services if s.log_path.exists()
    )


BAD_WEBHOOKS = [
    ({"type": "CustomerOrder", "token": "e2e-secret"}, 400, "missing_parameter"),
    ({"id": SEED_DOCUMENT_ID, "type": "Invoice", "token": "e2e-secret"}, 400, "invalid_type"),
    ({"id": "../../etc/passwd", "type": "Move", "token": "e2e-secret"}, 400, "invalid_id"),
    ({"id": SEED_DOCUMENT_ID, "type": "CustomerOrder", "token": "wrong"}, 401, None),
    ({"id": SEED_DOCUMENT_ID, "type": "CustomerOrder"}, 401, None),
]


def test_seed_webhook_becomes_exactly_one_sms_despite_bad_webhooks(
    pipeline: str,
    sms_provider: tuple[FakeProvider, str],
    topics: PipelineTopics,
    read_topic: ReadTopic,
    committed_total: Callable[[str], int],
    tmp_path: Path,
) -> None:
    for query, status, error in BAD_WEBHOOKS:
        rejected = requests.post(f"{pipeline}/webhook", params=query, timeout=10)
        assert rejected.status_code == status, query
        assert rejected.headers["Content-Type"].startswith("application/json")
        if error is not None:
            assert rejected.json()["error"] == error

    accepted = requests.post(
        f"{pipeline}/webhook",
        params={"id": SEED_DOCUMENT_ID, "type": "CustomerOrder", "token": "e2e-secret"},
        timeout=10,
    )
    assert accepted.status_code == 202, accepted.text
    provider = sms_provider[0]
    assert wait_until(lambda: len(provider.requests) >= 1, timeout_s=90)
    assert [(m["json"]["to"], m["json"]["text"]) for m in provider.requests] == [
        ("+919876543210", SEED_SMS)
    ]

    # Once: when the notifier has committed past every enriched event, no second SMS can
    # follow from this webhook.
    assert len(read_topic(topics.raw)) == 1
    enriched = read_topic(topics.enriched, count=1)
    assert len(enriched) == 1
    assert wait_until(
        lambda: committed_total(f"{topics.group_prefix}-notifier") >= len(enriched),
        timeout_s=60,
    )
    assert len(provider.requests) == 1
    _follow_in_the_logs(tmp_path, accepted.json()["event_id"])


SERVICES = ("ingest", "enricher", "notifier")


def _log_lines(path: Path) -> list[dict[str, Any]]:
    """The service's JSON log lines; anything else (a server's own banner) is skipped."""
    lines = []
    for text in path.read_text().splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if isinstance(line, dict):
            lines.append(line)
    return lines


def _follow_in_the_logs(log_dir: Path, raw_event_id: str) -> None:
    """One webhook followed through the three services by its id, as an operator greps."""

    def following() -> dict[str, set[str]]:
        return {
            service: {
                line["message"]
                for line in _log_lines(log_dir / f"{service}.log")
                if raw_event_id in (line.get("event_id"), line.get("raw_event_id"))
            }
            for service in SERVICES
        }

    wanted = {"ingest": "webhook accepted", "enricher": "enriched", "notifier": "sms sent"}
    assert wait_until(
        lambda: all(message in following()[s] for s, message in wanted.items()), timeout_s=30
    ), following()
    [sent] = [
        line
        for line in _log_lines(log_dir / "notifier.log")
        if line["message"] == "sms sent" and line.get("raw_event_id") == raw_event_id
    ]
    assert sent["document_id"] == SEED_DOCUMENT_ID
    assert sent["to"].endswith("3210")
    everything = "".join((log_dir / f"{service}.log").read_text() for service in SERVICES)
    # No phone number in full, no secret (ingest's token, Kladana's token).
    for secret in ("9876543210", "e2e-secret", "e2e-token"):
        assert secret not in everything
