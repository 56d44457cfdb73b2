"""Delivery on WhatsApp, SMS and email through the channel adapters, with senders that
record each call and answer from a script, and a SQLite ledger: which channel sends, and
the one fallback a refusal at send makes."""

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from notifier.channels import Channel, WhatsAppTemplate
from notifier.delivery import Delivery, Outcome, SendPolicy
from notifier.email_channel import Email
from notifier.errors import SmsProviderUnavailable, SmsRejected
from notifier.ledger import Ledger, LedgerEntry, Notification
from notifier.ledger_schema import Status, open_engine
from notifier.metrics import NotifierMetrics
from notifier.outbound import ChannelSender, EmailChannel, SmsChannel, WhatsAppChannel
from notifier.releaser import HeldReleaser, StuckReporter
from notifier.sms import Sms
from notifier.whatsapp import WhatsAppMessage

NOW = datetime(2026, 6, 10, 9, 30, tzinfo=UTC)
KEY = "c" * 64
TEMPLATE = WhatsAppTemplate("order_shipped", "en", ("5643", "10.06.2024", "50,000"))


class Scripted:
    """Any channel's sender: records each message, answers with the next scripted error,
    or an id once they run out."""

    def __init__(self, prefix: str, *errors: Exception) -> None:
        self.calls: list[object] = []
        self._prefix = prefix
        self._errors = list(errors)

    def send(self, message: object) -> str:
        self.calls.append(message)
        if self._errors:
            raise self._errors.pop(0)
        return f"{self._prefix}{len(self.calls)}"


def _notification(*channels: Channel, phone: str | None = "+919876543210") -> Notification:
    return Notification(
        key=KEY,
        document_id="doc-1",
        rule="shipped",
        state="Shipped",
        phone=phone,
        text="Order 5643 is on its way.",
        sender="ACMESHOP",
        dlt_template_id="1107161234567890123",
        channels=channels,
        channel=channels[0],
        email="ravi.kumar@example.in",
        email_subject="Order 5643 shipped",
        whatsapp=TEMPLATE,
    )


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    engine = open_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield Ledger(engine, lambda: NOW)
    engine.dispose()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


class Senders:
    def __init__(self, whatsapp: Scripted, sms: Scripted, email: Scripted) -> None:
        self.whatsapp, self.sms, self.email = whatsapp, sms, email

    def delivery(self, ledger: Ledger, registry: CollectorRegistry) -> Delivery:
        channels: dict[Channel, ChannelSender] = {
            Channel.WHATSAPP: WhatsAppChannel(self.whatsapp),  # type: ignore[arg-type]
            Channel.SMS: SmsChannel(self.sms),  # type: ignore[arg-type]
            Channel.EMAIL: EmailChannel(self.email),  # type: ignore[arg-type]
        }
        return Delivery(
            ledger,
            channels,
            SendPolicy(attempts=3, backoff_base_s=1.0, backoff_cap_s=4.0),
            sleep=lambda _s: None,
            jitter=lambda: 1.0,
            metrics=NotifierMetrics(registry),
        )


def _senders(
    whatsapp: tuple[Exception, ...] = (),
    sms: tuple[Exception, ...] = (),
    email: tuple[Exception, ...] = (),
) -> Senders:
    return Senders(Scripted("wamid.", *whatsapp), Scripted("SM", *sms), Scripted("<", *email))


def _entry(ledger: Ledger) -> LedgerEntry:
    entry = ledger.entry(KEY)
    assert entry is not None
    return entry


SMS = Sms(
    to="+919876543210",
    text="Order 5643 is on its way.",
    idempotency_key=KEY,
    sender="ACMESHOP",
    dlt_template_id="1107161234567890123",
)


def test_a_whatsapp_message_goes_out_as_its_template_and_nothing_else(
    ledger: Ledger, registry: CollectorRegistry
) -> None:
    senders = _senders()
    delivery = senders.delivery(ledger, registry)
    assert delivery.deliver(_notification(Channel.WHATSAPP, Channel.SMS)) is Outcome.SENT
    assert senders.whatsapp.calls == [
        WhatsAppMessage(
            to="+919876543210",
            template="order_shipped",
            language="en",
            parameters=("5643", "10.06.2024", "50,000"),
        )
    ]
    assert (senders.sms.calls, senders.email.calls) == ([], [])
    entry = _entry(ledger)
    assert (entry.status, entry.provider_message_id, entry.notification.channel) == (
        Status.SENT,
        "wamid.1",
        Channel.WHATSAPP,
    )
    assert (
        registry.get_sample_value(
            "notifier_messages_total", {"channel": "whatsapp", "status": "sent"}
        )
        == 1
    )
    assert registry.get_sample_value("notifier_sms_total", {"status": "sent"}) == 1


def test_whatsapp_refusing_at_send_sends_exactly_one_sms(
    ledger: Ledger, registry: CollectorRegistry
) -> None:
    refused = SmsRejected("WhatsApp refused the message: HTTP 400 (Meta error 131026)")
    senders = _senders(whatsapp=(refused,))
    delivery = senders.delivery(ledger, registry)
    assert delivery.deliver(_notification(Channel.WHATSAPP, Channel.SMS)) is Outcome.SENT
    assert len(senders.whatsapp.calls) == 1
    assert senders.sms.calls == [SMS]
    entry = _entry(ledger)
    assert (entry.status, entry.notification.channel, entry.provider_message_id) == (
        Status.SENT,
        Channel.SMS,
        "SM1",
    )
    assert (entry.fallback_from, entry.fallback_reason, entry.attempts) == (
        Channel.WHATSAPP,
        "WhatsApp refused the message: HTTP 400 (Meta error 131026)",
        1,
    )
    assert (
        registry.get_sample_value(
            "notifier_fallbacks_total", {"from_channel": "whatsapp", "to_channel": "sms"}
        )
        == 1
    )
    assert (
        registry.get_sample_value("notifier_messages_total", {"channel": "sms", "status": "sent"})
        == 1
    )
    assert (
        registry.get_sample_value(
            "notifier_messages_total", {"channel": "whatsapp", "status": "failed"}
        )
        is None
    )


