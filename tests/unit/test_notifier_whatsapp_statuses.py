"""Meta's statuses into the ledger: sent, delivered and read recorded; failed moving the
message to its next channel once, for the releaser to send; through the signed webhook
too. A SQLite ledger, senders that record."""

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy import Engine

from notifier.channels import Channel, WhatsAppTemplate
from notifier.delivery import Delivery
from notifier.errors import LedgerUnavailable
from notifier.ledger import Ledger, LedgerEntry, LedgerQuery, Notification
from notifier.ledger_schema import DeliveryStatus, Status, open_engine
from notifier.metrics import NotifierMetrics
from notifier.outbound import SmsChannel
from notifier.releaser import HeldReleaser, StuckReporter
from notifier.whatsapp_statuses import WhatsAppStatusRecorder
from notifier.whatsapp_webhook import WhatsAppStatus, whatsapp_webhook_app
from tests.unit.test_notifier_delivery_channels import Scripted

NOW = datetime(2026, 6, 10, 9, 30, tzinfo=UTC)
MORNING = datetime(2026, 6, 11, 3, 30, tzinfo=UTC)
KEY = "d" * 64
WAMID = "wamid.HBgLOTE5ODc2NTQzMjEwFQIAERgSQjZGOTUwRDRFNzg2MUEzN0VEAA=="
APP_SECRET = "meta-app-secret"


def _notification(*channels: Channel) -> Notification:
    return Notification(
        key=KEY,
        document_id="doc-1",
        rule="shipped",
        state="Shipped",
        phone="+919876543210",
        text="Order 5643 is on its way.",
        channels=channels,
        channel=channels[0],
        whatsapp=WhatsAppTemplate("order_shipped", "en", ("5643",)),
    )


def _status(status: str, *codes: int, message_id: str = WAMID) -> WhatsAppStatus:
    return WhatsAppStatus(
        message_id=message_id,
        status=status,
        timestamp=1750857384,
        error_codes=codes,
        recipient_id="919876543210",
    )


class Clock:
    now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Engine]:
    engine = open_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(database: Engine, clock: Clock) -> Ledger:
    """A ledger with a WhatsApp message Meta accepted as ``WAMID``, SMS its fallback."""
    ledger = Ledger(database, clock)
    ledger.claim(_notification(Channel.WHATSAPP, Channel.SMS))
    ledger.mark_sent(KEY, provider_message_id=WAMID, attempts=1)
    return ledger


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> NotifierMetrics:
    return NotifierMetrics(registry)


def _recorder(
    ledger: Ledger,
    clock: Clock,
    metrics: NotifierMetrics,
    quiet: dict[str, datetime] | None = None,
) -> WhatsAppStatusRecorder:
    return WhatsAppStatusRecorder(ledger, (quiet or {}).get, clock, metrics=metrics)


def _entry(ledger: Ledger) -> LedgerEntry:
    entry = ledger.entry(KEY)
    assert entry is not None
    return entry


def _sms_sent_by_releaser(ledger: Ledger) -> list[object]:
    sms = Scripted("SM")
    delivery = Delivery(ledger, {Channel.SMS: SmsChannel(sms)})  # type: ignore[arg-type]
    HeldReleaser(
        ledger, delivery, StuckReporter(ledger, 300), threading.Event(), interval_s=1
    ).release_due()
    return sms.calls


def test_sent_delivered_and_read_are_recorded_in_order_whatever_order_they_come_in(
    ledger: Ledger, clock: Clock, metrics: NotifierMetrics
) -> None:
    recorder = _recorder(ledger, clock, metrics)
    recorder.record([_status("sent"), _status("read")])
    assert _entry(ledger).delivery_status is DeliveryStatus.READ
    recorder.record([_status("delivered")])
    entry = _entry(ledger)
    assert (entry.status, entry.delivery_status) == (Status.SENT, DeliveryStatus.READ)


def test_a_failed_status_holds_the_message_for_sms_and_the_releaser_sends_one_sms(
    ledger: Ledger, clock: Clock, registry: CollectorRegistry, metrics: NotifierMetrics
) -> None:
    _recorder(ledger, clock, metrics).record([_status("sent"), _status("failed", 131026)])
    entry = _entry(ledger)
    assert (entry.status, entry.due_at, entry.notification.channel) == (
        Status.HELD,
        NOW,
        Channel.SMS,
    )
    assert (entry.fallback_from, entry.fallback_reason, entry.replaced_message_id) == (
        Channel.WHATSAPP,
        "WhatsApp reported failed (Meta error 131026)",
        WAMID,
    )
    assert (
        registry.get_sample_value(
            "notifier_fallbacks_total", {"from_channel": "whatsapp", "to_channel": "sms"}
        )
        == 1
    )
    assert len(_sms_sent_by_releaser(ledger)) == 1
    assert _entry(ledger).status is Status.SENT


def test_a_failed_status_twice_late_or_at_another_instance_sends_no_second_message(
    database: Engine,
    ledger: Ledger,
    clock: Clock,
    registry: CollectorRegistry,
    metrics: NotifierMetrics,
) -> None:
    _recorder(ledger, clock, metrics).record([_status("failed", 131026)])
    assert len(_sms_sent_by_releaser(ledger)) == 1
    another_instance = _recorder(Ledger(database, clock), clock, metrics)
    another_instance.record([_status("failed", 131026), _status("delivered")])
    _recorder(ledger, clock, metrics).record([_status("failed", 131026)])
    assert _sms_sent_by_releaser(ledger) == []
    entry = _entry(ledger)
    assert (entry.status, entry.provider_message_id, entry.delivery_status) == (
        Status.SENT,
        "SM1",
        None,
    )
    assert (
        registry.get_sample_value(
            "notifier_fallbacks_total", {"from_channel": "whatsapp", "to_channel": "sms"}
        )
        == 1
    )


