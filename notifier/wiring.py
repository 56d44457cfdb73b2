"""The one place that builds the notifier from its settings: rules, sender, Kafka, loop."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import requests

from notifier.handlers import NotifyHandler
from notifier.rules import RuleSet
from notifier.settings import NotifierSettings
from notifier.sms import ConsoleSender, HttpSender, SmsSender, TwilioSender
from shared.consumer_loop import ConsumerLoop, open_consumer_loop


def build_sender(
    settings: NotifierSettings, session: requests.Session, stdout: TextIO
) -> SmsSender:
    """The sender SMS_PROVIDER names; the settings guarantee what it needs is set."""
    if settings.sms_provider == "http":
        assert settings.sms_http_url is not None
        return HttpSender(session, settings.sms_http_url, timeout_s=settings.sms_timeout_s)
    if settings.sms_provider == "twilio":
        assert settings.twilio_account_sid is not None
        assert settings.twilio_auth_token is not None
        assert settings.twilio_from is not None
        return TwilioSender(
            session,
            api_url=settings.twilio_api_url,
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            sender=settings.twilio_from,
            timeout_s=settings.sms_timeout_s,
        )
    return ConsoleSender(stdout)


@contextmanager
def notifier_loop(
    settings: NotifierSettings, rules: RuleSet, stop: threading.Event, stdout: TextIO
) -> Iterator[ConsumerLoop]:
    """A consumer loop ready to ``run()`` until ``stop`` is set; closes what it opened."""
    with requests.Session() as session:
        handler = NotifyHandler(
            rules,
            build_sender(settings, session, stdout),
            settings.default_phone_region,
            settings.notify_timezone,
        )
        with open_consumer_loop(
            settings,
            group_id=settings.notifier_group_id,
            topic=settings.enriched_topic,
            make_handler=lambda _publisher: handler,
            stop=stop,
        ) as loop:
            yield loop
