"""Helpers for the sandbox tests: calls through Flask's test client, a clock, a sleeper."""

import gzip
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

TOKEN = "test-token"
USER_TOKEN = "user-token"
BASE = "http://sandbox.test"
CONTROL = {"Authorization": f"Bearer {TOKEN}"}


def get_document(
    client: FlaskClient, entity: str, document_id: str, *, token: str = TOKEN, **query: str
) -> TestResponse:
    return client.get(
        f"/api/remap/1.2/entity/{entity}/{document_id}",
        headers={"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"},
        query_string=query,
        base_url=BASE,
    )


def body_of(response: TestResponse) -> Any:
    """The JSON of an API answer, which is always gzip-compressed."""
    assert response.headers["Content-Encoding"] == "gzip"
    return json.loads(gzip.decompress(response.data))


def error_code(response: TestResponse) -> int:
    [error] = body_of(response)["errors"]
    code: int = error["code"]
    return code


def set_knobs(client: FlaskClient, **knobs: Any) -> dict[str, Any]:
    response = client.put("/__sandbox/faults", json=knobs, headers=CONTROL)
    assert response.status_code == 200, response.get_json()
    faults: dict[str, Any] = response.get_json()
    return faults


def stats(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/__sandbox/stats", headers=CONTROL)
    assert response.status_code == 200
    counters: dict[str, Any] = response.get_json()
    return counters


@dataclass
class FakeClock:
    """A monotonic clock that moves only when a test says so."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class RecordingSleep:
    """Records every delay the sandbox asks for instead of sleeping, or blocks on a gate.

    With ``hold`` set, each sleeper waits until ``release()``: requests stay in flight
    for as long as a test needs them to.
    """

    hold: bool = False
    delays: list[float] = field(default_factory=list)
    _gate: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.delays.append(seconds)
        if self.hold:
            self._gate.wait(timeout=30)

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.delays)

    def release(self) -> None:
        self._gate.set()
