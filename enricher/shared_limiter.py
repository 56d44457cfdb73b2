"""One Kladana budget for every enricher replica of a token, kept in Redis
(``KLADANA_LIMITER_URL``), so that together they never exceed 45 units per 3 s or 5
requests in flight, and any one of them may use the whole budget while the others idle.

The bucket and the slots live in Redis (:mod:`enricher.redis_bucket`). A request's slot
is a lease this process renews while the request runs, so the slots of a replica that
died come back within one lease time (:data:`LEASE_S`).

**When Redis is unreachable** the replica falls back to its per-process share: the
budget divided by the replicas it last saw in Redis, or by
``KLADANA_LIMITER_FALLBACK_REPLICAS`` if that is more, in a
:class:`~enricher.limiter.RequestLimiter` that starts empty (the shared bucket may just
have been spent). Never the whole budget per replica: N replicas each on all of it would
earn 429s by the hundred. The switch is logged once each way and shown by the
``kladana_limiter_fallback`` gauge; Redis is tried again every :data:`RECHECK_S`.
"""

import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from redis import RedisError

from enricher.bucket import ServerQuota, remaining_units, server_limits
from enricher.errors import NoRequestSlot
from enricher.limiter import RequestLimiter
from enricher.limiting import GrantedPermit, Permit
from enricher.metrics import KladanaMetrics
from enricher.redis_bucket import Granted, RedisBucket

log = logging.getLogger(__name__)

LEASE_S = 10.0
"""How long a slot outlives its holder's last renewal: a dead replica's slots come back
within this time. Renewed four times as often, so a stalled process keeps its slots."""
_RENEWALS_PER_LEASE = 4
RECHECK_S = 2.0
"""While on the per-process share, how often one request tries Redis again."""
# Redis cannot tell when another replica frees a slot; waiting this long between asks
# costs a request at most this much, and Redis a few hundred tiny scripts a second.
_SLOT_POLL_S = 0.02


@dataclass(frozen=True)
class Budget:
    """The token's whole budget, and how many replicas at least split it on a fallback."""

    units: int
    window_s: float
    cost: int
    max_parallel: int
    fallback_replicas: int

    def share(self, replicas: int, stop: threading.Event, *, start_empty: bool) -> RequestLimiter:
        """A per-process limiter with one of ``replicas`` equal shares."""
        return RequestLimiter(
            units=max(self.cost, self.units // replicas),
            window_s=self.window_s,
            cost=self.cost,
            max_parallel=max(1, self.max_parallel // replicas),
            stop=stop,
            start_empty=start_empty,
        )


class SharedLimiter:
    """Thread-safe; renews its leases on a thread of its own until ``stop`` is set."""

    def __init__(
        self,
        bucket: RedisBucket,
        budget: Budget,
        *,
        stop: threading.Event,
        metrics: KladanaMetrics,
        lease_s: float = LEASE_S,
    ) -> None:
        self._bucket = bucket
        self._budget = budget
        self._stop = stop
        self._metrics = metrics
        self._lease_s = lease_s
        self._replica = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._held: set[str] = set()
        self._limits = (float(budget.units), budget.window_s)
        """The bucket's capacity and window as the server last allowed them."""
        self._replicas_seen = 1
        self._local: RequestLimiter | None = None
        self._retry_redis_at = 0.0
        metrics.limiter_fallback.set(0)
        self._renewer = threading.Thread(
            target=self._renew_leases, name="kladana-lease-renewer", daemon=True
        )
        self._renewer.start()

    @contextmanager
    def slot(self, timeout: float | None = None) -> Iterator[Permit]:
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        lease = uuid.uuid4().hex
        granted = self._acquire(lease, deadline, timeout)
        if isinstance(granted, RequestLimiter):
            with granted.slot(max(0.0, deadline - time.monotonic())) as permit:
                yield permit
            return
        try:
            yield GrantedPermit(self, granted, time.monotonic())
        finally:
            with self._lock:
                self._held.discard(lease)
            self._call_redis(lambda: self._bucket.release(lease))

    def observe(self, quota: ServerQuota, serial: float, granted_at: float) -> None:
        round_trip_s = time.monotonic() - granted_at
        budget = self._budget
        self._limits = limits = server_limits(budget.units, budget.window_s, quota)
        remaining = remaining_units(budget.units, limits[1], quota, round_trip_s)
        if quota.retry_after_s:
            log.warning(
                "Kladana rate limit hit: pausing every replica",
                extra={"pause_s": round(quota.retry_after_s, 3)},
            )
        self._call_redis(
            lambda: self._bucket.sync(
                *limits, remaining=remaining, serial=serial, pause_s=quota.retry_after_s
            )
        )

    def count_abandoned(self, for_s: float) -> None:
        self._call_redis(lambda: self._bucket.hold(f"abandoned-{uuid.uuid4().hex}", for_s))

    def _acquire(
        self, lease: str, deadline: float, timeout: float | None
    ) -> float | RequestLimiter:
        """The grant's serial, or the per-process limiter to ask instead."""
        while True:
            if self._stop.is_set():
                raise NoRequestSlot("shutting down: no request sent to Kladana")
            now = time.monotonic()
            if now >= deadline:
                raise NoRequestSlot(f"no Kladana request slot within {timeout}s")
            local = self._local_unless_retrying(now)
            if local is not None:
                return local
            try:
                outcome = self._bucket.take(lease, *self._limits)
            except RedisError as error:
                return self._fall_back(error)
            self._recovered()
            if isinstance(outcome, Granted):
                with self._lock:
                    self._held.add(lease)
                return outcome.serial
            self._stop.wait(min(outcome.wait_s or _SLOT_POLL_S, deadline - now))

    def _local_unless_retrying(self, now: float) -> RequestLimiter | None:
        """The per-process limiter while on the fallback, except for the one request in
        each :data:`RECHECK_S` that tries Redis again."""
        with self._lock:
            if self._local is None or now >= self._retry_redis_at:
                self._retry_redis_at = now + RECHECK_S
                return None
            return self._local

    def _fall_back(self, error: RedisError) -> RequestLimiter:
        with self._lock:
            self._retry_redis_at = time.monotonic() + RECHECK_S
            if self._local is not None:
                return self._local
            replicas = max(self._budget.fallback_replicas, self._replicas_seen)
            # Empty: the shared bucket may just have been spent.
            self._local = local = self._budget.share(replicas, self._stop, start_empty=True)
        # The error's type only: its text may carry the URL, and the URL a password.
        log.warning(
            "the shared Kladana limiter's Redis is unreachable: limiting this replica to"
            " its share of the budget until it is back",
            extra={"error": type(error).__name__, "replicas": replicas},
        )
        self._metrics.limiter_fallback.set(1)
        self._metrics.limiter_fallbacks.inc()
        return local

    def _recovered(self) -> None:
        with self._lock:
            if self._local is None:
                return
            self._local = None
        log.info("the shared Kladana limiter's Redis answers again: back on the shared budget")
        self._metrics.limiter_fallback.set(0)

    def _call_redis(self, call: Callable[[], object]) -> None:
        try:
            call()
        except RedisError as error:
            self._fall_back(error)

    def _renew_leases(self) -> None:
        while True:
            with self._lock:
                leases = sorted(self._held)
            try:
                self._replicas_seen = self._bucket.renew(self._replica, leases)
            except RedisError as error:
                self._fall_back(error)
            else:
                self._recovered()
            if self._stop.wait(self._lease_s / _RENEWALS_PER_LEASE):
                return
