"""One service of the scenario as a process that can be killed, restarted and paused.

A restart is a new ``python -m <module>`` with the same environment, appending to the
same log file, so one log tells the service's whole run. Ingest runs under gunicorn: a
kill takes its workers too (as a container or host crash does), so no orphaned worker
keeps the port or drains the spool behind the successor's back.
"""

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from bench.stack import wait_until_ready
from devstack.broker import free_port
from devstack.processes import ServiceProcess


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


class ManagedService:
    """``name`` (e.g. ``enricher-2``) running ``python -m module``; ready when ``/readyz``
    on its port answers 200."""

    def __init__(
        self,
        name: str,
        module: str,
        environment: dict[str, str],
        *,
        log_dir: Path,
        ready_port: Callable[[dict[str, str]], int] | None = None,
    ) -> None:
        self.name = name
        self.module = module
        self._environment = environment
        self._log_dir = log_dir / name
        self._ready_port = ready_port
        self._process: ServiceProcess | None = None
        self._current_environment = environment
        self.kills = 0
        self.stalls = 0
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self._log_dir / f"{self.module}.log"

    def start(self) -> None:
        environment = dict(self._environment)
        if self._ready_port is None:
            # A consumer's health port: a fresh one at each start, so a restart never
            # waits for the killed process's port to be released.
            environment["METRICS_PORT"] = str(free_port())
        self._current_environment = environment
        self._process = ServiceProcess(self.module, environment, log_dir=self._log_dir).start()
        self.starts += 1

    def ready_url(self) -> str:
        if self._ready_port is not None:
            port = self._ready_port(self._current_environment)
        else:
            port = int(self._current_environment["METRICS_PORT"])
        return f"http://127.0.0.1:{port}/readyz"

    def exit_code(self) -> int | None:
        return None if self._process is None else self._process.exit_code()

    def wait_ready(self) -> None:
        assert self._process is not None, "not started"
        wait_until_ready(self._process, self.ready_url())

    def kill(self) -> None:
        """SIGKILL of the process and its children (gunicorn's workers); returns once all
        are gone. The parent is frozen first: a gunicorn master that saw a worker die
        would fork a new one, which, orphaned, would keep serving on the port for its
        graceful timeout and keep the restarted ingest from binding it (seen in a run)."""
        assert self._process is not None
        self._process.signal(signal.SIGSTOP)
        family = [*_children(self._process.pid), self._process.pid]
        for pid in family[:-1]:
            _signal_pid(pid, signal.SIGKILL)
        self._process.signal(signal.SIGKILL)
        self._process.stop(timeout_s=10)  # reaps it
        deadline = time.monotonic() + 30
        while any(map(_alive, family)) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.kills += 1

    def pause(self) -> None:
        assert self._process is not None
        self._process.signal(signal.SIGSTOP)
        self.stalls += 1

    def resume(self) -> None:
        if self._process is not None:
            self._process.signal(signal.SIGCONT)

    def stop(self) -> int | None:
        if self._process is None:
            return None
        self.resume()
        return self._process.stop(timeout_s=30)


def _signal_pid(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
