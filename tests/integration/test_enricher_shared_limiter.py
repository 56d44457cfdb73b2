"""The shared limiter against a real Redis: replicas together within Kladana's bucket and
parallel cap (judged by the sandbox's own limiter), a dead replica's slots coming back,
and the per-process share while Redis is unreachable. Counts and invariants only: every
wait is a generous poll."""

import logging
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from redis import ConnectionError as RedisConnectionError
from redis import Redis, RedisError
from redis.backoff import NoBackoff
from redis.retry import Retry

from devstack.broker import free_port
from enricher.bucket import ServerQuota
from enricher.errors import NoRequestSlot
from enricher.metrics import EnricherMetrics, KladanaMetrics
from enricher.redis_bucket import BucketLimits, Granted, RedisBucket, Refused
from enricher.settings import EnricherSettings
from enricher.shared_limiter import Budget, SharedLimiter
from enricher.wiring import kladana_limiter
from sandbox.limits import RateLimiter, RateLimits
from tests.helpers import ROOT, wait_until

KLADANA = Budget(units=45, window_s=3.0, cost=1, max_parallel=5, fallback_replicas=3)
LEASE_S = 1.0
"""Short, so a dead replica's slots come back quickly in the test."""


class CountingBucket(RedisBucket):
    """A real shared bucket that also counts the requests it refused."""

    refused = 0

    def take(self, lease: str, capacity: float, window_s: float) -> Granted | Refused:
        outcome = super().take(lease, capacity, window_s)
        if isinstance(outcome, Refused):
            self.refused += 1
        return outcome


