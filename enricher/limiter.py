"""One process's share of Kladana's rate limits, shared by all of its threads.

Kladana allows a token 45 units per 3 s, refilled evenly (a request costs 1 unit with an
application token, 4 with a user token), and 5 parallel requests, and bans clients that
keep hitting 429. Every request goes through ``with limiter.slot() as permit:``, which
waits for both:

- **a bucket's units** (``cost`` of them): the bucket models Kladana's
  (:class:`~enricher.bucket.TokenBucket`: ``units`` refilled evenly over ``window_s``),
  so a burst gets the whole bucket at once and then one request per refilled unit;
- **a parallel slot**: at most ``max_parallel`` requests in flight, counting the ones
  we gave up on that Kladana may still be serving.

Each answer's headers come back through ``permit.observe``:

- a 429's retry-after pauses every caller until then, so no thread hammers through 429s;
- ``X-RateLimit-Remaining`` (scaled by this process's share of ``X-RateLimit-Limit``
  when instances split the budget by configuration) sets the bucket to what the server
  says is left (:meth:`~enricher.bucket.TokenBucket.sync`), so spending by anyone else
  (other instances, other clients of the token) slows us down *before* the limit.

Why not pyrate-limiter (in the environment through schemathesis): it counts weighted
requests per window well, but has no cap on requests in flight and no way to feed the
server's remaining count or retry-after back in.
"""

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from enricher.bucket import ServerQuota, TokenBucket
from enricher.errors import NoRequestSlot
from enricher.limiting import GrantedPermit

log = logging.getLogger(__name__)

# A thread waiting for a parallel slot is woken by the slot's release; this bound only
# limits how long it takes to notice a shutdown (the stop event cannot wake a Condition).
_STOP_CHECK_S = 0.2


class RequestLimiter:
    """A unit bucket plus a cap on parallel requests; thread-safe.

    ``clock`` and ``sleep`` are injectable so tests run on a fake clock; by default the
    sleep is ``stop.wait``, so setting ``stop`` ends every wait at once. ``start_empty``
    starts the bucket with no units, for a process that takes over a budget others may
    have just spent (the fallback of a shared limiter).
    """

    def __init__(
        self,
        *,
        units: int = 45,
        window_s: float = 3.0,
        cost: int = 1,
        max_parallel: int = 5,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
        start_empty: bool = False,
    ) -> None:
        if units <= 0 or window_s <= 0 or max_parallel <= 0 or not 0 < cost <= units:
            raise ValueError("need units, window_s, max_parallel > 0 and 0 < cost <= units")
        self._cost = cost
        self._max_parallel = max_parallel
        self._stop = stop or threading.Event()
        self._clock = clock
        self._sleep = sleep or self._stop.wait
        self._changed = threading.Condition()
        self._bucket = TokenBucket(units, window_s, now=clock(), level=0 if start_empty else units)
        self._in_flight = 0
        self._abandoned_until: list[float] = []
        self._paused_until = -math.inf

    @contextmanager
    def slot(self, timeout: float | None = None) -> Iterator[GrantedPermit]:
        """Hold a parallel slot and ``cost`` units while the block runs.

        Raises :class:`NoRequestSlot` (nothing was sent) when ``stop`` is set or
        ``timeout`` seconds pass first.
        """
        serial, granted_at = self._acquire(timeout)
        answers = _Answers(self)
        try:
            yield GrantedPermit(answers, serial, granted_at)
        finally:
            with self._changed:
                self._in_flight -= 1
                if not answers.observed:
                    self._bucket.unanswered(self._clock())
                self._changed.notify_all()

    def count_abandoned(self, for_s: float) -> None:
        """Freeing a timed-out request's slot at once would send a request Kladana refuses
        with 1073, and a client that keeps doing that (a Kladana hanging every request)
        collects enough 429s to be banned."""
        with self._changed:
            until = self._clock() + for_s
            self._abandoned_until.append(until)
            self._bucket.unanswered(until)

    def observe(self, quota: ServerQuota, serial: float, granted_at: float) -> None:
        """Align with the answer to the request granted at ``granted_at`` as ``serial``."""
        with self._changed:
            now = self._clock()
            pause_s = quota.retry_after_s
            if pause_s is not None and pause_s > 0:
                if now + pause_s > self._paused_until:
                    log.warning(
                        "Kladana rate limit hit: pausing every request",
                        extra={"pause_s": round(pause_s, 3)},
                    )
                self._paused_until = max(self._paused_until, now + pause_s)
            # This request still holds its slot: the others are in flight.
            in_flight = (self._in_flight - 1) * self._cost
            self._bucket.sync(now, quota, serial, granted_at, in_flight=in_flight)
            self._changed.notify_all()

    def _acquire(self, timeout: float | None) -> tuple[float, float]:
        deadline = math.inf if timeout is None else self._clock() + timeout
        while True:
            with self._changed:
                if self._stop.is_set():
                    raise NoRequestSlot("shutting down: no request sent to Kladana")
                now = self._clock()
                if now >= deadline:
                    raise NoRequestSlot(f"no Kladana request slot within {timeout}s")
                if self._in_flight >= self._max_parallel:
                    self._changed.wait(min(_STOP_CHECK_S, deadline - now))
                    continue
                wait_s = max(self._paused_until - now, self._bucket.wait_s(now, self._cost))
                self._abandoned_until = [until for until in self._abandoned_until if until > now]
                if self._in_flight + len(self._abandoned_until) >= self._max_parallel:
                    wait_s = max(wait_s, min(self._abandoned_until) - now)
                if wait_s <= 0:
                    unsettled = self._in_flight * self._cost
                    self._in_flight += 1
                    return self._bucket.take(now, self._cost, unsettled=unsettled), now
            # Outside the lock, so other threads can release slots and observe answers.
            self._sleep(min(wait_s, deadline - now))


class _Answers:
    """One grant's way back to its limiter, noting whether an answer came back through it."""

    def __init__(self, limiter: RequestLimiter) -> None:
        self._limiter = limiter
        self.observed = False

    def observe(self, quota: ServerQuota, serial: float, granted_at: float) -> None:
        self.observed = True
        self._limiter.observe(quota, serial, granted_at)

    def count_abandoned(self, for_s: float) -> None:
        self._limiter.count_abandoned(for_s)
