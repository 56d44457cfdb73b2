"""Issue 17 end to end: WhatsApp first, SMS when the number is not on WhatsApp, and email,
through the real broker and the three services, with one message per business event.

Ingest, enricher and notifier run as ``python -m ...`` children. In this process: the
Kladana sandbox with its fake WhatsApp Cloud API (which posts signed statuses to the
notifier's webhook), an SMS gateway that records what it is sent, and make run's SMTP
sink on a real port.
"""

import hashlib
import hmac
import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine

from devstack.broker import free_port, wait_for_port
from devstack.http_server import BackgroundServer
from devstack.processes import ServiceProcess
from devstack.smtp_sink import smtp_sink
from notifier.channels import Channel
from notifier.ledger import Ledger, LedgerEntry, LedgerQuery
from notifier.ledger_schema import DeliveryStatus, Status
from sandbox.app import create_app as create_sandbox
from sandbox.whatsapp import WhatsAppFake, WhatsAppInbox
from tests.conftest import PipelineTopics
from tests.helpers import SEED_DOCUMENT_ID, SEED_SMS, FakeProvider, wait_until
from tests.sandbox_ids import ORDER_5644

pytestmark = [pytest.mark.e2e, pytest.mark.broker]

KLADANA_TOKEN = "e2e-token"
WHATSAPP_TOKEN = "e2e-whatsapp-token"
APP_SECRET = "e2e-whatsapp-app-secret"
VERIFY_TOKEN = "e2e-verify-token"
PHONE_NUMBER_ID = "106540352242922"
SENDER = "Ganesh Traders <orders@ganeshtraders.example>"

RULES = """
[[rule]]
name = "sales-order-shipped"
type = "CustomerOrder"
state = "Shipped"
channels = ["whatsapp", "sms"]
whatsapp_template = "order_shipped"
whatsapp_parameters = ["{number}", "{date}", "{amount}"]
template = @SEED_TEMPLATE@

[[rule]]
name = "order-received"
type = "CustomerOrder"
state = "New"
channels = ["whatsapp", "sms"]
whatsapp_template = "order_received"
whatsapp_parameters = ["{number}"]
template = "We have received your order {number} dated {date}. Thank you!"

[[rule]]
name = "order-received-email"
type = "CustomerOrder"
state = "New"
channels = ["email"]
email_subject = "Order {number} received"
template = "We have received your order {number} dated {date}. Thank you!"
""".replace(
    "@SEED_TEMPLATE@",
    json.dumps(
        "Sales Order {number} dated {date} for an amount of {amount} rupees"
        " has been handed over to the delivery service."
    ),
)
SEED_CUSTOMER = "+919876543210"
"""Ravi Kumar, the seed order's customer, on WhatsApp."""
RAHUL = "+919820155443"
"""Rahul Verma, order 5644's customer: the fake says he is not on WhatsApp."""
RAHUL_TEXT = "We have received your order 5644 dated 11.06.2024. Thank you!"


@dataclass
class Pipeline:
    ingest_url: str
    notifier_url: str
    whatsapp: WhatsAppInbox
    sms: FakeProvider
    emails: io.StringIO
    ledger: Ledger

    def webhook(self, document_id: str) -> None:
        answer = requests.post(
            f"{self.ingest_url}/webhook",
            params={"id": document_id, "type": "CustomerOrder"},
            timeout=10,
        )
        assert answer.status_code == 202, answer.text

    def row(self, document_id: str, rule: str) -> LedgerEntry | None:
        rows = self.ledger.entries(LedgerQuery(document_id=document_id))
        return next((row for row in rows if row.notification.rule == rule), None)

    def sms_sent(self) -> list[tuple[str, str]]:
        return [(r["json"]["to"], r["json"]["text"]) for r in self.sms.requests]


