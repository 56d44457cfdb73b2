"""Drive a webhook endpoint from a separate process: wrk if installed, else bench.pygen."""

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

WRK_SCRIPT = Path(__file__).with_name("webhook.lua")
RESULT_PREFIX = "BENCH_RESULT "


@dataclass(frozen=True)
class Load:
    """``rate`` 0: each connection sends its next request as soon as the last one is
    answered (closed loop, finds the saturated throughput). Otherwise requests/s on a
    fixed schedule (open loop)."""

    connections: int
    duration_s: int
    rate: float = 0.0
    token: str = ""


@dataclass(frozen=True)
class LoadResult:
    generator: str
    requests: int
    accepted: int
    """Answers with status 202."""
    errors: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    late: int
    """Open loop: requests sent over 1 ms after their planned start (no free connection)."""
    max_lag_ms: float

    @property
    def accepted_per_s(self) -> float:
        return self.accepted / self.duration_s if self.duration_s else 0.0


def default_generator() -> str:
    return "wrk" if shutil.which("wrk") else "python"


WRK_THREADS = 1
"""One wrk thread drives every connection: wrk takes little CPU from the apps measured."""


def run_load(load: Load, *, port: int, generator: str) -> LoadResult:
    if generator == "wrk":
        command = [
            "wrk", f"-t{WRK_THREADS}", f"-c{load.connections}", f"-d{load.duration_s}s",
            "--timeout", "10s", "-s", str(WRK_SCRIPT), f"http://127.0.0.1:{port}",
        ]  # fmt: skip
        environment = {"BENCH_TOKEN": load.token, "BENCH_RATE": str(load.rate)}
    else:
        command = [
            sys.executable, "-m", "bench.pygen", "--port", str(port),
            "--connections", str(load.connections), "--duration", str(load.duration_s),
            "--rate", str(load.rate), "--token", load.token,
        ]  # fmt: skip
        environment = {}
    completed = subprocess.run(
        command,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=load.duration_s + 60,
        check=True,
    )
    return LoadResult(generator=generator, **json.loads(_result_line(completed.stdout)))


def _result_line(output: str) -> str:
    for line in output.splitlines():
        if line.startswith(RESULT_PREFIX):
            return line.removeprefix(RESULT_PREFIX)
    raise RuntimeError(f"the load generator printed no result: {output[-500:]!r}")
