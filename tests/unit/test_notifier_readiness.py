"""The notifier is ready while its loop runs and its ledger answers, and says why not."""

import threading

import pytest

from notifier.errors import LedgerUnavailable
from notifier.readiness import NotifierReadiness, ReadyWhileRunning
from notifier.releaser import HeldReleaser
from shared.health import Readiness


def test_ready_only_while_the_loop_runs_and_the_ledger_answers() -> None:
    readiness = Readiness()
    notifier = NotifierReadiness(readiness)
    assert readiness.reason == "consumer loop not running"
    notifier.loop_running(True)
    assert readiness.reason is None
    notifier.ledger_failed("ledger database: OperationalError")
    assert readiness.reason == "ledger database: OperationalError"
    notifier.ledger_answered()
    assert readiness.reason is None
    notifier.loop_running(False)
    assert readiness.reason == "consumer loop not running"


class _Loop:
    def __init__(self, fail: bool = False) -> None:
        self.readiness_seen: str | None = "never ran"
        self.fail = fail
        self.readiness = Readiness()

    def run(self) -> None:
        self.readiness_seen = self.readiness.reason
        if self.fail:
            raise RuntimeError("broker gone")


@pytest.mark.parametrize("fail", [False, True])
def test_the_loop_wrapper_is_ready_during_run_only(fail: bool) -> None:
    loop = _Loop(fail)
    wrapped = ReadyWhileRunning(loop, NotifierReadiness(loop.readiness))
    if fail:
        with pytest.raises(RuntimeError):
            wrapped.run()
    else:
        wrapped.run()
    assert loop.readiness_seen is None
    assert loop.readiness.reason == "consumer loop not running"


class _Ledger:
    """Answers (no rows due) or fails, and ends the releaser's loop after one round."""

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
    notifier.loop_running(True)
    for down, reason in ((True, "ledger database: OperationalError"), (False, None)):
        stop = threading.Event()
        HeldReleaser(
            _Ledger(stop, down=down),  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]  # nothing is due, nothing is sent
            _Stuck(),  # type: ignore[arg-type]
            stop,
            interval_s=0,
            readiness=notifier,
        ).run()
        assert readiness.reason == reason
