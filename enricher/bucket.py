"""Kladana's rate bucket as Kladana describes it, and what one answer's headers say of it.

Kladana gives a token a bucket of 45 units that refills *evenly* over 3 s (one unit
about every 67 ms), not all at once a window after a unit was spent
(``/work/shared/reference/kladana-api.md``, section 4). A request costs 1 unit with an
application token, 4 with a user token.

The model is kept in step with the server on every answer, and never ahead of what it
says: the level is *set* to the higher of two lower bounds of the server's level, each
built from ``X-RateLimit-Remaining`` less every unit of ours the server may not have
counted when it answered, with no refill since it counted (we do not know when it did):

- *this answer's*: less the units granted after this request and those still in flight
  when it was granted (the server may have counted them later);
- *the latest count's*: the answers that may hold the server's latest count of ours
  (none of ours answered was granted after they were answered), each with its refill
  since it was answered, the lowest of them, less what is in flight *now*. Whichever
  of them the server counted last, every request of ours it had not counted then is
  still in flight. A request that ends without such an answer (an error without headers,
  one given up on) may be counted after any of them: it clears them, and answers to
  requests granted before it ended (or, given up on, before its time is up) join no more.

The first alone stays up to ``max_parallel - 1`` units below the server once the bucket
is spent (four at Kladana's 5 parallel, 0.27 s of refill); the second follows it within
the refill of one round trip and the header's rounding down. Either way the level
follows the server, whoever else spends the token's budget, and is never above it.
``X-RateLimit-Limit`` and ``X-Lognex-Retry-TimeInterval`` can only shrink the capacity
and slow the refill.
"""

import math
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
        self._latest: list[tuple[float, float]] = []
        """(remaining, answered at) of the answers that may hold the server's latest count."""
        self._vouching_from = -math.inf
        """Answers to requests granted before this may miss a unit counted after them."""

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

    def sync(
        self,
        now: float,
        quota: ServerQuota,
        serial: float,
        granted_at: float,
        *,
        in_flight: float,
    ) -> None:
        """Align with the answer to the request taken as ``serial`` at ``granted_at``,
        while ``in_flight`` units of other requests are still unanswered."""
        self._refill(now)
        self._capacity, self._window_s = server_limits(*self._configured, quota)
        self._level = min(self._level, self._capacity)
        remaining = remaining_units(self._configured[0], self._window_s, quota, now - granted_at)
        if remaining is None or granted_at <= self._vouching_from:
            self.unanswered(now)
            if remaining is None:
                return
            latest = -math.inf
        else:
            # Answered before this request was granted: counted before it, surely.
            self._latest = [kept for kept in self._latest if kept[1] >= granted_at]
            self._latest.append((remaining, now))
            latest = min(level + (now - at) * self._rate() for level, at in self._latest)
            latest = min(self._capacity, latest) - in_flight
        this_answer = remaining - (self.spent - serial)
        self._level = min(self._capacity, max(this_answer, latest))

    def unanswered(self, until: float) -> None:
        """A request ended without a remaining count, and the server may count it until
        ``until``: no answer before it says the server's latest count any more."""
        self._latest = []
        self._vouching_from = max(self._vouching_from, until)

    def _rate(self) -> float:
        return self._capacity / self._window_s

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._level = min(self._capacity, self._level + elapsed * self._rate())
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
