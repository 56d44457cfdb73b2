"""The baseline: a Flask app that answers webhooks like ingest but touches no Kafka,
served by gunicorn with ingest's own options. ``python -m bench.noop_app``."""

import uuid

from flask import Flask, Response, jsonify
from gunicorn.app.base import BaseApplication

from ingest.server import gunicorn_options
from ingest.settings import IngestSettings
from shared.logs import configure_logging
from shared.settings import load_settings_or_exit


def create_noop_app() -> Flask:
    app = Flask(__name__)

    @app.route("/webhook", methods=["GET", "POST"])
    def receive_webhook() -> tuple[Response, int]:
        return jsonify(event_id=str(uuid.uuid4())), 202

    @app.get("/readyz")
    def ready() -> tuple[Response, int]:
        return jsonify(status="ready"), 200

    return app


class NoopServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    """Ingest's gunicorn options, read from the same variables; only the bind differs
    (loopback: the baseline needs no other interface)."""

    def __init__(self, settings: IngestSettings) -> None:
        self._settings = settings
        super().__init__()

    def load_config(self) -> None:
        for name, value in gunicorn_options(self._settings).items():
            self.cfg.set(name, value)
        self.cfg.set("bind", [f"127.0.0.1:{self._settings.ingest_port}"])
        self.cfg.set("proc_name", "kladana-bench-noop")

    def load(self) -> Flask:
        return create_noop_app()


def main() -> None:
    settings = load_settings_or_exit(IngestSettings)
    configure_logging("bench-noop", settings.log_level)
    NoopServer(settings).run()


if __name__ == "__main__":
    main()
