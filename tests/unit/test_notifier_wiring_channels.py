"""The wiring of the channels: a sender per configured channel, rules that name a channel
nobody configured refused at start-up, and the quiet-hours end a WhatsApp fallback waits
for."""

import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import requests

from notifier.channels import Channel
from notifier.outbound import EmailChannel, SmsChannel, WhatsAppChannel
from notifier.rules import RuleSet
from notifier.settings import NotifierSettings
from notifier.wiring import build_senders, quiet_hours_end, unconfigured_channel
from shared.settings import environment_variables, load_settings

RULES = """
[[rule]]
name = "order-shipped"
type = "CustomerOrder"
state = "Shipped"
channels = ["whatsapp", "sms"]
whatsapp_template = "order_shipped"
whatsapp_parameters = ["{number}"]
template = "Sales Order {number} has been handed over to the delivery service."
quiet_hours = "21:00-09:00"

[[rule]]
name = "order-received"
type = "CustomerOrder"
state = "New"
channels = ["email"]
email_subject = "Order {number} received"
template = "We have received your order {number}."
"""
WHATSAPP = {
    "WHATSAPP_TOKEN": "EAAG-system-user-token",
    "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
    "WHATSAPP_APP_SECRET": "app-secret-value",
    "WHATSAPP_VERIFY_TOKEN": "verify-token-value",
    "METRICS_PORT": "9300",
}
EMAIL = {"SMTP_URL": "smtp://127.0.0.1:8025", "EMAIL_FROM": "orders@shop.example"}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in environment_variables(NotifierSettings):
        monkeypatch.delenv(name, raising=False)


def _settings(monkeypatch: pytest.MonkeyPatch, *groups: dict[str, str]) -> NotifierSettings:
    for group in groups:
        for name, value in group.items():
            monkeypatch.setenv(name, value)
    return load_settings(NotifierSettings)


def test_each_configured_channel_gets_its_sender(monkeypatch: pytest.MonkeyPatch) -> None:
    with requests.Session() as session:
        sms_only = build_senders(_settings(monkeypatch), session, io.StringIO())
        assert {channel: type(sender) for channel, sender in sms_only.items()} == {
            Channel.SMS: SmsChannel
        }
        every = build_senders(_settings(monkeypatch, WHATSAPP, EMAIL), session, io.StringIO())
    assert {channel: type(sender) for channel, sender in every.items()} == {
        Channel.SMS: SmsChannel,
        Channel.WHATSAPP: WhatsAppChannel,
        Channel.EMAIL: EmailChannel,
    }


def test_rules_naming_a_channel_nobody_configured_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rules = RuleSet.parse(RULES, source="test")
    assert unconfigured_channel(rules, _settings(monkeypatch)) == (
        "rule 'order-shipped' sends on whatsapp, which is not configured: set WHATSAPP_TOKEN,"
        " WHATSAPP_PHONE_NUMBER_ID, WHATSAPP_APP_SECRET and WHATSAPP_VERIFY_TOKEN"
    )
    assert unconfigured_channel(rules, _settings(monkeypatch, WHATSAPP)) == (
        "rule 'order-received' sends on email, which is not configured: set SMTP_URL and EMAIL_FROM"
    )
    assert unconfigured_channel(rules, _settings(monkeypatch, EMAIL)) is None


def test_a_fallback_due_in_quiet_hours_waits_for_their_end() -> None:
    rules = RuleSet.parse(RULES, source="test")
    kolkata = ZoneInfo("Asia/Kolkata")
    night = datetime(2024, 6, 10, 23, 30, tzinfo=kolkata).astimezone(UTC)
    end = quiet_hours_end(rules, clock=lambda: night)
    assert end("order-shipped") == datetime(2024, 6, 11, 9, 0, tzinfo=kolkata)
    assert end("order-received") is None
    assert end("a rule removed from the file since") is None
    day = datetime(2024, 6, 10, 12, 0, tzinfo=kolkata).astimezone(UTC)
    assert quiet_hours_end(rules, clock=lambda: day)("order-shipped") is None