def test_the_next_channel_refusing_too_fails_the_row_without_a_second_fallback(
    ledger: Ledger, registry: CollectorRegistry
) -> None:
    senders = _senders(
        whatsapp=(SmsRejected("WhatsApp refused the message: HTTP 400 (Meta error 132001)"),),
        sms=(SmsRejected("SMS gateway refused the message: HTTP 400"),),
    )
    delivery = senders.delivery(ledger, registry)
    notification = _notification(Channel.WHATSAPP, Channel.SMS, Channel.EMAIL)
    assert delivery.deliver(notification) is Outcome.FAILED
    assert (len(senders.whatsapp.calls), len(senders.sms.calls), senders.email.calls) == (1, 1, [])
    entry = _entry(ledger)
    assert (entry.status, entry.notification.channel, entry.last_error) == (
        Status.FAILED,
        Channel.SMS,
        "SMS gateway refused the message: HTTP 400",
    )


def test_an_unavailable_whatsapp_fails_the_row_when_attempts_are_spent_and_sends_no_sms(
    ledger: Ledger, registry: CollectorRegistry
) -> None:
    # A timeout may have delivered it: another channel could make it two messages.
    senders = _senders(whatsapp=tuple(SmsProviderUnavailable(f"HTTP 50{n}") for n in range(3)))
    delivery = senders.delivery(ledger, registry)
    assert delivery.deliver(_notification(Channel.WHATSAPP, Channel.SMS)) is Outcome.FAILED
    assert (len(senders.whatsapp.calls), senders.sms.calls) == (3, [])
    entry = _entry(ledger)
    assert (entry.status, entry.notification.channel, entry.fallback_from, entry.last_error) == (
        Status.FAILED,
        Channel.WHATSAPP,
        None,
        "HTTP 502",
    )


def test_an_email_only_rule_sends_one_email_to_a_customer_without_a_phone(
    ledger: Ledger, registry: CollectorRegistry
) -> None:
    senders = _senders()
    delivery = senders.delivery(ledger, registry)
    assert delivery.deliver(_notification(Channel.EMAIL, phone=None)) is Outcome.SENT
    assert senders.email.calls == [
        Email(
            to="ravi.kumar@example.in",
            subject="Order 5643 shipped",
            text="Order 5643 is on its way.",
        )
    ]
    assert (senders.whatsapp.calls, senders.sms.calls) == ([], [])
    assert _entry(ledger).provider_message_id == "<1"


def test_a_channel_the_instance_has_no_sender_for_falls_back_like_a_refusal(
    ledger: Ledger, registry: CollectorRegistry
) -> None:
    sms = Scripted("SM")
    delivery = Delivery(
        ledger,
        {Channel.SMS: SmsChannel(sms)},  # type: ignore[arg-type]
        metrics=NotifierMetrics(registry),
    )
    assert delivery.deliver(_notification(Channel.WHATSAPP, Channel.SMS)) is Outcome.SENT
    assert sms.calls == [SMS]
    assert _entry(ledger).fallback_reason == "the notifier has no whatsapp channel set up"


def test_a_whatsapp_row_left_sending_by_a_dead_process_is_never_sent_on_another_channel(
    ledger: Ledger, registry: CollectorRegistry
) -> None:
    ledger.claim(_notification(Channel.WHATSAPP, Channel.SMS))  # then the process died
    senders = _senders()
    delivery = senders.delivery(ledger, registry)
    releaser = HeldReleaser(
        ledger, delivery, StuckReporter(ledger, 300), threading.Event(), interval_s=1
    )
    assert delivery.deliver(_notification(Channel.WHATSAPP, Channel.SMS)) is Outcome.DUPLICATE
    assert releaser.release_due() == 0
    assert (senders.whatsapp.calls, senders.sms.calls) == ([], [])
    entry = _entry(ledger)
    assert (entry.status, entry.notification.channel) == (Status.SENDING, Channel.WHATSAPP)


def test_a_held_whatsapp_message_is_released_on_whatsapp(
    ledger: Ledger, registry: CollectorRegistry
) -> None:
    senders = _senders()
    delivery = senders.delivery(ledger, registry)
    notification = _notification(Channel.WHATSAPP, Channel.SMS)
    assert delivery.deliver(notification, held_until=NOW - timedelta(seconds=1)) is Outcome.HELD
    (due,) = ledger.claim_due()
    assert delivery.send_released(due) is Outcome.SENT
    assert (len(senders.whatsapp.calls), senders.sms.calls) == (1, [])


def test_whatsapp_parameters_go_out_on_one_line() -> None:
    whatsapp = Scripted("wamid.")
    notification = Notification(
        **{
            **_notification(Channel.WHATSAPP).__dict__,
            "whatsapp": WhatsAppTemplate(
                "order_shipped", "en", ("Flat 4,\n  MG     Road\t", "leave at\r\nthe gate")
            ),
        }
    )
    WhatsAppChannel(whatsapp).send(notification)  # type: ignore[arg-type]
    (message,) = whatsapp.calls
    assert isinstance(message, WhatsAppMessage)
    assert message.parameters == ("Flat 4, MG Road", "leave at the gate")
