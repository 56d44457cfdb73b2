"""Stopping a service cleanly on SIGTERM or SIGINT."""

import signal
import threading
from types import FrameType


def stop_on_signals() -> threading.Event:
    """An event that is set when the process receives SIGTERM or SIGINT."""
    stop = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return stop
