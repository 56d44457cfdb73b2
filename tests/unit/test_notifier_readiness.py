"""The notifier is ready while its runtime runs and its ledger answers, and says why not."""

import threading

from notifier.errors import LedgerUnavailable
from notifier.readiness import NotifierReadiness
from notifier.releaser import HeldReleaser
from shared.health import Readiness


def test_ready_only_while_the_runtime_runs_and_the_ledger_answers() -> None:
    readiness = Readiness()
    notifier = NotifierReadiness(readiness)
    assert readiness.reason == "consumer loop not running"
    notifier.ready()
    assert readiness.reason is None
    notifier.ledger_failed("ledger database: OperationalError")
    assert readiness.reason == "ledger database: OperationalError"
    notifier.ledger_answered()
    assert readiness.reason is None
    notifier.not_ready("stopped")
    assert readiness.reason == "consumer loop not running"


class _FakeDeliveryLedger:
    """The delivery ledger as the releaser sees it: answers (no rows due) or fails, and ends
    the releaser's loop after one round."""

    def __init__(self, stop: threading.Event, *, down: bool) -> None:
        self._stop = stop
        self._down = down

    def claim_due(self, **_limit: int) -> list[object]:
        self._stop.set()
        if self._down:
            raise LedgerUnavailable("ledger database: OperationalError")
        return []


class _Stuck:
    def report(self) -> int:
        return 0


def test_the_releaser_reports_whether_the_ledger_answered() -> None:
    readiness = Readiness()
    notifier = NotifierReadiness(readiness)
    notifier.ready()
    for down, reason in ((True, "ledger database: OperationalError"), (False, None)):
        stop = threading.Event()
        HeldReleaser(
            _FakeDeliveryLedger(stop, down=down),  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]  # nothing is due, nothing is sent
            _Stuck(),  # type: ignore[arg-type]
            stop,
            interval_s=0,
            readiness=notifier,
        ).run()
        assert readiness.reason == reason