@pytest.fixture
def pipeline(kafka_bootstrap: str, topics: PipelineTopics, tmp_path: Path) -> Iterator[Pipeline]:
    ingest_port, notifier_port, smtp_port = free_port(), free_port(), free_port()
    notifier_url = f"http://127.0.0.1:{notifier_port}"
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    database = f"sqlite:///{tmp_path / 'notifier-ledger.db'}"
    whatsapp = WhatsAppInbox()
    whatsapp.set_on_whatsapp(RAHUL, on_whatsapp=False)
    sms = FakeProvider()
    emails = io.StringIO()
    sink = smtp_sink(emails, port=smtp_port)
    sandbox_app = create_sandbox(
        token=KLADANA_TOKEN,
        whatsapp=WhatsAppFake(
            token=WHATSAPP_TOKEN,
            app_secret=APP_SECRET,
            webhook_url=f"{notifier_url}/whatsapp/webhook",
        ),
        whatsapp_inbox=whatsapp,
    )
    sink.start()
    try:
        with BackgroundServer(sandbox_app) as sandbox, BackgroundServer(sms.app()) as gateway:
            common = {
                **topics.environment(kafka_bootstrap),
                "ENRICHER_GROUP_ID": f"{topics.group_prefix}-enricher",
                "NOTIFIER_GROUP_ID": f"{topics.group_prefix}-notifier",
            }
            environments = {
                "ingest": common
                | {"INGEST_PORT": str(ingest_port), "INGEST_SPOOL_DIR": str(tmp_path / "spool")},
                "enricher": common
                | {
                    "KLADANA_API_URL": f"{sandbox.url}/api/remap/1.2",
                    "KLADANA_TOKEN": KLADANA_TOKEN,
                },
                "notifier": common
                | {
                    "SMS_PROVIDER": "http",
                    "SMS_HTTP_URL": f"{gateway.url}/sms",
                    "WHATSAPP_API_URL": f"{sandbox.url}/whatsapp/v21.0",
                    "WHATSAPP_TOKEN": WHATSAPP_TOKEN,
                    "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
                    "WHATSAPP_APP_SECRET": APP_SECRET,
                    "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
                    "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
                    "EMAIL_FROM": SENDER,
                    "NOTIFIER_RULES": str(rules),
                    "NOTIFIER_DATABASE_URL": database,
                    "NOTIFIER_RELEASE_INTERVAL_S": "0.2",
                    "METRICS_PORT": str(notifier_port),
                },
            }
            services = [
                ServiceProcess(module, environment, log_dir=tmp_path).start()
                for module, environment in environments.items()
            ]
            engine = create_engine(database)
            try:
                wait_for_port("127.0.0.1", ingest_port, timeout_s=60)
                wait_for_port("127.0.0.1", notifier_port, timeout_s=60)
                yield Pipeline(
                    f"http://127.0.0.1:{ingest_port}",
                    notifier_url,
                    whatsapp,
                    sms,
                    emails,
                    Ledger(engine),
                )
                assert [s.exit_code() for s in services] == [None, None, None], _logs(services)
            finally:
                exit_codes = [service.stop() for service in services]
                engine.dispose()
            assert exit_codes == [0, 0, 0], _logs(services)
    finally:
        sink.stop()


def _logs(services: list[ServiceProcess]) -> str:
    return "\n".join(
        f"--- {s.module}\n{s.log_path.read_text()[-3000:]}" for s in services if s.log_path.exists()
    )


def _signed_post(url: str, notification: dict[str, Any], secret: str) -> requests.Response:
    body = json.dumps(notification).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return requests.post(
        url,
        data=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
        timeout=10,
    )


def _status(wamid: str, status: str, **extra: Any) -> dict[str, Any]:
    item = {"id": wamid, "status": status, "timestamp": str(int(time.time())), **extra}
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {"statuses": [item]}}]}],
    }