def replica(
    url: str, token: SecretStr, stop: threading.Event, metrics: KladanaMetrics | None = None
) -> tuple[SharedLimiter, CountingBucket]:
    """One enricher replica's limiter, with a Redis connection of its own."""
    client = Redis.from_url(
        url, socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    limits = BucketLimits(cost=1, max_parallel=5, lease_s=LEASE_S, keep_s=60)
    bucket = CountingBucket(client, token, limits)
    metrics = metrics or EnricherMetrics.on(CollectorRegistry()).kladana
    return SharedLimiter(bucket, KLADANA, stop=stop, metrics=metrics, lease_s=LEASE_S), bucket


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    stop = threading.Event()
    yield stop
    stop.set()


# Alone: the limiters grant a unit as Redis's bucket refills and the sandbox's bucket,
# refilled by its own clock, judges when the request arrives; a thread kept off the CPU
# between the two by another worker's load arrives late, bunched with the next, and meets
# a bucket that has not refilled yet (a 429 no production scheduling causes).
@pytest.mark.alone
def test_replicas_together_stay_within_kladanas_bucket_and_parallel_cap(
    redis_url: str, kladana_token: SecretStr, stop: threading.Event
) -> None:
    kladana = RateLimiter(RateLimits())  # the sandbox's bucket: Kladana's own accounting
    replicas = [replica(redis_url, kladana_token, stop)[0] for _ in range(3)]
    requests_left = iter(range(120))
    lock = threading.Lock()
    refusals: list[int] = []
    in_flight = peak = 0

    def request(limiter: SharedLimiter) -> bool:
        nonlocal in_flight, peak
        with lock:
            if next(requests_left, None) is None:
                return False
        with limiter.slot(timeout=60) as permit:
            with kladana.admit("token", 1) as admission:
                with lock:
                    in_flight += 1
                    peak = max(peak, in_flight)
                    if admission.refusal is not None:
                        refusals.append(admission.refusal)
                time.sleep(0.01)  # the answer's latency
                with lock:
                    in_flight -= 1
            quota = admission.quota
            permit.observe(ServerQuota(quota.remaining, quota.limit, quota.interval_ms / 1000))
        return True

    def worker(limiter: SharedLimiter) -> None:
        while request(limiter):
            pass

    # Five threads per replica, as the enricher runs KLADANA_MAX_PARALLEL documents at once.
    threads = [threading.Thread(target=worker, args=(r,)) for r in replicas for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads)
    assert refusals == []
    assert peak <= 5
    assert next(requests_left, None) is None


def test_one_replica_may_use_the_whole_budget_while_the_others_idle(
    redis_url: str, kladana_token: SecretStr, stop: threading.Event
) -> None:
    (busy, bucket), *_idle = [replica(redis_url, kladana_token, stop) for _ in range(3)]
    with ExitStack() as held:
        for _ in range(5):
            held.enter_context(busy.slot(timeout=30))
    for _ in range(40):
        with busy.slot(timeout=30):
            pass
    # All 5 slots at once and all 45 units, never once asked to wait.
    assert bucket.refused == 0


def test_a_429_pauses_every_replica(
    redis_url: str, kladana_token: SecretStr, stop: threading.Event
) -> None:
    (first, _), (_second, second_bucket) = (replica(redis_url, kladana_token, stop) for _ in "ab")
    with first.slot(timeout=30) as permit:
        permit.observe(ServerQuota(remaining=0, limit=45, retry_after_s=30.0))
    outcome = second_bucket.take("lease", 45, 3.0)
    assert isinstance(outcome, Refused)
    assert outcome.wait_s is not None
    assert 20 < outcome.wait_s <= 30


def test_an_answers_remaining_sets_the_shared_level_less_what_it_may_not_count(
    redis_url: str, kladana_token: SecretStr, stop: threading.Event, redis_client: Redis
) -> None:
    (limiter, bucket), (other, _) = (replica(redis_url, kladana_token, stop) for _ in "ab")

    def level() -> float:
        return float(redis_client.hget(bucket.keys[0], "level"))  # type: ignore[arg-type]

    # A server that refills over 3000 s: the level barely moves while the test runs.
    slow = {"limit": 45, "interval_s": 3000.0}
    with limiter.slot(timeout=30) as permit:
        permit.observe(ServerQuota(remaining=3, **slow))  # type: ignore[arg-type]
    assert level() <= 3
    # One request in flight on another replica when this one is granted, one granted after:
    # the server may count both after it.
    with other.slot(timeout=30), limiter.slot(timeout=30) as permit, other.slot(timeout=30):
        permit.observe(ServerQuota(remaining=40, **slow))  # type: ignore[arg-type]
        assert 37 < level() <= 40 - 2


_HOLDER = """
import sys, threading
from pydantic import SecretStr
from tests.integration.test_enricher_shared_limiter import replica
limiter, _ = replica(sys.argv[1], SecretStr(sys.argv[2]), threading.Event())
held = [limiter.slot(timeout=30) for _ in range(5)]  # referenced: never released
for slot in held:
    slot.__enter__()
print("holding", flush=True)
threading.Event().wait()
"""


def test_the_slots_of_a_replica_killed_while_holding_them_come_back(
    redis_url: str, kladana_token: SecretStr, stop: threading.Event
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, redis_url, kladana_token.get_secret_value()],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        survivor, _ = replica(redis_url, kladana_token, stop)
        # Renewed while the holder lives: well past a lease time, nothing comes free.
        with pytest.raises(NoRequestSlot), survivor.slot(timeout=3 * LEASE_S):
            pytest.fail("got a slot a live replica holds")
        holder.kill()  # SIGKILL: no release, no goodbye
        holder.wait(30)

        def all_five_back() -> bool:
            with ExitStack() as held:
                try:
                    for _ in range(5):
                        held.enter_context(survivor.slot(timeout=0.5))
                except NoRequestSlot:
                    return False
                return True

        assert wait_until(all_five_back, timeout_s=30)
    finally:
        holder.kill()
        holder.wait(30)


def test_an_unreachable_redis_falls_back_to_the_per_process_share(
    kladana_token: SecretStr, stop: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    registry = CollectorRegistry()
    metrics = EnricherMetrics.on(registry).kladana
    closed = f"redis://:s3cret-password@127.0.0.1:{free_port()}/0"
    with caplog.at_level(logging.INFO, logger="enricher.shared_limiter"):
        limiter, _ = replica(closed, kladana_token, stop, metrics)
        for _ in range(3):
            with limiter.slot(timeout=30):
                pass
        # 5 parallel requests split between KLADANA_LIMITER_FALLBACK_REPLICAS=3: one each.
        with limiter.slot(timeout=30), pytest.raises(NoRequestSlot), limiter.slot(timeout=0.3):
            pytest.fail("the fallback gave a second parallel slot")
    assert registry.get_sample_value("kladana_limiter_fallback") == 1
    assert registry.get_sample_value("kladana_limiter_fallbacks_total") == 1
    warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 1
    assert "s3cret" not in caplog.text


def test_the_fallback_share_divides_by_the_replicas_last_seen_alive(
    redis_url: str,
    kladana_token: SecretStr,
    stop: threading.Event,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _others = [replica(redis_url, kladana_token, stop) for _ in range(4)]  # alive, renewing
    limiter, bucket = replica(redis_url, kladana_token, stop)
    with Redis.from_url(redis_url) as client:
        assert wait_until(lambda: client.zcard(bucket.keys[2]) == 5, timeout_s=30)
    # Its renewals count the replicas alive: the five, once it renewed after the last came.
    assert wait_until(lambda: limiter._replicas_seen == 5, timeout_s=30)

    def unreachable(*_: object) -> Granted | Refused:
        raise RedisConnectionError("Redis went away")

    bucket.take = unreachable  # type: ignore[method-assign]
    with (
        caplog.at_level(logging.WARNING, logger="enricher.shared_limiter"),
        limiter.slot(timeout=30),
    ):
        pass
    (warning,) = [r for r in caplog.records if "unreachable" in r.getMessage()]
    # More than KLADANA_LIMITER_FALLBACK_REPLICAS=3: the five it last saw share the budget.
    assert warning.__dict__["replicas"] == 5


@contextmanager
def redis_server(port: int) -> Iterator[None]:
    """A redis-server of the test's own, on ``port``, until the block ends."""
    server = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
         "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with Redis(port=port) as client:
            assert wait_until(lambda: _answers(client), timeout_s=30)
        yield
    finally:
        server.kill()
        server.wait(30)


def _answers(client: Redis) -> bool:
    try:
        return bool(client.ping())
    except RedisError:
        return False


def test_the_replica_returns_to_the_shared_budget_when_redis_is_back(
    kladana_token: SecretStr, stop: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    registry = CollectorRegistry()
    metrics = EnricherMetrics.on(registry).kladana
    port = free_port()
    fallback = lambda: registry.get_sample_value("kladana_limiter_fallback")  # noqa: E731
    with caplog.at_level(logging.INFO, logger="enricher.shared_limiter"):
        with redis_server(port):
            limiter, _ = replica(f"redis://127.0.0.1:{port}/0", kladana_token, stop, metrics)
            with limiter.slot(timeout=30):
                pass
            assert fallback() == 0
        assert wait_until(lambda: fallback() == 1, timeout_s=30)
        with redis_server(port):
            assert wait_until(lambda: fallback() == 0, timeout_s=30)
            with limiter.slot(timeout=30):
                pass
    assert registry.get_sample_value("kladana_limiter_fallbacks_total") == 1
    messages = [r.getMessage() for r in caplog.records]
    assert sum("unreachable" in message for message in messages) == 1
    assert sum("answers again" in message for message in messages) == 1


def test_the_wiring_shares_the_budget_when_a_limiter_url_is_set(
    redis_url: str, kladana_token: SecretStr, stop: threading.Event
) -> None:
    settings = EnricherSettings(kladana_token=kladana_token, kladana_limiter_url=redis_url)  # type: ignore[arg-type]
    with kladana_limiter(settings, stop) as limiter:
        assert isinstance(limiter, SharedLimiter)
        with limiter.slot(timeout=30):
            pass
