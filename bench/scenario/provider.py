"""A fake SMS gateway (the notifier's ``SMS_PROVIDER=http``) that records every request.

It stands on a real local port, so the notifier's HTTP client, timeouts and retries are
the real ones. Every request is recorded with its number, its text and the time it
arrived; only requests answered 200 count as SMS sent. ``outage`` makes it answer 503,
as a gateway does when it is down. Numbers and texts are kept in memory and never
logged; the reconciliation shows a number only masked.
"""

import threading
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, request


@dataclass(frozen=True)
class ProviderRequest:
    to: str | None
    """The number as the gateway got it (E.164); None when the body had none."""
    text: str | None
    received_at: float
    """Epoch seconds when the request arrived."""
    status: int
    """What the fake answered: 200 (an SMS sent) or 503 (during an outage)."""


class RecordingProvider:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[ProviderRequest] = []
        self.outage = threading.Event()

    @property
    def requests(self) -> list[ProviderRequest]:
        with self._lock:
            return list(self._requests)

    def sent(self) -> list[ProviderRequest]:
        """The requests answered 200: the SMS the customers got."""
        return [r for r in self.requests if r.status == 200]

    def app(self) -> Flask:
        app = Flask("scenario-sms-provider")

        @app.post("/messages")
        def receive() -> Response:
            body: Any = request.get_json(silent=True)
            fields = body if isinstance(body, dict) else {}
            to, text = fields.get("to"), fields.get("text")
            status = 503 if self.outage.is_set() else 200
            with self._lock:
                self._requests.append(ProviderRequest(to, text, time.time(), status))
                number = len(self._requests)
            answer = f'{{"id": "sms-{number}"}}' if status == 200 else '{"error": "unavailable"}'
            return Response(answer, status=status, content_type="application/json")

        return app
