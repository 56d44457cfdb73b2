"""Stopping a service cleanly on SIGTERM or SIGINT, within a bounded time."""

import logging
import os
import signal
import threading
import time
from types import FrameType

log = logging.getLogger(__name__)

SHUTDOWN_TIMED_OUT = 124
"""Exit status of a process whose clean shutdown outlasted its bound (as timeout(1) uses)."""


def stop_on_signals(shutdown_timeout_s: float | None = None) -> threading.Event:
    """An event that is set when the process receives SIGTERM or SIGINT.

    With ``shutdown_timeout_s``, a watchdog bounds the shutdown: once the event is set,
    the process gets that long to finish on its own, then exits at once with
    :data:`SHUTDOWN_TIMED_OUT`. One watchdog rather than a bound on every wait (Kladana,
    the broker, the SMS provider, the ledger), so no slow path can be forgotten; the work
    it cuts short was not committed, so it is delivered again (at-least-once).
    """
    stop = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    if shutdown_timeout_s is not None:
        # A daemon thread, so a shutdown that finishes in time never waits for it.
        threading.Thread(
            target=_exit_if_stopping_too_long,
            args=(stop, shutdown_timeout_s),
            name="shutdown-watchdog",
            daemon=True,
        ).start()
    return stop


def _exit_if_stopping_too_long(stop: threading.Event, timeout_s: float) -> None:
    stop.wait()
    # Logged here, not in the signal handler: logging there could re-enter the stream.
    log.info("stopping: finishing the events in hand", extra={"shutdown_timeout_s": timeout_s})
    time.sleep(timeout_s)
    log.error(
        "shutdown took too long; exiting without committing what is unfinished",
        extra={"shutdown_timeout_s": timeout_s},
    )
    os._exit(SHUTDOWN_TIMED_OUT)  # sys.exit would wait for the very threads that hang
