"""Gunicorn as a library (its documented custom-application pattern), serving ingest.

No preloading: each worker builds its own Kafka producer and app after the fork,
because kafka-python's background threads do not survive a fork.
"""

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from ingest.app import create_app
from ingest.broker import connect_publisher
from ingest.settings import IngestSettings
from shared.kafka import Publisher


class JsonLogger(Logger):  # type: ignore[misc]  # gunicorn ships no type hints
    """Gunicorn's own messages go to the root logger, so they are JSON lines too.

    The access log stays off: it would print query strings, and with them the token.
    """

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            logger.handlers.clear()
            logger.propagate = True


def gunicorn_options(settings: IngestSettings) -> dict[str, Any]:
    return {
        "bind": [f"0.0.0.0:{settings.ingest_port}"],
        "worker_class": "gthread",
        "workers": settings.ingest_workers,
        "threads": settings.ingest_threads,
        "preload_app": False,
        # Every instance would share one socket path in $HOME; nothing here uses it.
        "control_socket_disable": True,
        # Gunicorn's maximum: longer queries reach the app and get its JSON 400.
        "limit_request_line": 8190,
        # While the broker is unreachable a worker's boot waits out kafka-python's 30 s
        # bootstrap timeout; it must then fail to boot (gunicorn exits), not be killed as
        # silent and respawned forever. Gthread workers report in every second when serving.
        "timeout": 60,
        "proc_name": "kladana-ingest",
        "loglevel": settings.log_level.lower(),
        "logger_class": JsonLogger,
    }


class IngestServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    """``IngestServer(settings).run()`` serves until SIGTERM, then exits 0."""

    def __init__(self, settings: IngestSettings) -> None:
        self._settings = settings
        self._publisher: Publisher | None = None
        super().__init__()

    def load_config(self) -> None:
        for name, value in gunicorn_options(self._settings).items():
            self.cfg.set(name, value)
        self.cfg.set("worker_exit", self._close_publisher)

    def load(self) -> Flask:
        """Runs in each worker process, after the fork."""
        self._publisher = connect_publisher(self._settings)
        return create_app(self._settings, self._publisher)

    def _close_publisher(self, _server: Any, _worker: Any) -> None:
        """Gunicorn's ``worker_exit`` hook: runs in the worker process as it exits."""
        if self._publisher is not None:
            self._publisher.close()
