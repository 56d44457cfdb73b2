"""Which channel the handler sends a planned message on: the first of the rule's channels the
recipient has an address for, never an SMS whose text is refused, nothing to someone who
opted out on any channel. Planned messages are written out here (the rules' parsing has
tests of its own); delivery is real, on a SQLite ledger, with senders that record."""

import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from notifier.channels import Channel, WhatsAppTemplate
from notifier.delivery import Delivery, SendPolicy
from notifier.errors import SmsRejected
from notifier.handlers import NotifyHandler
from notifier.ledger import Ledger, LedgerEntry
from notifier.ledger_schema import Status, open_engine
from notifier.metrics import NotifierMetrics
from notifier.opt_outs import OptOutList, OptOutPolicy
from notifier.outbound import EmailChannel, SmsChannel, WhatsAppChannel
from notifier.rules import PlannedMessage
from tests.helpers import enriched_event
from tests.unit.test_notifier_delivery_channels import Scripted

NOON_IN_KOLKATA = datetime(2026, 6, 10, 6, 30, tzinfo=UTC)
TEMPLATE = WhatsAppTemplate("order_shipped", "en", ("5643",))
REFUSAL = "longer than the rule's max_segments (2)"


def _planned(*channels: Channel, **fields: Any) -> PlannedMessage:
    return PlannedMessage(
        **{
            "rule": "shipped",
            "state": "Shipped",
            "phone_text": "+91 98765 43210",
            "text": "Order 5643 is on its way.",
            "sender": None,
            "quiet_hours": None,
            "channels": channels,
            "whatsapp": TEMPLATE if Channel.WHATSAPP in channels else None,
            "email_text": "Ravi.Kumar@Example.IN",
            "email_subject": "Order 5643 shipped" if Channel.EMAIL in channels else None,
            **fields,
        }
    )


class Plan:
    """Stands in for the RuleSet: the same planned messages for any document."""

    def __init__(self, *messages: PlannedMessage) -> None:
        self._messages = list(messages)

    def plan(self, _document: Mapping[str, Any]) -> list[PlannedMessage]:
        return self._messages


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Engine]:
    engine = open_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield engine
    engine.dispose()


class Setup:
    def __init__(self, database: Engine, *, whatsapp: Scripted | None = None) -> None:
        self.ledger = Ledger(database)
        self.opt_outs = OptOutList(database)
        self.whatsapp = whatsapp or Scripted("wamid.")
        self.sms = Scripted("SM")
        self.email = Scripted("<")
        self.registry = CollectorRegistry()
        metrics = NotifierMetrics(self.registry)
        self.delivery = Delivery(
            self.ledger,
            {
                Channel.WHATSAPP: WhatsAppChannel(self.whatsapp),  # type: ignore[arg-type]
                Channel.SMS: SmsChannel(self.sms),  # type: ignore[arg-type]
                Channel.EMAIL: EmailChannel(self.email),  # type: ignore[arg-type]
            },
            SendPolicy(attempts=1),
            metrics=metrics,
        )
        self._policy = OptOutPolicy(self.opt_outs, attribute_name="SMS opt-out", region="IN")
        self._metrics = metrics

    def handle(self, *messages: PlannedMessage, **changes: Any) -> None:
        handler = NotifyHandler(
            Plan(*messages),  # type: ignore[arg-type]
            self.delivery,
            self._policy,
            "IN",
            clock=lambda: NOON_IN_KOLKATA,
            metrics=self._metrics,
        )
        handler(enriched_event(**changes))

    def sent(self) -> tuple[int, int, int]:
        return len(self.whatsapp.calls), len(self.sms.calls), len(self.email.calls)

    def entry(self) -> LedgerEntry:
        (entry,) = self.ledger.entries()
        return entry


def test_whatsapp_first_sends_one_whatsapp_message_and_keeps_sms_as_its_fallback(
    database: Engine,
) -> None:
    setup = Setup(database)
    setup.handle(_planned(Channel.WHATSAPP, Channel.SMS))
    assert setup.sent() == (1, 0, 0)
    notification = setup.entry().notification
    assert (notification.channel, notification.channels) == (
        Channel.WHATSAPP,
        (Channel.WHATSAPP, Channel.SMS),
    )
    assert (notification.phone, notification.email) == ("+919876543210", "Ravi.Kumar@example.in")


def test_a_customer_without_a_mobile_gets_the_email_the_rule_lists_last(database: Engine) -> None:
    setup = Setup(database)
    setup.handle(_planned(Channel.WHATSAPP, Channel.SMS, Channel.EMAIL, phone_text="011-2345 6789"))
    assert setup.sent() == (0, 0, 1)
    entry = setup.entry()
    assert (entry.status, entry.notification.phone, entry.notification.channels) == (
        Status.SENT,
        None,
        (Channel.EMAIL,),
    )


