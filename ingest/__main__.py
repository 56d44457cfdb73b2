"""``python -m ingest``: serve webhooks with gunicorn until SIGTERM, then exit 0."""

import logging

from ingest.server import IngestServer
from ingest.settings import IngestSettings
from shared.logs import configure_logging
from shared.settings import load_settings_or_exit

log = logging.getLogger("ingest")


def main() -> None:
    settings = load_settings_or_exit(IngestSettings)
    configure_logging("ingest", settings.log_level)
    log.info(
        "ingest starting",
        extra={
            "port": settings.ingest_port,
            "raw_topic": settings.raw_topic,
            "kafka_bootstrap_servers": settings.kafka_bootstrap_servers,
            "workers": settings.ingest_workers,
            "threads": settings.ingest_threads,
            "token_required": settings.ingest_token is not None,
        },
    )
    IngestServer(settings).run()


if __name__ == "__main__":
    main()
