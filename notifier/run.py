"""``python -m notifier run`` (or no subcommand): the notifier service itself."""

import argparse
import sys

from notifier.command import Command
from notifier.errors import LedgerUnavailable, RulesError
from notifier.ledger_schema import printable_url
from notifier.rules import RuleSet
from notifier.settings import NotifierSettings
from notifier.wiring import notifier_loop, twilio_status_url, unconfigured_channel
from shared.consumer_service import run_until_signalled
from shared.logs import configure_logging
from shared.settings import load_settings_or_exit


def run(_arguments: argparse.Namespace) -> int:
    settings = load_settings_or_exit(NotifierSettings)
    configure_logging("notifier", settings.log_level)
    try:
        rules = RuleSet.load(
            settings.notifier_rules,
            timezone=settings.notify_timezone,
            language_attribute=settings.notifier_language_attribute,
        )
    except RulesError as error:
        sys.exit(f"notifier: {error}")
    unconfigured = unconfigured_channel(rules, settings)
    if unconfigured:
        sys.exit(f"notifier: {unconfigured}")
    try:
        run_until_signalled(
            "notifier",
            settings.kafka_bootstrap_servers,
            lambda stop: notifier_loop(settings, rules, stop, sys.stdout),
            {
                "topic": settings.enriched_topic,
                "group_id": settings.notifier_group_id,
                "sms_provider": settings.sms_provider,
                "whatsapp": settings.whatsapp_configured,
                "email": settings.email_configured,
                "rules": [rule.name for rule in rules.rules],
                "rules_source": rules.source,
                "ledger": printable_url(settings.notifier_database_url),
                "metrics_port": settings.metrics_port,
                "twilio_status_callback": twilio_status_url(settings),
                "shutdown_timeout_s": settings.shutdown_timeout_s,
            },
            shutdown_timeout_s=settings.shutdown_timeout_s,
        )
    except LedgerUnavailable as error:
        sys.exit(f"notifier: {error}")
    return 0


COMMAND = Command(
    help="consume enriched documents and send the SMS the rules ask for (the default)",
    add_arguments=lambda _parser: None,
    run=run,
)
