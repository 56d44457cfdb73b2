"""Kladana's rate limits per token: a bucket of units that refills, and a parallel cap.

Kladana gives each user or application a bucket of 45 units refilled over 3 s; a
request costs 1 unit with an application token and 4 with a user token, and at most 5
requests may run at once. The bucket here refills continuously (15 units/s by
default), so a client may burst 45 requests and then sustain 15 per second.
"""

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

Clock = Callable[[], float]
"""Seconds from an arbitrary origin that never go backwards (``time.monotonic``)."""

RATE_LIMIT_EXCEEDED = 1049
PARALLEL_LIMIT_EXCEEDED = 1073

# Float refills leave crumbs like 44.999999: count them as the whole unit they mean.
_EPSILON = 1e-9


@dataclass(frozen=True)
class RateLimits:
    units: int = 45
    window_ms: int = 3000
    max_parallel: int = 5
    application_cost: int = 1
    user_cost: int = 4

    def __post_init__(self) -> None:
        costs = (self.application_cost, self.user_cost)
        if min(self.units, self.window_ms, self.max_parallel, *costs) < 1:
            raise ValueError("every limit and cost must be at least 1")
        if max(costs) > self.units:
            raise ValueError("a request cannot cost more units than the bucket holds")

    @property
    def units_per_ms(self) -> float:
        return self.units / self.window_ms


@dataclass(frozen=True)
class Quota:
    """What the rate-limit headers of one answer say."""

    limit: int
    remaining: int
    interval_ms: int
    reset_ms: int
    retry_after_ms: int | None = None

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-Lognex-Retry-TimeInterval": str(self.interval_ms),
            "X-Lognex-Reset": str(self.reset_ms),
        }
        if self.retry_after_ms is not None:
            headers["X-Lognex-Retry-After"] = str(self.retry_after_ms)
        return headers

    @classmethod
    def exhausted(cls, limits: RateLimits) -> "Quota":
        """An empty bucket that refills in a whole window: what a 429 storm reports."""
        window = limits.window_ms
        return cls(limits.units, 0, window, window, retry_after_ms=window)


@dataclass(frozen=True)
class Admission:
    """A request's verdict: let in (``refusal`` is None) or refused with a 429 code."""

    quota: Quota
    refusal: int | None = None


@dataclass
class _Bucket:
    units: float
    updated: float


class RateLimiter:
    """Buckets and parallel counters per key (a token), safe to share between threads."""

    def __init__(self, limits: RateLimits, clock: Clock = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._in_flight: Counter[str] = Counter()

    @contextmanager
    def admit(self, key: str, cost: int) -> Iterator[Admission]:
        """Charge ``cost`` units and hold a parallel slot while the block runs.

        A refused request is neither charged nor holds a slot.
        """
        admission = self._enter(key, cost)
        try:
            yield admission
        finally:
            if admission.refusal is None:
                with self._lock:
                    self._in_flight[key] -= 1

    def _enter(self, key: str, cost: int) -> Admission:
        with self._lock:
            bucket = self._refill(key)
            if self._in_flight[key] >= self.limits.max_parallel:
                # Kladana does not say when a slot frees; one unit's refill time is a
                # short wait that still keeps a polite client from spinning.
                one_unit = _ms(1 / self.limits.units_per_ms)
                return Admission(self._quota(bucket, one_unit), PARALLEL_LIMIT_EXCEEDED)
            if bucket.units + _EPSILON < cost:
                wait = _ms((cost - bucket.units) / self.limits.units_per_ms)
                return Admission(self._quota(bucket, wait), RATE_LIMIT_EXCEEDED)
            bucket.units -= cost
            self._in_flight[key] += 1
            return Admission(self._quota(bucket))

    def _refill(self, key: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.setdefault(key, _Bucket(float(self.limits.units), now))
        elapsed_ms = max(0.0, now - bucket.updated) * 1000
        bucket.units = min(
            float(self.limits.units), bucket.units + elapsed_ms * self.limits.units_per_ms
        )
        bucket.updated = now
        return bucket

    def _quota(self, bucket: _Bucket, retry_after_ms: int | None = None) -> Quota:
        missing = max(0.0, self.limits.units - bucket.units - _EPSILON)
        return Quota(
            limit=self.limits.units,
            remaining=math.floor(bucket.units + _EPSILON),
            interval_ms=self.limits.window_ms,
            reset_ms=_ms(missing / self.limits.units_per_ms),
            retry_after_ms=retry_after_ms,
        )


def _ms(milliseconds: float) -> int:
    """Whole milliseconds, rounded up so a client that waits them is never early."""
    return max(0, math.ceil(milliseconds - _EPSILON))
