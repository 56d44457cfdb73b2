"""A Python load generator, for machines without wrk and for the smoke test.

``python -m bench.pygen --port P --connections C --duration S [--rate R] [--token T]``
prints the same ``BENCH_RESULT {json}`` line as bench/webhook.lua. Unlike
wrk it waits for every request it sent, so ``accepted`` counts every 202 there was.
"""

import argparse
import http.client
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from bench.load import RESULT_PREFIX

LATE_S = 0.001


@dataclass
class _Tally:
    latencies_s: list[float] = field(default_factory=list)
    accepted: int = 0
    refused: int = 0
    failed: int = 0
    late: int = 0
    max_lag_s: float = 0.0


class _Schedule:
    """Hands out request numbers; with a rate, each number has a start time (open loop)."""

    def __init__(self, *, start: float, duration_s: float, rate: float) -> None:
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self._start = start
        self._end = start + duration_s
        self._rate = rate

    def next_slot(self) -> tuple[int, float] | None:
        """The next request's number and planned start, or None once the run is over."""
        with self._lock:
            number = next(self._numbers)
        planned = self._start + number / self._rate if self._rate else time.monotonic()
        return None if planned >= self._end else (number, planned)


def _drive(port: int, token: str, schedule: _Schedule, tally: _Tally) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while (slot := schedule.next_slot()) is not None:
        number, planned = slot
        lag = time.monotonic() - planned
        if lag < 0:
            time.sleep(-lag)
        elif lag > LATE_S:
            tally.late += 1
            tally.max_lag_s = max(tally.max_lag_s, lag)
        path = f"/webhook?id=bench-py-{number}&type=CustomerOrder&token={token}"
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            tally.failed += 1
            connection.close()  # http.client reconnects on the next request
            continue
        # From the planned start, so time spent waiting for a free connection counts.
        tally.latencies_s.append(time.monotonic() - planned)
        if response.status == 202:
            tally.accepted += 1
        else:
            tally.refused += 1
    connection.close()


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(*, port: int, connections: int, duration_s: float, rate: float, token: str) -> Any:
    start = time.monotonic() + 0.05
    schedule = _Schedule(start=start, duration_s=duration_s, rate=rate)
    tallies = [_Tally() for _ in range(connections)]
    workers = [
        threading.Thread(target=_drive, args=(port, token, schedule, tally), daemon=True)
        for tally in tallies
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - start
    latencies = sorted(itertools.chain.from_iterable(t.latencies_s for t in tallies))
    return {
        "requests": len(latencies) + sum(t.failed for t in tallies),
        "accepted": sum(t.accepted for t in tallies),
        "errors": sum(t.refused + t.failed for t in tallies),
        "duration_s": elapsed,
        "p50_ms": _percentile(latencies, 0.50) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
        "max_ms": (latencies[-1] if latencies else 0.0) * 1000,
        "late": sum(t.late for t in tallies),
        "max_lag_ms": max(t.max_lag_s for t in tallies) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=0.0, help="requests/s; 0 = closed loop")
    parser.add_argument("--token", default="")
    args = parser.parse_args()
    result = run(
        port=args.port,
        connections=args.connections,
        duration_s=args.duration,
        rate=args.rate,
        token=args.token,
    )
    print(RESULT_PREFIX + json.dumps(result))


if __name__ == "__main__":
    main()
