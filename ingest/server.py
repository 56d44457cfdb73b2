"""Gunicorn as a library (its documented custom-application pattern), serving ingest.

No preloading: each worker builds its own spool connections, Kafka producers and app
after the fork (:func:`ingest.wiring.build_worker`), because neither Kafka producers'
threads nor SQLite connections survive one. A worker never waits for the broker while it
boots: its producers are built in the background and, until they exist, accepted events
go to the spool.
"""

import logging
import os
from datetime import timedelta
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger
from prometheus_client import multiprocess

from ingest.access import masked_path, masked_query, masked_text
from ingest.metrics import MULTIPROCESS_DIR_VARIABLE
from ingest.settings import IngestSettings
from ingest.wiring import Durability, build_worker
from ingest.worker import JsonErrorWorker


class JsonLogger(Logger):  # type: ignore[misc]  # gunicorn ships no type hints
    """Gunicorn's own messages go to the root logger, so they are JSON lines too.

    The access log writes one JSON line per request with the secrets masked: whatever
    follows ``/webhook/`` in the path and every ``token`` value in the query. It leaves out
    the request line and the referer, which hold the URL unmasked. Gunicorn's own messages
    name requests too (``POST /webhook/<token>`` at debug level, a bad request line as a
    warning): they are masked as well. A configured token anywhere else (a wrong path,
    another parameter, a header) is masked in every line by :mod:`ingest.redaction`.
    """

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            logger.handlers.clear()
            logger.propagate = True
        self.error_log.addFilter(_mask_secrets)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        self.access_log.info(
            "request",
            extra={
                "method": environ.get("REQUEST_METHOD"),
                "path": masked_path(environ.get("PATH_INFO", "")),
                "query": masked_query(environ.get("QUERY_STRING", "")),
                "status": int(status),
                "duration_ms": round(request_time.total_seconds() * 1000, 1),
                "response_bytes": getattr(resp, "sent", None),
                "remote_addr": environ.get("REMOTE_ADDR"),
                "user_agent": environ.get("HTTP_USER_AGENT"),
                # Set by the proxy in front (deploy/nginx/), which logs it too.
                "request_id": environ.get("HTTP_X_REQUEST_ID"),
            },
        )


def _mask_secrets(record: logging.LogRecord) -> bool:
    record.msg = masked_text(record.getMessage())
    record.args = None
    return True


def gunicorn_options(settings: IngestSettings) -> dict[str, Any]:
    return {
        "bind": [f"{settings.ingest_host}:{settings.ingest_port}"],
        # Gunicorn's threaded worker, its own refusals answered as JSON.
        "worker_class": JsonErrorWorker,
        "workers": settings.ingest_workers,
        "threads": settings.ingest_threads,
        "preload_app": False,
        # Every instance would share one socket path in $HOME; nothing here uses it.
        "control_socket_disable": True,
        # Gunicorn's maximum: longer queries reach the app and get its JSON 400.
        "limit_request_line": 8190,
        # Gthread workers report in every second while serving; booting never waits for
        # the broker. A worker silent this long is stuck and gets replaced.
        "timeout": 30,
        # Enough for in-flight requests (under 1.5 s) and the worker_exit hook (see
        # Durability.close); short enough that the master exits well within the 30 s an
        # orchestrator usually grants, even when a worker missed the SIGTERM (gunicorn
        # loses one that arrives between a worker's fork and its signal set-up).
        "graceful_timeout": 20,
        "proc_name": "kladana-ingest",
        "loglevel": settings.log_level.lower(),
        "logger_class": JsonLogger,
        # On, through JsonLogger.access, which masks the secrets.
        "accesslog": "-",
    }


def _forget_worker_metrics(_server: Any, worker: Any) -> None:
    """Gunicorn's ``child_exit`` hook (in the master): a dead worker's gauges go away; its
    counters stay in the sum, as Prometheus expects of counters."""
    if os.environ.get(MULTIPROCESS_DIR_VARIABLE):
        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


class IngestServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    """``IngestServer(settings).run()`` serves until SIGTERM, then exits 0."""

    def __init__(self, settings: IngestSettings) -> None:
        self._settings = settings
        self._durability: Durability | None = None
        super().__init__()

    def load_config(self) -> None:
        for name, value in gunicorn_options(self._settings).items():
            self.cfg.set(name, value)
        self.cfg.set("worker_exit", self._close_durability)
        self.cfg.set("child_exit", _forget_worker_metrics)

    def load(self) -> Flask:
        """Runs in each worker process, after the fork."""
        worker = build_worker(self._settings)
        self._durability = worker.durability
        worker.durability.start()
        return worker.app

    def _close_durability(self, _server: Any, _worker: Any) -> None:
        """Gunicorn's ``worker_exit`` hook: runs in the worker process as it exits."""
        if self._durability is not None:
            self._durability.close()
