"""``python -m enricher``: consume raw events until SIGTERM or Ctrl-C, then exit 0."""

from functools import partial

from enricher.settings import EnricherSettings
from enricher.wiring import enricher_loop
from shared.consumer_loop import run_until_signalled
from shared.logs import configure_logging
from shared.settings import load_settings_or_exit


def main() -> None:
    settings = load_settings_or_exit(EnricherSettings)
    configure_logging("enricher", settings.log_level)
    run_until_signalled(
        "enricher",
        settings.kafka_bootstrap_servers,
        partial(enricher_loop, settings),
        {
            "group_id": settings.enricher_group_id,
            "raw_topic": settings.raw_topic,
            "enriched_topic": settings.enriched_topic,
            "kladana_api_url": settings.kladana_api_url,
        },
    )


if __name__ == "__main__":
    main()