def test_a_failed_status_inside_quiet_hours_waits_for_their_end(
    ledger: Ledger, clock: Clock, metrics: NotifierMetrics
) -> None:
    recorder = _recorder(ledger, clock, metrics, quiet={"shipped": MORNING})
    recorder.record([_status("failed", 131026)])
    assert _entry(ledger).due_at == MORNING
    assert _sms_sent_by_releaser(ledger) == []
    clock.now = MORNING
    assert len(_sms_sent_by_releaser(ledger)) == 1


def test_a_failed_message_without_a_next_channel_is_recorded_undelivered(
    database: Engine, clock: Clock, metrics: NotifierMetrics
) -> None:
    ledger = Ledger(database, clock)
    ledger.claim(_notification(Channel.WHATSAPP))
    ledger.mark_sent(KEY, provider_message_id=WAMID, attempts=1)
    _recorder(ledger, clock, metrics).record([_status("failed", 131026)])
    entry = _entry(ledger)
    assert (entry.status, entry.delivery_status, entry.last_error) == (
        Status.SENT,
        DeliveryStatus.UNDELIVERED,
        "WhatsApp reported failed (Meta error 131026)",
    )
    assert _sms_sent_by_releaser(ledger) == []


def test_a_failed_status_after_delivered_sends_nothing_more(
    ledger: Ledger, clock: Clock, metrics: NotifierMetrics
) -> None:
    _recorder(ledger, clock, metrics).record([_status("delivered"), _status("failed", 131000)])
    entry = _entry(ledger)
    assert (entry.status, entry.delivery_status, entry.notification.channel) == (
        Status.SENT,
        DeliveryStatus.DELIVERED,
        Channel.WHATSAPP,
    )


def test_an_unknown_status_or_message_is_ignored(
    ledger: Ledger, clock: Clock, metrics: NotifierMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="notifier.delivery_reports"):
        _recorder(ledger, clock, metrics).record(
            [_status("deleted"), _status("failed", 131026, message_id="wamid.someone-elses")]
        )
    assert [record.getMessage() for record in caplog.records] == [
        "whatsapp status report ignored: unknown status",
        "whatsapp status report for an unknown message",
    ]
    entry = _entry(ledger)
    assert (entry.delivery_status, entry.notification.channel) == (None, Channel.WHATSAPP)


def test_a_status_overtaking_the_record_of_its_send_is_refused_for_meta_to_retry(
    database: Engine, clock: Clock, metrics: NotifierMetrics
) -> None:
    ledger = Ledger(database, clock)
    ledger.claim(_notification(Channel.WHATSAPP, Channel.SMS))  # Meta answered; not recorded yet
    recorder = _recorder(ledger, clock, metrics)
    with pytest.raises(LedgerUnavailable):
        recorder.record([_status("failed", 131026)])
    ledger.mark_sent(KEY, provider_message_id=WAMID, attempts=1)
    recorder.record([_status("failed", 131026)])  # Meta's retry
    assert _entry(ledger).status is Status.HELD


ALL = LedgerQuery()


class _RecordedMeanwhile(Ledger):
    """A ledger whose send is recorded by another thread just as the recorder looks for
    sends in flight: after the status found no message, before it found no send."""

    def entries(self, query: LedgerQuery = ALL) -> list[LedgerEntry]:
        if query.status is Status.SENDING and self.entry(KEY) is not None:
            self.mark_sent(KEY, provider_message_id=WAMID, attempts=1)
        return super().entries(query)


def test_a_send_recorded_between_the_recorders_two_looks_still_falls_back(
    database: Engine, clock: Clock, metrics: NotifierMetrics
) -> None:
    ledger = _RecordedMeanwhile(database, clock)
    ledger.claim(_notification(Channel.WHATSAPP, Channel.SMS))
    _recorder(ledger, clock, metrics).record([_status("failed", 131026)])
    entry = _entry(ledger)
    assert (entry.status, entry.notification.channel) == (Status.HELD, Channel.SMS)


def _signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def test_a_signed_failed_status_through_the_webhook_falls_back_and_a_forged_one_does_not(
    ledger: Ledger, clock: Clock, metrics: NotifierMetrics
) -> None:
    app = whatsapp_webhook_app(
        _recorder(ledger, clock, metrics),
        verify_token=SecretStr("verify"),
        app_secret=SecretStr(APP_SECRET),
    )
    item = {
        "id": WAMID,
        "status": "failed",
        "timestamp": "1750857384",
        "recipient_id": "919876543210",
        "errors": [{"code": 131026, "title": "Message undeliverable"}],
    }
    body = json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {"id": "1", "changes": [{"field": "messages", "value": {"statuses": [item]}}]}
            ],
        }
    ).encode()
    client = app.test_client()
    forged = client.post("/webhook", data=body, headers=_signed(body + b" "))
    assert forged.status_code == 403
    assert _entry(ledger).status is Status.SENT
    answer = client.post("/webhook", data=body, headers=_signed(body))
    assert (answer.status_code, answer.json) == (200, {"statuses": 1})
    assert _entry(ledger).status is Status.HELD
    clock.now += timedelta(seconds=1)
    assert client.post("/webhook", data=body, headers=_signed(body)).status_code == 200
    assert len(_sms_sent_by_releaser(ledger)) == 1
