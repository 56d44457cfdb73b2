"""Counters of what clients asked the sandbox's API: ``GET /__sandbox/stats``.

Tests and benchmarks read them to prove a client stayed within the limits (no 429s,
never more than 5 requests at once) and to count API calls per document.
"""

import threading
from collections import Counter
from typing import Any


class SandboxStats:
    """Thread-safe counts of API requests, answers, 429 codes and parallelism."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self._zero()

    def _zero(self) -> None:
        self._requests = 0
        # Requests still running when the counters are zeroed are parallel still.
        self._max_parallel = self._in_flight
        self._responses: Counter[int] = Counter()
        self._rate_limited: Counter[int] = Counter()
        self._documents: Counter[str] = Counter()

    def started(self, document_id: str) -> None:
        with self._lock:
            self._requests += 1
            self._in_flight += 1
            self._max_parallel = max(self._max_parallel, self._in_flight)
            self._documents[document_id] += 1

    def finished(self, status: int, error_code: int | None) -> None:
        with self._lock:
            self._in_flight -= 1
            self._responses[status] += 1
            if status == 429 and error_code is not None:
                self._rate_limited[error_code] += 1

    def reset(self) -> None:
        with self._lock:
            self._zero()

    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON: keys of the count tables are strings."""
        with self._lock:
            return {
                "requests": self._requests,
                "in_flight": self._in_flight,
                "max_parallel": self._max_parallel,
                "responses": {str(status): n for status, n in sorted(self._responses.items())},
                "rate_limited": {str(code): n for code, n in sorted(self._rate_limited.items())},
                "documents": dict(self._documents),
            }
