"""``python -m ingest``: serve webhooks with gunicorn until SIGTERM, then exit 0."""

import logging
import os
import tempfile

from ingest.redaction import SecretMask, mask_log_lines
from ingest.settings import IngestSettings
from shared.logs import configure_logging
from shared.settings import load_settings_or_exit

log = logging.getLogger("ingest")


def main() -> None:
    settings = load_settings_or_exit(IngestSettings)
    configure_logging("ingest", settings.log_level)
    # Before gunicorn starts: its workers inherit the masked handler.
    mask_log_lines(SecretMask(settings.tokens))
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
    # prometheus_client chooses multiprocess mode when it is first imported, so before
    # the server (and with it the app) is imported here; a fresh directory per start.
    os.environ.setdefault(
        "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="kladana-ingest-metrics-")
    )
    from ingest.server import IngestServer

    IngestServer(settings).run()


if __name__ == "__main__":
    main()
