"""When the notifier is ready: its consumer runtime runs and its ledger database answers.

Two threads know half each (the runtime, and the releaser that queries the ledger every
NOTIFIER_RELEASE_INTERVAL_S); this combines them into the :class:`Readiness` that
``/readyz`` reports.
"""

import threading

from shared.health import Readiness


class NotifierReadiness:
    def __init__(self, readiness: Readiness) -> None:
        self._readiness = readiness
        self._lock = threading.Lock()
        self._loop_running = False
        self._ledger_problem: str | None = None
        self._publish()

    def ready(self) -> None:
        """The consumer runtime runs (it reports through this, as through a Readiness)."""
        self._runtime_running(True)

    def not_ready(self, _reason: str) -> None:
        self._runtime_running(False)

    def _runtime_running(self, running: bool) -> None:
        with self._lock:
            self._loop_running = running
            self._publish()

    def ledger_answered(self) -> None:
        with self._lock:
            self._ledger_problem = None
            self._publish()

    def ledger_failed(self, reason: str) -> None:
        with self._lock:
            self._ledger_problem = reason
            self._publish()

    def _publish(self) -> None:
        if self._ledger_problem is not None:
            self._readiness.not_ready(self._ledger_problem)
        elif not self._loop_running:
            self._readiness.not_ready("consumer loop not running")
        else:
            self._readiness.ready()
