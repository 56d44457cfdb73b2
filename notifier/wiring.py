"""The one place that builds the notifier from its settings: ledger, sender, Kafka, loop."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import requests
from sqlalchemy import Engine

from notifier.delivery import Delivery, SendPolicy
from notifier.handlers import NotifyHandler
from notifier.ledger import Ledger
from notifier.ledger_schema import open_engine
from notifier.opt_outs import OptOutList, OptOutPolicy
from notifier.releaser import HeldReleaser, StuckReporter
from notifier.rules import RuleSet
from notifier.settings import LedgerSettings, NotifierSettings
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
def open_database(settings: LedgerSettings) -> Iterator[Engine]:
    """The ledger's database (NOTIFIER_DATABASE_URL), its schema created if missing."""
    engine = open_engine(settings.notifier_database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def notifier_loop(
    settings: NotifierSettings, rules: RuleSet, stop: threading.Event, stdout: TextIO
) -> Iterator[ConsumerLoop]:
    """A consumer loop ready to ``run()`` until ``stop`` is set, with the releaser of held
    messages running beside it; closes what it opened."""
    with requests.Session() as session, open_database(settings) as database:
        ledger = Ledger(database)
        stuck = StuckReporter(ledger, settings.notifier_stuck_after_s)
        stuck.report()
        delivery = Delivery(
            ledger,
            build_sender(settings, session, stdout),
            SendPolicy(
                attempts=settings.notifier_send_attempts,
                backoff_base_s=settings.notifier_send_backoff_base_s,
                backoff_cap_s=settings.notifier_send_backoff_cap_s,
            ),
        )
        opt_outs = OptOutPolicy(
            OptOutList(database),
            attribute_name=settings.notifier_opt_out_attribute,
            region=settings.default_phone_region,
        )
        handler = NotifyHandler(rules, delivery, opt_outs, settings.default_phone_region)
        releaser = threading.Thread(
            target=HeldReleaser(
                ledger, delivery, stuck, stop, interval_s=settings.notifier_release_interval_s
            ).run,
            name="held-releaser",
        )
        with open_consumer_loop(
            settings,
            group_id=settings.notifier_group_id,
            topic=settings.enriched_topic,
            make_handler=lambda _publisher: handler,
            stop=stop,
        ) as loop:
            releaser.start()
            try:
                yield loop
            finally:
                stop.set()
                releaser.join()
