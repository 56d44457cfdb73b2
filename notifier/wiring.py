"""The one place that builds the notifier from its settings: ledger, senders, Kafka, loop,
and its HTTP face (health, providers' status callbacks, WhatsApp's webhook)."""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TextIO
from wsgiref.types import WSGIApplication

import requests
from sqlalchemy import Engine
from twilio.request_validator import RequestValidator

from notifier.channels import Channel
from notifier.delivery import Delivery, SendPolicy
from notifier.delivery_reports import TwilioStatusHandler
from notifier.email_channel import EmailSender, parse_smtp_url
from notifier.exotel import ExotelSender, exotel_reports
from notifier.handlers import NotifyHandler
from notifier.http_app import (
    TWILIO_MOUNT,
    TWILIO_STATUS_PATH,
    report_path,
    token_report_app,
    twilio_status_app,
)
from notifier.ledger import Clock, Ledger, utc_now
from notifier.ledger_schema import open_engine
from notifier.msg91 import Msg91Sender, msg91_reports
from notifier.opt_outs import OptOutList, OptOutPolicy
from notifier.outbound import ChannelSender, EmailChannel, SmsChannel, WhatsAppChannel
from notifier.readiness import NotifierReadiness
from notifier.releaser import HeldReleaser, StuckReporter
from notifier.rules import RuleSet
from notifier.settings import LedgerSettings, NotifierSettings
from notifier.sms import ConsoleSender, HttpSender, SmsSender, TwilioSender
from notifier.whatsapp import WhatsAppSender
from notifier.whatsapp_statuses import WhatsAppStatusRecorder
from notifier.whatsapp_webhook import WHATSAPP_MOUNT, whatsapp_webhook_app
from shared.consumer_runtime import ConsumerRuntime
from shared.consumer_service import RuntimeConfig, open_runtime
from shared.health import Readiness, health_server
from shared.http_server import HttpServer
from shared.retry_topic import RetryPolicy


def twilio_status_url(settings: NotifierSettings) -> str | None:
    """The public URL Twilio posts status reports to; None when none are asked for."""
    if settings.sms_provider != "twilio" or not settings.notifier_public_url:
        return None
    return settings.notifier_public_url + TWILIO_STATUS_PATH


MSG91_MOUNT = "/msg91"
EXOTEL_MOUNT = "/exotel"


def exotel_status_url(settings: NotifierSettings) -> str | None:
    """The public URL, secret token included, Exotel posts status callbacks to; None when
    none are asked for."""
    if settings.sms_provider != "exotel" or not settings.notifier_public_url:
        return None
    assert settings.sms_report_token is not None
    return settings.notifier_public_url + report_path(EXOTEL_MOUNT, settings.sms_report_token)


def build_sender(
    settings: NotifierSettings, session: requests.Session, stdout: TextIO
) -> SmsSender:
    """The sender SMS_PROVIDER names; the settings guarantee what it needs is set."""
    if settings.sms_provider == "http":
        assert settings.sms_http_url is not None
        return HttpSender(
            session,
            settings.sms_http_url,
            timeout_s=settings.sms_timeout_s,
            entity_id=settings.dlt_entity_id,
            sender=settings.sms_sender,
        )
    if settings.sms_provider == "msg91":
        assert settings.msg91_auth_key is not None
        assert settings.sms_sender is not None
        return Msg91Sender(
            session,
            api_url=settings.msg91_api_url,
            auth_key=settings.msg91_auth_key,
            sender=settings.sms_sender,
            route=settings.msg91_route,
            timeout_s=settings.sms_timeout_s,
        )
    if settings.sms_provider == "exotel":
        assert settings.exotel_account_sid is not None
        assert settings.exotel_api_key is not None
        assert settings.exotel_api_token is not None
        assert settings.dlt_entity_id is not None
        assert settings.sms_sender is not None
        return ExotelSender(
            session,
            api_url=settings.exotel_api_url,
            account_sid=settings.exotel_account_sid,
            api_key=settings.exotel_api_key,
            api_token=settings.exotel_api_token,
            entity_id=settings.dlt_entity_id,
            sender=settings.sms_sender,
            timeout_s=settings.sms_timeout_s,
            status_callback_url=exotel_status_url(settings),
        )
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
            status_callback_url=twilio_status_url(settings),
        )
    return ConsoleSender(stdout)


CHANNEL_SETTINGS = {
    Channel.WHATSAPP: "WHATSAPP_TOKEN, WHATSAPP_PHONE_NUMBER_ID, WHATSAPP_APP_SECRET and"
    " WHATSAPP_VERIFY_TOKEN",
    Channel.EMAIL: "SMTP_URL and EMAIL_FROM",
}


def unconfigured_channel(rules: RuleSet, settings: NotifierSettings) -> str | None:
    """Why the rules cannot run with these settings: the first rule naming a channel that
    has no provider configured; None when every channel a rule names has one."""
    configured = {
        Channel.SMS,
        *([Channel.WHATSAPP] if settings.whatsapp_configured else []),
        *([Channel.EMAIL] if settings.email_configured else []),
    }
    for rule in rules.rules:
        for channel in rule.channels:
            if channel not in configured:
                return (
                    f"rule {rule.name!r} sends on {channel}, which is not configured:"
                    f" set {CHANNEL_SETTINGS[channel]}"
                )
    return None