def test_whatsapp_first_sms_when_not_on_whatsapp_and_email_each_exactly_once(
    pipeline: Pipeline,
    topics: PipelineTopics,
    committed_total: Callable[[str], int],
) -> None:
    pipeline.webhook(SEED_DOCUMENT_ID)
    pipeline.webhook(ORDER_5644)

    # The seed customer is on WhatsApp: one template message with the seed's values.
    def seed_delivered() -> bool:
        row = pipeline.row(SEED_DOCUMENT_ID, "sales-order-shipped")
        return row is not None and row.delivery_status is DeliveryStatus.DELIVERED

    assert wait_until(seed_delivered, timeout_s=90), pipeline.whatsapp.messages()
    seed_messages = [m for m in pipeline.whatsapp.messages() if m["to"] == SEED_CUSTOMER]
    assert [(m["template"], m["language"], m["parameters"]) for m in seed_messages] == [
        ("order_shipped", "en", ["5643", "10.06.2024", "50,000"])
    ]

    # Rahul is not on WhatsApp: Meta's "failed" (131026) brings exactly one SMS; his email
    # rule sends one email.
    def rahul_sent_by_sms() -> bool:
        row = pipeline.row(ORDER_5644, "order-received")
        return row is not None and (row.status, row.notification.channel) == (
            Status.SENT,
            Channel.SMS,
        )

    assert wait_until(rahul_sent_by_sms, timeout_s=60), _rows(pipeline)
    assert wait_until(lambda: "Email from" in pipeline.emails.getvalue(), timeout_s=60)
    assert pipeline.sms_sent() == [(RAHUL, RAHUL_TEXT)]
    assert pipeline.emails.getvalue() == (
        "Email from orders@ganeshtraders.example to rahul.verma@example.in: "
        f"Order 5644 received\n{RAHUL_TEXT}\n"
    )
    rahul = pipeline.row(ORDER_5644, "order-received")
    assert rahul is not None
    assert (rahul.status, rahul.notification.channel, rahul.fallback_from) == (
        Status.SENT,
        Channel.SMS,
        Channel.WHATSAPP,
    )
    assert rahul.fallback_reason is not None
    assert "131026" in rahul.fallback_reason
    (failed_send,) = [m for m in pipeline.whatsapp.messages() if m["to"] == RAHUL]

    # The failed status again, and late: stale, nothing is scheduled, no second SMS.
    webhook = f"{pipeline.notifier_url}/whatsapp/webhook"
    again = _signed_post(
        webhook,
        _status(failed_send["message_id"], "failed", errors=[{"code": 131026}]),
        APP_SECRET,
    )
    assert again.status_code == 200, again.text
    after = pipeline.row(ORDER_5644, "order-received")
    assert after is not None
    assert (after.status, after.notification.channel, after.provider_message_id) == (
        Status.SENT,
        Channel.SMS,
        rahul.provider_message_id,
    )
    assert pipeline.ledger.entries(LedgerQuery(status=Status.HELD)) == []

    # A status with a wrong signature is refused and changes nothing.
    seed_row = pipeline.row(SEED_DOCUMENT_ID, "sales-order-shipped")
    assert seed_row is not None
    # Kept for a fallback to SMS, never needed.
    assert (seed_row.notification.channel, seed_row.notification.text) == (
        Channel.WHATSAPP,
        SEED_SMS,
    )
    forged = _signed_post(
        webhook,
        _status(seed_row.provider_message_id or "", "failed", errors=[{"code": 131026}]),
        "not-the-app-secret",
    )
    assert forged.status_code == 403, forged.text
    assert pipeline.row(SEED_DOCUMENT_ID, "sales-order-shipped") == seed_row

    # The same webhooks again: once the notifier committed past all four enriched events,
    # nothing more can follow.
    pipeline.webhook(SEED_DOCUMENT_ID)
    pipeline.webhook(ORDER_5644)
    group = f"{topics.group_prefix}-notifier"
    assert wait_until(lambda: committed_total(group) >= 4, timeout_s=60)
    assert pipeline.sms_sent() == [(RAHUL, RAHUL_TEXT)]
    assert len(pipeline.whatsapp.messages()) == 2
    assert pipeline.emails.getvalue().count("Email from") == 1


def _rows(pipeline: Pipeline) -> list[tuple[str, str, str, str | None]]:
    return [
        (row.notification.rule, row.status, row.notification.channel, row.last_error)
        for row in pipeline.ledger.entries()
    ]
