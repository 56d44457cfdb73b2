"""Liveness, readiness and metrics over HTTP (``/healthz``, ``/readyz``, ``/metrics``) for a
consumer process.

A supervisor (Kubernetes probes, compose healthchecks) restarts a process whose
``/healthz`` stops answering and holds traffic or alerts while ``/readyz`` says 503.
"""

import json
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from wsgiref.types import WSGIApplication

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from shared.http_server import HttpServer


class Readiness:
    """Whether the service can do its work now, and if not, why. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reason: str | None = "starting"

    def ready(self) -> None:
        with self._lock:
            self._reason = None

    def not_ready(self, reason: str) -> None:
        with self._lock:
            self._reason = reason

    @property
    def reason(self) -> str | None:
        """None when ready, else why not."""
        with self._lock:
            return self._reason


class HealthApp:
    """A WSGI app: ``/healthz`` is 200 while the process serves, ``/readyz`` follows Readiness,
    ``/metrics`` is ``registry`` in Prometheus' text format (by default the process's
    metrics: every ``prometheus_client`` metric defined without a registry of its own)."""

    def __init__(self, readiness: Readiness, registry: CollectorRegistry = REGISTRY) -> None:
        self._readiness = readiness
        self._registry = registry

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            return _answer(start_response, "200 OK", {"status": "alive"})
        if path == "/readyz":
            reason = self._readiness.reason
            if reason is None:
                return _answer(start_response, "200 OK", {"status": "ready"})
            return _answer(
                start_response, "503 Service Unavailable", {"status": "not ready", "reason": reason}
            )
        if path == "/metrics":
            payload = generate_latest(self._registry)
            start_response(
                "200 OK",
                [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(payload)))],
            )
            return [payload]
        return _answer(start_response, "404 Not Found", {"error": "not_found"})


def _answer(start_response: Any, status: str, body: dict[str, str]) -> list[bytes]:
    payload = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    )
    return [payload]


def health_app(
    readiness: Readiness,
    registry: CollectorRegistry = REGISTRY,
    *,
    mounts: Mapping[str, WSGIApplication] | None = None,
) -> WSGIApplication:
    """The health and metrics endpoints, plus a service's own apps under their path
    prefixes (the notifier's Twilio callbacks)."""
    health = HealthApp(readiness, registry)
    return DispatcherMiddleware(health, dict(mounts)) if mounts else health


def health_server(
    readiness: Readiness,
    port: int,
    registry: CollectorRegistry = REGISTRY,
    *,
    mounts: Mapping[str, WSGIApplication] | None = None,
) -> HttpServer:
    """:func:`health_app` on ``port`` (0: a free one) on every interface, on the production
    server, not yet started."""
    app = health_app(readiness, registry, mounts=mounts)
    return HttpServer(app, host="0.0.0.0", port=port)  # noqa: S104
