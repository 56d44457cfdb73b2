"""The shutdown watchdog: a process that does not finish stopping in time exits anyway."""

import signal
import subprocess
import sys
import textwrap

from shared.lifecycle import SHUTDOWN_TIMED_OUT
from tests.helpers import ROOT

# Stops on the signal within the bound, or hangs after it (as a call to a stuck Kladana
# would), depending on its argument.
_SERVICE = textwrap.dedent(
    """
    import sys, threading
    from shared.lifecycle import stop_on_signals
    from shared.logs import configure_logging

    configure_logging("watchdog-test")
    stop = stop_on_signals(shutdown_timeout_s=0.5)
    print("ready", flush=True)
    stop.wait()
    if sys.argv[1] == "hang":
        threading.Event().wait()
    """
)


def _stopped(behaviour: str) -> tuple[int, str]:
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVICE, behaviour],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    return process.returncode, stderr


def test_a_shutdown_that_hangs_past_the_bound_exits_with_its_own_status() -> None:
    status, stderr = _stopped("hang")
    assert status == SHUTDOWN_TIMED_OUT, stderr
    assert "stopping: finishing the events in hand" in stderr
    assert "shutdown took too long" in stderr


def test_a_shutdown_within_the_bound_exits_normally() -> None:
    status, stderr = _stopped("finish")
    assert status == 0, stderr
    assert "shutdown took too long" not in stderr
