"""Issue 17's last proof: two notifiers sending WhatsApp with SMS as fallback, one of them
SIGKILLed mid-stream and started again, every event delivered twice and every failed
status replayed. Each business event ends with exactly one delivered message in total,
once the rows the kill left ``sending`` are resolved as an operator would.

The notifiers are ``python -m notifier`` children on the real broker and PostgreSQL; the
sandbox's fake WhatsApp Cloud API (holding each send, so the kill finds some in flight)
and an SMS gateway that records what it is sent run in this process.
"""

import hashlib
import hmac
import json
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine

from devstack.broker import free_port, wait_for_port
from devstack.http_server import BackgroundServer
from devstack.processes import ServiceProcess
from notifier.channels import Channel
from notifier.ledger import Ledger, LedgerEntry, Resolution
from notifier.ledger_schema import Status
from sandbox.app import create_app as create_sandbox
from sandbox.whatsapp import WhatsAppFake, WhatsAppInbox
from shared.events import to_record
from tests.conftest import PipelineTopics
from tests.helpers import FakeProvider, enriched_event, publish_records, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.broker]

WHATSAPP_TOKEN = "crash-whatsapp-token"
APP_SECRET = "crash-whatsapp-app-secret"
RULES = """
[[rule]]
name = "order-shipped"
type = "CustomerOrder"
state = "Shipped"
channels = ["whatsapp", "sms"]
whatsapp_template = "order_shipped"
whatsapp_parameters = ["{number}"]
template = "Sales Order {number} has been handed over to the delivery service."
"""
NEVER = datetime.max.replace(tzinfo=UTC)
DOCUMENTS = 30
IN_FLIGHT = 4


def _phone(index: int) -> str:
    return f"+9198200{10000 + index}"


def _not_on_whatsapp(index: int) -> bool:
    return index % 3 == 0


@dataclass
class Fleet:
    whatsapp: WhatsAppInbox
    sms: FakeProvider
    ledger: Ledger
    webhook_url: str
    start: Callable[[str], ServiceProcess]
    killed_at: datetime = NEVER
    """When the victim died: a row ``sending`` since then is a live instance's, in flight."""


@pytest.fixture
def fleet(
    kafka_bootstrap: str, topics: PipelineTopics, database_url: str, tmp_path: Path
) -> Iterator[Fleet]:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    whatsapp = WhatsAppInbox()
    for index in range(DOCUMENTS):
        whatsapp.set_on_whatsapp(_phone(index), on_whatsapp=not _not_on_whatsapp(index))
    sms = FakeProvider()
    # Meta's statuses reach one instance (the first; behind a load balancer, any one).
    webhook_port = free_port()
    webhook_url = f"http://127.0.0.1:{webhook_port}/whatsapp/webhook"
    sandbox_app = create_sandbox(
        whatsapp=WhatsAppFake(token=WHATSAPP_TOKEN, app_secret=APP_SECRET, webhook_url=webhook_url),
        whatsapp_inbox=whatsapp,
    )
    started: list[ServiceProcess] = []
    with BackgroundServer(sandbox_app) as sandbox, BackgroundServer(sms.app()) as gateway:
        environment = {
            **topics.environment(kafka_bootstrap),
            "NOTIFIER_GROUP_ID": f"{topics.group_prefix}-notifier",
            "NOTIFIER_DOCUMENTS_IN_FLIGHT": str(IN_FLIGHT),
            "SMS_PROVIDER": "http",
            "SMS_HTTP_URL": f"{gateway.url}/sms",
            "WHATSAPP_API_URL": f"{sandbox.url}/whatsapp/v21.0",
            "WHATSAPP_TOKEN": WHATSAPP_TOKEN,
            "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
            "WHATSAPP_APP_SECRET": APP_SECRET,
            "WHATSAPP_VERIFY_TOKEN": "crash-verify-token",
            "SMS_TIMEOUT_S": "60",
            "NOTIFIER_RULES": str(rules),
            "NOTIFIER_DATABASE_URL": database_url,
            "NOTIFIER_RELEASE_INTERVAL_S": "0.2",
        }

        def start(name: str) -> ServiceProcess:
            port = webhook_port if name == "first" else free_port()
            process = ServiceProcess(
                "notifier", environment | {"METRICS_PORT": str(port)}, log_dir=tmp_path / name
            ).start()
            started.append(process)
            wait_for_port("127.0.0.1", port, timeout_s=60)
            return process

        engine = create_engine(database_url)
        try:
            yield Fleet(whatsapp, sms, Ledger(engine), webhook_url, start)
        finally:
            for process in started:
                process.stop()
            engine.dispose()


def _delivered(fleet: Fleet) -> dict[str, int]:
    """Messages that reached a customer, per phone: a WhatsApp to a number on WhatsApp,
    or an SMS."""
    counts: dict[str, int] = {}
    for message in fleet.whatsapp.messages():
        if fleet.whatsapp.on_whatsapp(message["to"]):
            counts[message["to"]] = counts.get(message["to"], 0) + 1
    for request in fleet.sms.requests:
        to = request["json"]["to"]
        counts[to] = counts.get(to, 0) + 1
    return counts


