"""One process's share of Kladana's rate limits, shared by all of its threads.

Kladana allows a token 45 units per 3 s (a request costs 1 unit with an application
token, 4 with a user token) and 5 parallel requests, and bans clients that keep hitting
429. Every request goes through ``with limiter.slot():``, which waits for both:

- **a bucket unit** (``cost`` of them): a spent unit comes back ``window_s`` after its
  request *ended*. That is stricter than a bucket refilling continuously (which lets
  almost twice the units through in its first window) and than a window counted from
  the send time (Kladana counts from arrival, which is later), so we stay under the
  limit however Kladana counts. The sustained rate loses one request's latency per
  window: with 100 ms answers, 45 requests per 3.1 s, 97 % of the limit.
- **a parallel slot**: at most ``max_parallel`` requests in flight.

:meth:`RequestLimiter.observe` feeds each answer's headers back:

- a 429's retry-after pauses every caller until then, so no thread hammers through 429s;
- ``X-RateLimit-Remaining`` below what the bucket holds means someone else spends the
  same budget (other instances, other clients of the token): the difference is taken
  out of the bucket for a window. With ``X-RateLimit-Limit`` known, the remaining count
  is scaled by this process's share (``units / limit``), so instances that split the
  budget by configuration also split what is left of it.

Why not pyrate-limiter (in the environment through schemathesis): it counts weighted
requests per window well, but has no cap on requests in flight, no way to feed the
server's remaining count or retry-after back in, and returns units one window after the
send, not after the answer.
"""

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from enricher.errors import NoRequestSlot

log = logging.getLogger(__name__)

# A thread waiting for a parallel slot is woken by the slot's release; this bound only
# limits how long it takes to notice a shutdown (the stop event cannot wake a Condition).
_STOP_CHECK_S = 0.2


@dataclass
class _Spent:
    units: float
    returns_at: float | None
    """When the units are back in the bucket; ``None`` while the request is in flight."""


class RequestLimiter:
    """A unit bucket plus a cap on parallel requests; thread-safe.

    ``clock`` and ``sleep`` are injectable so tests run on a fake clock; by default the
    sleep is ``stop.wait``, so setting ``stop`` ends every wait at once.
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
    ) -> None:
        if units <= 0 or window_s <= 0 or max_parallel <= 0 or not 0 < cost <= units:
            raise ValueError("need units, window_s, max_parallel > 0 and 0 < cost <= units")
        self._units = units
        self._window_s = window_s
        self._cost = cost
        self._max_parallel = max_parallel
        self._stop = stop or threading.Event()
        self._clock = clock
        self._sleep = sleep or self._stop.wait
        self._changed = threading.Condition()
        self._spent: list[_Spent] = []
        self._in_flight = 0
        self._abandoned_until: list[float] = []
        self._paused_until = -math.inf

    @contextmanager
    def slot(self, timeout: float | None = None) -> Iterator[None]:
        """Hold a parallel slot and ``cost`` units while the block runs.

        Raises :class:`NoRequestSlot` (nothing was sent) when ``stop`` is set or
        ``timeout`` seconds pass first.
        """
        spent = self._acquire(timeout)
        try:
            yield
        finally:
            self._release(spent)

    def count_abandoned(self, for_s: float) -> None:
        """Count one more request in flight for ``for_s``: one we stopped waiting for (a
        timeout) that Kladana may still be serving and still counts against its cap of
        parallel requests. Freeing its slot at once would send a request Kladana refuses
        with 1073, and a client that keeps doing that (a Kladana hanging every request)
        collects enough 429s to be banned."""
        with self._changed:
            self._abandoned_until.append(self._clock() + for_s)

    def observe(
        self, remaining: int | None, retry_after_s: float | None, limit: int | None
    ) -> None:
        """Align with what an answer said: its remaining units, its retry-after, its limit."""
        with self._changed:
            now = self._clock()
            if retry_after_s is not None and retry_after_s > 0:
                if now + retry_after_s > self._paused_until:
                    log.warning(
                        "Kladana rate limit hit: pausing every request",
                        extra={"pause_s": round(retry_after_s, 3)},
                    )
                self._paused_until = max(self._paused_until, now + retry_after_s)
            if remaining is not None and remaining >= 0:
                share = min(1.0, self._units / limit) if limit and limit > 0 else 1.0
                excess = self._available(now) - remaining * share
                if excess > 0:
                    self._spent.append(_Spent(excess, now + self._window_s))
            self._changed.notify_all()

    def _acquire(self, timeout: float | None) -> _Spent:
        deadline = math.inf if timeout is None else self._clock() + timeout
        while True:
            with self._changed:
                if self._stop.is_set():
                    raise NoRequestSlot("shutting down: no request sent to Kladana")
                now = self._clock()
                if now >= deadline:
                    raise NoRequestSlot(f"no Kladana request slot within {timeout}s")
                wait_s = self._wait_for_units(now)
                if self._in_flight >= self._max_parallel or wait_s is None:
                    self._changed.wait(min(_STOP_CHECK_S, deadline - now))
                    continue
                self._abandoned_until = [until for until in self._abandoned_until if until > now]
                if self._in_flight + len(self._abandoned_until) >= self._max_parallel:
                    wait_s = max(wait_s, min(self._abandoned_until) - now)
                if wait_s <= 0:
                    spent = _Spent(self._cost, None)
                    self._spent.append(spent)
                    self._in_flight += 1
                    return spent
            # Outside the lock, so other threads can release slots and observe answers.
            self._sleep(min(wait_s, deadline - now))

    def _release(self, spent: _Spent) -> None:
        with self._changed:
            spent.returns_at = self._clock() + self._window_s
            self._in_flight -= 1
            self._changed.notify_all()

    def _available(self, now: float) -> float:
        # Forgets units that are back, so the list stays as short as one window's requests.
        self._spent = [s for s in self._spent if s.returns_at is None or s.returns_at > now]
        return self._units - sum(s.units for s in self._spent)

    def _wait_for_units(self, now: float) -> float | None:
        """Seconds until a request may go (0: now); ``None``: until a request ends."""
        pause_s = self._paused_until - now
        missing = self._cost - self._available(now)
        if missing <= 0:
            return max(pause_s, 0.0)
        returning = sorted((s.returns_at, s.units) for s in self._spent if s.returns_at is not None)
        for returns_at, units in returning:
            missing -= units
            if missing <= 0:
                return max(pause_s, returns_at - now)
        return None
