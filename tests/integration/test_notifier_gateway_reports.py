"""Delivery reports end to end over real HTTP: the notifier sends through the sandbox's
fake MSG91 or Exotel as ``python -m notifier`` wires it, the fake posts a report in the
provider's format to the notifier's port, and the ledger records it; a report to a URL
without the secret token is refused and changes nothing."""

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.broker import free_port
from devstack.http_server import BackgroundServer
from notifier.ledger import Ledger, LedgerEntry
from notifier.ledger_schema import DeliveryStatus, open_engine
from notifier.rules import RuleSet
from notifier.settings import NotifierSettings
from notifier.sms import Sms
from notifier.wiring import build_sender, http_server
from sandbox.app import create_app
from shared.health import Readiness
from tests.helpers import SHIPPED_NOTIFICATION, record_sent, wait_until

TOKEN = "report-token-0123456789abcdef"
SANDBOX_AUTH = {"Authorization": "Bearer sandbox-token"}
SMS = Sms(
    to=SHIPPED_NOTIFICATION.phone,
    text=SHIPPED_NOTIFICATION.text,
    idempotency_key=SHIPPED_NOTIFICATION.key,
    dlt_template_id="1107161234567890123",
)
DELIVERED = {"msg91": "DELIVERED", "exotel": "delivered"}
SENT = {"msg91": "SENT", "exotel": "submitted"}


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    engine = open_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield Ledger(engine)
    engine.dispose()


def _settings(provider: str, sandbox_url: str, port: int, tmp_path: Path) -> NotifierSettings:
    fields: dict[str, Any] = {
        "sms_provider": provider,
        "sms_sender": "KLDANA",
        "dlt_entity_id": "1201100000000000001",
        "metrics_port": port,
        "sms_report_token": TOKEN,
        "notifier_public_url": f"http://127.0.0.1:{port}",
        "notifier_database_url": f"sqlite:///{tmp_path / 'unused.db'}",
        "msg91_api_url": sandbox_url + "/msg91",
        "msg91_auth_key": "sandbox-msg91-authkey",
        "exotel_api_url": sandbox_url + "/exotel",
        "exotel_account_sid": "sandbox",
        "exotel_api_key": "sandbox-exotel-key",
        "exotel_api_token": "sandbox-exotel-token",
    }
    return NotifierSettings(**fields)


def _report(sandbox_url: str, provider: str, message_id: str, status: str, **more: str) -> Any:
    answer = requests.post(
        f"{sandbox_url}/__sandbox/sms/{provider}/reports",
        json={"message_id": message_id, "status": status, **more},
        headers=SANDBOX_AUTH,
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _entry(ledger: Ledger) -> LedgerEntry:
    (entry,) = ledger.entries()
    return entry


@pytest.mark.parametrize("provider", ["msg91", "exotel"])
def test_the_sandbox_reports_a_delivery_the_notifier_records(
    provider: str, ledger: Ledger, tmp_path: Path
) -> None:
    port = free_port()
    webhook = f"http://127.0.0.1:{port}/msg91/report/{TOKEN}"
    with BackgroundServer(create_app(msg91_webhook_url=webhook)) as sandbox:
        settings = _settings(provider, sandbox.url, port, tmp_path)
        with requests.Session() as session:
            message_id = build_sender(settings, session, io.StringIO()).send(SMS)
        assert message_id is not None
        record_sent(ledger, message_id)

        with http_server(settings, ledger, Readiness(), RuleSet.load(None)):
            assert wait_until(lambda: _answers(f"http://127.0.0.1:{port}/healthz"))
            forged_url = f"http://127.0.0.1:{port}/{provider}/report/not-the-token-at-all"
            forged = _report(
                sandbox.url, provider, message_id, DELIVERED[provider], callback_url=forged_url
            )
            assert forged["status"] == 403
            assert _entry(ledger).delivery_status is None

            first = _report(sandbox.url, provider, message_id, DELIVERED[provider])
            again = _report(sandbox.url, provider, message_id, DELIVERED[provider])
            late = _report(sandbox.url, provider, message_id, SENT[provider])
    assert [first, again, late] == [
        {"status": 200, "body": {"outcomes": ["recorded"]}},
        {"status": 200, "body": {"outcomes": ["stale"]}},
        {"status": 200, "body": {"outcomes": ["stale"]}},
    ]
    assert _entry(ledger).delivery_status is DeliveryStatus.DELIVERED


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.ConnectionError:
        return False
