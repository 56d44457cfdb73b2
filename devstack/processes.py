"""Start the services as real child processes and stop them cleanly.

``make run`` and the end-to-end tests both run the pipeline this way.
"""

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO


def describe_exit(returncode: int) -> str:
    """``exited with status 1`` or ``was killed by SIGKILL`` (Popen's negative code)."""
    if returncode >= 0:
        return f"exited with status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:  # a real-time signal has no name
        name = f"signal {-returncode}"
    return f"was killed by {name}"


class ServiceProcess:
    """``python -m <module>`` with extra environment, its stderr (the JSON logs) in a file."""

    def __init__(
        self,
        module: str,
        environment: Mapping[str, str],
        *,
        log_dir: Path,
        stdout: int | IO[bytes] | None = None,
    ) -> None:
        self.module = module
        self.log_path = log_dir / f"{module}.log"
        self._environment = {**os.environ, **environment}
        self._stdout = stdout
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> "ServiceProcess":
        """Start it; again after it exited, to restart it (its log goes on in the same file)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", self.module],
                env=self._environment,
                stdout=self._stdout,
                stderr=log,
            )
        return self

    @property
    def pid(self) -> int:
        assert self._process is not None, "not started"
        return self._process.pid

    def exit_code(self) -> int | None:
        """None while it runs."""
        return None if self._process is None else self._process.poll()

    def signal(self, signum: signal.Signals) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signum)

    def stop(self, *, timeout_s: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout_s``."""
        if self._process is None:
            return None
        self.signal(signal.SIGTERM)
        try:
            return self._process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            return self._process.wait()