def build_senders(
    settings: NotifierSettings, session: requests.Session, stdout: TextIO
) -> dict[Channel, ChannelSender]:
    """A sender per configured channel: SMS always (the console at least), WhatsApp and
    email when their settings are given."""
    senders: dict[Channel, ChannelSender] = {
        Channel.SMS: SmsChannel(build_sender(settings, session, stdout))
    }
    if settings.whatsapp_token is not None:
        assert settings.whatsapp_phone_number_id is not None
        senders[Channel.WHATSAPP] = WhatsAppChannel(
            WhatsAppSender(
                session,
                api_url=settings.whatsapp_api_url,
                token=settings.whatsapp_token,
                phone_number_id=settings.whatsapp_phone_number_id,
                timeout_s=settings.sms_timeout_s,
            )
        )
    if settings.smtp_url is not None:
        assert settings.email_from is not None
        senders[Channel.EMAIL] = EmailChannel(
            EmailSender(
                parse_smtp_url(settings.smtp_url.get_secret_value()),
                settings.email_from,
                timeout_s=settings.sms_timeout_s,
            )
        )
    return senders


def quiet_hours_end(rules: RuleSet, clock: Clock = utc_now) -> Callable[[str], datetime | None]:
    """When a rule's message may go out if it is due now: the end of its quiet hours, or
    None when it may go at once (or the rule is gone from the file since)."""
    quiet_hours = {rule.name: rule.quiet_hours for rule in rules.rules}

    def end(rule_name: str) -> datetime | None:
        hours = quiet_hours.get(rule_name)
        return hours.next_open(clock()) if hours is not None else None

    return end


@contextmanager
def open_database(settings: LedgerSettings) -> Iterator[Engine]:
    """The ledger's database (NOTIFIER_DATABASE_URL), its schema created if missing."""
    engine = open_engine(settings.notifier_database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def http_server(
    settings: NotifierSettings, ledger: Ledger, readiness: Readiness, rules: RuleSet
) -> Iterator[HttpServer | None]:
    """The HTTP face on METRICS_PORT, serving until the block ends; None when the port is 0."""
    if not settings.metrics_port:
        yield None
        return
    callback_url = twilio_status_url(settings)
    mounts: dict[str, WSGIApplication] = {}
    if callback_url is not None:
        assert settings.twilio_auth_token is not None
        mounts[TWILIO_MOUNT] = twilio_status_app(
            TwilioStatusHandler(ledger),
            RequestValidator(settings.twilio_auth_token.get_secret_value()),
            callback_url,
        )
    token = settings.sms_report_token
    if token is not None and settings.sms_provider == "msg91":
        # MSG91's webhook URL is set in its panel, so it is served with or without
        # NOTIFIER_PUBLIC_URL.
        mounts[MSG91_MOUNT] = token_report_app("MSG91", msg91_reports, ledger, token)
    if token is not None and settings.sms_provider == "exotel":
        mounts[EXOTEL_MOUNT] = token_report_app("Exotel", exotel_reports, ledger, token)
    if settings.whatsapp_app_secret is not None and settings.whatsapp_verify_token is not None:
        mounts[WHATSAPP_MOUNT] = whatsapp_webhook_app(
            WhatsAppStatusRecorder(ledger, quiet_hours_end(rules)),
            verify_token=settings.whatsapp_verify_token,
            app_secret=settings.whatsapp_app_secret,
        )
    with health_server(readiness, settings.metrics_port, mounts=mounts) as server:
        yield server


def runtime_config(settings: NotifierSettings) -> RuntimeConfig:
    """The notifier on the consumer runtime: no retry topic, so a record whose ledger does
    not answer is held and read again, never dead-lettered for an outage."""
    return RuntimeConfig(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.notifier_group_id,
        topics=(settings.enriched_topic,),
        dead_letter_topic=settings.dead_letter_topic,
        policy=RetryPolicy(
            quick_retries=settings.notifier_quick_retries,
            max_attempts=1,
            quick_base_s=settings.retry_backoff_base_s,
            quick_cap_s=settings.retry_backoff_cap_s,
            park_base_s=settings.retry_backoff_base_s,
            park_cap_s=settings.retry_backoff_cap_s,
        ),
        keys_in_flight=settings.notifier_documents_in_flight,
    )


@contextmanager
def notifier_loop(
    settings: NotifierSettings, rules: RuleSet, stop: threading.Event, stdout: TextIO
) -> Iterator[ConsumerRuntime]:
    """A consumer runtime ready to ``run()`` until ``stop`` is set, with the releaser of
    held messages running beside it and the HTTP face serving (METRICS_PORT); closes what
    it opened."""
    readiness = Readiness()
    with requests.Session() as session, open_database(settings) as database:
        ledger = Ledger(database)
        ready = NotifierReadiness(readiness)
        stuck = StuckReporter(ledger, settings.notifier_stuck_after_s)
        stuck.report()
        delivery = Delivery(
            ledger,
            build_senders(settings, session, stdout),
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
                ledger,
                delivery,
                stuck,
                stop,
                interval_s=settings.notifier_release_interval_s,
                readiness=ready,
            ).run,
            name="held-releaser",
        )
        with (
            http_server(settings, ledger, readiness, rules),
            open_runtime(
                runtime_config(settings), lambda _publisher: handler, stop, ready
            ) as runtime,
        ):
            releaser.start()
            try:
                yield runtime
            finally:
                stop.set()
                releaser.join()
