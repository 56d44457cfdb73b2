"""Sends the planned webhooks to ingest on their schedule and records every answer.

Requests run on a thread pool so that a slow answer (ingest spooling, a worker being
killed) never delays the next request's start. Native webhooks that fail (no answer,
5xx, 429) are delivered again with the same ``requestId`` a few times, as Kladana does;
workflow webhooks are not (Kladana does not retry them), so one sent while ingest is
down is recorded as unanswered, not as a loss.
"""

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

from bench.scenario.mix import PlannedRequest

NATIVE_ATTEMPTS = 5
NATIVE_RETRY_DELAY_S = 1.0
REQUEST_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Outcome:
    """One planned request and what ingest answered it (its last attempt)."""

    request: PlannedRequest
    sent_at: float
    """Epoch seconds of the first attempt."""
    status: int | None
    """None: no answer (connection refused or reset, timeout)."""
    reason: str | None = None
    """The error code of a refusal (``error`` in the JSON body), else the status."""
    event_ids: tuple[str, ...] = field(default=())
    attempts: int = 1

    @property
    def accepted(self) -> bool:
        """Durable in ingest: 202 for a workflow webhook, 200 for a native one."""
        return self.status in (200, 202) and bool(self.event_ids)


def _answer(response: requests.Response) -> tuple[str | None, tuple[str, ...]]:
    try:
        body = response.json()
    except ValueError:
        return str(response.status_code), ()
    if not isinstance(body, dict):
        return str(response.status_code), ()
    if "event_ids" in body:
        return None, tuple(str(i) for i in body["event_ids"])
    if "event_id" in body:
        return None, (str(body["event_id"]),)
    return str(body.get("error", response.status_code)), ()


class Driver:
    def __init__(self, base_url: str, *, threads: int = 48) -> None:
        self._url = f"{base_url}/webhook"
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="webhook")
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _send_once(self, planned: PlannedRequest) -> tuple[int | None, str | None, tuple[str, ...]]:
        try:
            response = self._session().request(
                planned.method,
                self._url,
                params=planned.params,
                data=planned.body,
                headers={"Content-Type": "application/json"} if planned.body else None,
                timeout=REQUEST_TIMEOUT_S,
            )
        except requests.RequestException as error:
            # A dead keep-alive connection to a killed worker: start afresh next time.
            self._local.session = None
            return None, type(error).__name__, ()
        reason, event_ids = _answer(response)
        return response.status_code, reason, event_ids

    def _send(self, planned: PlannedRequest) -> Outcome:
        sent_at = time.time()
        attempts = 0
        while True:
            attempts += 1
            status, reason, event_ids = self._send_once(planned)
            retry = planned.native and (status is None or status == 429 or status >= 500)
            if not retry or attempts >= NATIVE_ATTEMPTS:
                return Outcome(planned, sent_at, status, reason, event_ids, attempts)
            time.sleep(NATIVE_RETRY_DELAY_S)

    def drive(self, plan: list[PlannedRequest]) -> list[Outcome]:
        """Every request of ``plan`` at its time from now; all outcomes once all answered."""
        started = time.monotonic()
        futures: list[Future[Outcome]] = []
        for planned in plan:
            delay = started + planned.at_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(self._pool.submit(self._send, planned))
        outcomes = [future.result() for future in futures]
        self._pool.shutdown()
        return outcomes