def test_a_refused_sms_text_leaves_sms_out_and_another_channel_sends(
    database: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    setup = Setup(database)
    with caplog.at_level(logging.INFO, logger="notifier.handlers"):
        setup.handle(_planned(Channel.SMS, Channel.EMAIL, refusal=REFUSAL))
    assert setup.sent() == (0, 0, 1)
    assert setup.entry().notification.channels == (Channel.EMAIL,)
    (left_out,) = [
        r for r in caplog.records if r.getMessage() == "sms left out: its text is refused"
    ]
    assert left_out.__dict__["reason"] == REFUSAL


def test_a_refused_sms_text_is_no_fallback_for_a_whatsapp_refusal(database: Engine) -> None:
    whatsapp = Scripted("wamid.", SmsRejected("WhatsApp refused the message: HTTP 400"))
    setup = Setup(database, whatsapp=whatsapp)
    setup.handle(_planned(Channel.WHATSAPP, Channel.SMS, refusal=REFUSAL))
    assert setup.sent() == (1, 0, 0)
    entry = setup.entry()
    assert (entry.status, entry.notification.channels) == (Status.FAILED, (Channel.WHATSAPP,))


def test_a_refused_sms_text_with_no_other_channel_is_recorded_as_refused(
    database: Engine,
) -> None:
    setup = Setup(database)
    setup.handle(_planned(Channel.SMS, Channel.EMAIL, refusal=REFUSAL, email_text=None))
    assert setup.sent() == (0, 0, 0)
    entry = setup.entry()
    assert (entry.status, entry.last_error, entry.notification.channel) == (
        Status.REFUSED,
        REFUSAL,
        Channel.SMS,
    )


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (_planned(Channel.EMAIL, email_text="call the office"), "no valid email address"),
        (_planned(Channel.EMAIL, email_text=None), "no email address"),
        (
            _planned(Channel.WHATSAPP, Channel.EMAIL, phone_text=None, email_text=" "),
            "no phone; no email address",
        ),
    ],
)
def test_a_recipient_with_no_address_for_any_channel_is_logged_and_skipped(
    database: Engine, caplog: pytest.LogCaptureFixture, message: PlannedMessage, reason: str
) -> None:
    setup = Setup(database)
    with caplog.at_level(logging.WARNING, logger="notifier.handlers"):
        setup.handle(message)
    assert setup.sent() == (0, 0, 0)
    assert setup.ledger.entries() == []
    (record,) = caplog.records
    assert record.getMessage() == f"{message.channels[0]} skipped"
    assert record.__dict__["reason"] == reason
    channel = message.channels[0].value
    assert (
        setup.registry.get_sample_value(
            "notifier_messages_total", {"channel": channel, "status": "skipped"}
        )
        == 1
    )


def test_an_email_on_the_opt_out_list_stops_a_whatsapp_message_too(database: Engine) -> None:
    setup = Setup(database)
    setup.opt_outs.add("ravi.kumar@example.in", "unsubscribed")
    setup.handle(_planned(Channel.WHATSAPP, Channel.SMS))
    assert setup.sent() == (0, 0, 0)
    entry = setup.entry()
    assert (entry.status, entry.last_error) == (
        Status.SKIPPED,
        "opted out: the email address is on the opt-out list",
    )


def test_a_number_on_the_opt_out_list_stops_an_email_too(database: Engine) -> None:
    setup = Setup(database)
    setup.opt_outs.add("+919876543210", "replied STOP")
    setup.handle(_planned(Channel.EMAIL))
    assert setup.sent() == (0, 0, 0)
    assert setup.entry().last_error == "opted out: the number is on the opt-out list"


def test_a_counterparty_flagged_opted_out_gets_no_email_at_its_own_address(
    database: Engine,
) -> None:
    agent = {
        "id": "a1",
        "name": "Ravi Kumar",
        "phone": None,
        "email": "Ravi.Kumar@example.in",
        "attributes": {"SMS opt-out": True},
    }
    setup = Setup(database)
    setup.handle(
        _planned(Channel.EMAIL, phone_text=None),
        _planned(Channel.EMAIL, rule="staff", phone_text=None, email_text="orders@acme.example"),
        agent=agent,
    )
    statuses = {entry.notification.rule: entry.status for entry in setup.ledger.entries()}
    assert statuses == {"shipped": Status.SKIPPED, "staff": Status.SENT}
    assert [email.to for email in setup.email.calls] == ["orders@acme.example"]  # type: ignore[attr-defined]
