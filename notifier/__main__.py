"""``python -m notifier``: wires settings, rules, the SMS sender and Kafka together."""

import sys

from notifier.errors import RulesError
from notifier.rules import load_rules
from notifier.settings import NotifierSettings
from notifier.wiring import notifier_loop
from shared.consumer_loop import run_until_signalled
from shared.logs import configure_logging
from shared.settings import load_settings_or_exit


def main() -> None:
    settings = load_settings_or_exit(NotifierSettings)
    configure_logging("notifier", settings.log_level)
    try:
        rules = load_rules(settings.notifier_rules)
    except RulesError as error:
        sys.exit(f"notifier: {error}")
    run_until_signalled(
        "notifier",
        settings.kafka_bootstrap_servers,
        lambda stop: notifier_loop(settings, rules, stop, sys.stdout),
        {
            "topic": settings.enriched_topic,
            "group_id": settings.notifier_group_id,
            "sms_provider": settings.sms_provider,
            "rules": [rule.name for rule in rules.rules],
            "rules_source": rules.source,
        },
    )


if __name__ == "__main__":
    main()
