"""``python -m enricher``: consume raw events until SIGTERM or Ctrl-C, then exit 0.

``python -m enricher redrive [--type T] [--reason TEXT] [--since ISO] [--until ISO]
[--dry-run]`` moves the enricher's dead letters back to the raw topic and prints how
many it moved.
"""

import argparse
import sys
from datetime import UTC, datetime
from functools import partial

from enricher.redrive import RedriveFilter, redrive
from enricher.settings import EnricherSettings, RedriveSettings
from enricher.wiring import enricher_loop
from shared.consumer_service import run_until_signalled
from shared.health import Readiness, health_server
from shared.logs import configure_logging
from shared.settings import load_settings_or_exit


def main() -> None:
    if sys.argv[1:2] == ["redrive"]:
        main_redrive(sys.argv[2:])
        return
    settings = load_settings_or_exit(EnricherSettings)
    configure_logging("enricher", settings.log_level)
    readiness = Readiness()
    server = (
        health_server(readiness, settings.metrics_port).start() if settings.metrics_port else None
    )
    try:
        run_until_signalled(
            "enricher",
            settings.kafka_bootstrap_servers,
            partial(enricher_loop, settings, readiness=readiness),
            {
                "group_id": settings.enricher_group_id,
                "raw_topic": settings.raw_topic,
                "retry_topic": settings.enricher_retry_topic,
                "enriched_topic": settings.enriched_topic,
                "kladana_api_url": settings.kladana_api_url,
                "metrics_port": settings.metrics_port,
                "shutdown_timeout_s": settings.shutdown_timeout_s,
            },
            shutdown_timeout_s=settings.shutdown_timeout_s,
        )
    finally:
        if server is not None:
            server.stop()


def _moment(text: str) -> datetime:
    """An ISO 8601 time; one without a zone is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def main_redrive(arguments: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m enricher redrive",
        description="Move the enricher's dead letters back to the raw topic.",
    )
    parser.add_argument("--type", dest="type_name", help="transaction type, e.g. CustomerOrder")
    parser.add_argument("--reason", help="part of the dead-letter reason (case ignored)")
    parser.add_argument("--since", type=_moment, help="dead-lettered at or after (ISO 8601)")
    parser.add_argument("--until", type=_moment, help="dead-lettered before (ISO 8601)")
    parser.add_argument("--dry-run", action="store_true", help="count, move nothing")
    options = parser.parse_args(arguments)
    settings = load_settings_or_exit(RedriveSettings)
    configure_logging("enricher-redrive", settings.log_level)
    chosen = RedriveFilter(options.type_name, options.reason, options.since, options.until)
    report = redrive(settings, chosen, dry_run=options.dry_run)
    print(report.summary(settings.raw_topic))


if __name__ == "__main__":
    main()