def _settled(entries: list[LedgerEntry], fleet: Fleet) -> bool:
    """Nothing more will happen by itself: no row held or in flight (a row the victim left
    ``sending`` stays so), and every row sent on WhatsApp to a number not on WhatsApp has
    fallen back."""
    for entry in entries:
        notification = entry.notification
        if entry.status is Status.HELD:
            return False
        if entry.status is Status.SENDING and entry.updated_at >= fleet.killed_at:
            return False
        waiting_for_failed_status = (
            entry.status is Status.SENT
            and notification.channel is Channel.WHATSAPP
            and not fleet.whatsapp.on_whatsapp(notification.phone or "")
        )
        if waiting_for_failed_status:
            return False
    return len(entries) == DOCUMENTS


def _unsettled(fleet: Fleet) -> list[tuple[object, ...]]:
    """For a failure's message: the rows still waiting, with what the fake did for them."""
    return [
        (
            entry.notification.phone,
            entry.status,
            entry.notification.channel,
            [
                m["statuses"]
                for m in fleet.whatsapp.messages()
                if m["to"] == entry.notification.phone
            ],
        )
        for entry in fleet.ledger.entries()
        if not _settled([entry] * DOCUMENTS, fleet)
    ]


def _replay_failed_statuses(fleet: Fleet) -> int:
    """Every failed status the fake posted, posted again (as Meta may): how many."""
    replayed = 0
    for message in fleet.whatsapp.messages():
        if fleet.whatsapp.on_whatsapp(message["to"]):
            continue
        item = {"id": message["message_id"], "status": "failed", "errors": [{"code": 131026}]}
        body = json.dumps(
            {"entry": [{"changes": [{"field": "messages", "value": {"statuses": [item]}}]}]}
        ).encode()
        signature = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        answer = requests.post(
            fleet.webhook_url,
            data=body,
            headers={"X-Hub-Signature-256": f"sha256={signature}"},
            timeout=10,
        )
        assert answer.status_code in (200, 503), answer.text
        replayed += 1
    return replayed


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_notifiers_and_a_sigkill_deliver_one_message_per_business_event(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    fleet: Fleet,
    committed_total: Callable[[str], int],
) -> None:
    records = [
        to_record(event)
        for index in range(DOCUMENTS)
        for event in [
            enriched_event(
                id=f"crash-{index}",
                number=str(7000 + index),
                agent={
                    "id": f"a{index}",
                    "name": "Customer",
                    "phone": _phone(index),
                    "email": None,
                },
            )
        ]
        * 2
    ]
    publish_records(kafka_bootstrap, topics.enriched, records)
    fleet.whatsapp.answer_delay_s = 0.3  # several sends in flight when the kill comes

    fleet.start("first")
    victim = fleet.start("victim")
    assert wait_until(lambda: len(fleet.whatsapp.messages()) >= 6, timeout_s=90)
    victim.signal(signal.SIGKILL)
    fleet.killed_at = datetime.now(UTC)
    assert victim.stop() == -signal.SIGKILL
    assert len(fleet.whatsapp.messages()) < DOCUMENTS, "killed too late to prove anything"
    fleet.start("restarted")
    fleet.whatsapp.answer_delay_s = 0.0
    group = f"{topics.group_prefix}-notifier"
    assert wait_until(lambda: committed_total(group) == len(records), timeout_s=180)
    assert wait_until(lambda: _settled(fleet.ledger.entries(), fleet), timeout_s=120), _unsettled(
        fleet
    )

    assert _replay_failed_statuses(fleet) >= DOCUMENTS // 3
    assert _settled(fleet.ledger.entries(), fleet)

    entries = fleet.ledger.entries()
    delivered = _delivered(fleet)
    assert max(delivered.values()) == 1, "a customer got two messages"
    stuck = [entry for entry in entries if entry.status is Status.SENDING]
    assert len(stuck) <= IN_FLIGHT  # only the killed instance's sends in flight
    for entry in entries:
        if entry.status is not Status.SENDING:
            assert entry.status is Status.SENT, entry
            assert delivered.get(entry.notification.phone or "") == 1, entry

    # The operator's part (docs/notifier.md, "At most once: stuck rows"): a stuck row whose
    # message Meta accepted and delivered is resolved as sent; one Meta never got, or
    # reported failed, is sent again (and then falls back like any other).
    for entry in stuck:
        resolution = Resolution.SENT if _reached(fleet, entry) else Resolution.RESEND
        assert fleet.ledger.resolve(entry.notification.key, resolution)
    assert wait_until(lambda: _settled(fleet.ledger.entries(), fleet), timeout_s=60)
    assert _delivered(fleet) == {_phone(index): 1 for index in range(DOCUMENTS)}


def _reached(fleet: Fleet, entry: LedgerEntry) -> bool:
    phone = entry.notification.phone or ""
    received = [message for message in fleet.whatsapp.messages() if message["to"] == phone]
    return bool(received) and fleet.whatsapp.on_whatsapp(phone)
