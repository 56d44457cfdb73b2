"""Kladana's rate bucket as Kladana describes it, and what one answer's headers say of it.

Kladana gives a token a bucket of 45 units that refills *evenly* over 3 s (one unit
about every 67 ms), not all at once a window after a unit was spent
(``/work/shared/reference/kladana-api.md``, section 4). A request costs 1 unit with an
application token, 4 with a user token.

The model is kept in step with the server on every answer, and never ahead of what it
says: the level is *set* to the answer's ``X-RateLimit-Remaining`` less every unit the
server may not have counted when it answered (units granted after that request, and
those of requests still in flight when it was granted, which it may have counted later);
the refill since is not added, as we do not know when the server counted. So the level
follows the server at most a unit or two (the latency's refill, the header's rounding
down) below it, whoever else spends the token's budget, and never above.
``X-RateLimit-Limit`` and ``X-Lognex-Retry-TimeInterval`` can only shrink the capacity
and slow the refill.
"""

from dataclasses import dataclass

# Float refills leave crumbs like 0.999999999 of a unit: count them as the unit they mean.
_EPSILON = 1e-9


@dataclass(frozen=True)
class ServerQuota:
    """What one answer's rate-limit headers said; ``None`` where a header was missing."""

    remaining: int | None = None
    limit: int | None = None
    interval_s: float | None = None
    retry_after_s: float | None = None
    """The pause a 429 asks of every caller (``X-Lognex-Retry-After``, or a window)."""


class TokenBucket:
    """``capacity`` units refilled evenly over ``window_s``; not thread-safe (the caller
    holds a lock), and on a caller's clock (seconds, never going backwards)."""

    def __init__(self, capacity: float, window_s: float, *, now: float, level: float) -> None:
        self._configured = (capacity, window_s)
        self._capacity = capacity
        self._window_s = window_s
        self._level = level
        self._updated = now
        self.spent = 0.0
        """Units ever taken."""

    @property
    def capacity(self) -> float:
        return self._capacity

    @property
    def window_s(self) -> float:
        return self._window_s

    def level(self, now: float) -> float:
        self._refill(now)
        return self._level

    def wait_s(self, now: float, cost: float) -> float:
        """Seconds until ``cost`` units are there (0: now)."""
        missing = cost - self.level(now)
        return 0.0 if missing <= _EPSILON else missing * self._window_s / self._capacity

    def take(self, now: float, cost: float, *, unsettled: float = 0.0) -> float:
        """Spend ``cost`` units (the caller checked :meth:`wait_s`) while ``unsettled`` units
        of earlier requests are still in flight; returns the request's serial: the units
        spent that the server surely counted once it counted this request."""
        self._refill(now)
        self._level -= cost
        self.spent += cost
        return self.spent - unsettled

    def sync(self, now: float, quota: ServerQuota, serial: float, round_trip_s: float) -> None:
        """Align with the answer to the request taken as ``serial``, which took
        ``round_trip_s`` from its grant to its answer."""
        self._refill(now)
        self._capacity, self._window_s = server_limits(*self._configured, quota)
        self._level = min(self._level, self._capacity)
        remaining = remaining_units(self._configured[0], self._window_s, quota, round_trip_s)
        if remaining is not None:
            self._level = min(self._capacity, remaining - (self.spent - serial))

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._level = min(self._capacity, self._level + elapsed * self._capacity / self._window_s)
        self._updated = now


def server_limits(capacity: float, window_s: float, quota: ServerQuota) -> tuple[float, float]:
    """The bucket's capacity and window as configured, unless the server states a smaller
    capacity or a longer window: never more units nor a faster refill than it allows."""
    return min(capacity, quota.limit or capacity), max(window_s, quota.interval_s or window_s)


def remaining_units(
    capacity: float, window_s: float, quota: ServerQuota, round_trip_s: float
) -> float | None:
    """What the server says remains, as a bucket of ``capacity`` sees it: when processes
    split one budget by configuration, each one's part is its share of the server's limit.

    ``None`` from an answer that took longer than the window: the server may have counted
    at any moment since the request was sent, the whole bucket may have refilled since,
    and the units spent meanwhile would sink the level far below the server's.
    """
    if quota.remaining is None or round_trip_s > window_s:
        return None
    share = min(1.0, capacity / quota.limit) if quota.limit else 1.0
    return quota.remaining * share
