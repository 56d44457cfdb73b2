"""The request limiter on a fake clock (no real sleeping) and with real threads."""

import threading

import pytest

from enricher.bucket import ServerQuota
from enricher.errors import NoRequestSlot
from enricher.limiter import RequestLimiter
from enricher.settings import EnricherSettings
from shared.errors import SettingsError
from shared.settings import environment_variables, load_settings
from tests.helpers import wait_until

ONE_UNIT_S = 3.0 / 45
"""Kladana refills its 45 units evenly over 3 s."""


class FakeClock:
    """Time that moves only when a caller sleeps; records every sleep asked for."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def fake_limiter(clock: FakeClock, **knobs: int | float) -> RequestLimiter:
    return RequestLimiter(clock=clock, sleep=clock.sleep, **knobs)  # type: ignore[arg-type]


def take(limiter: RequestLimiter, count: int) -> None:
    for _ in range(count):
        with limiter.slot():
            pass


def test_a_full_bucket_lets_its_units_through_then_one_per_refilled_unit() -> None:
    clock = FakeClock()
    limiter = fake_limiter(clock, units=45, window_s=3.0)
    take(limiter, 45)
    assert clock.sleeps == []
    take(limiter, 1)
    assert clock.sleeps == [pytest.approx(ONE_UNIT_S)]


def test_a_burst_of_100_takes_the_45_at_once_then_15_a_second() -> None:
    clock = FakeClock()
    limiter = fake_limiter(clock, units=45, window_s=3.0)
    take(limiter, 100)
    assert len(clock.sleeps) == 55
    assert sum(clock.sleeps) == pytest.approx(55 / 15)


def test_a_slow_answer_does_not_hold_its_unit_back() -> None:
    clock = FakeClock()
    limiter = fake_limiter(clock, units=2, window_s=3.0)
    with limiter.slot():
        clock.now += 2.0  # Kladana refills by the clock, whatever the answer's latency
    take(limiter, 2)
    assert clock.sleeps == []


def test_a_user_token_costs_four_units_a_request() -> None:
    clock = FakeClock()
    limiter = fake_limiter(clock, units=45, window_s=3.0, cost=4)
    take(limiter, 11)  # 44 units
    assert clock.sleeps == []
    take(limiter, 1)
    assert clock.sleeps == [pytest.approx(3 * ONE_UNIT_S)]


def test_a_limiter_that_starts_empty_waits_for_its_first_unit() -> None:
    clock = FakeClock()
    limiter = RequestLimiter(clock=clock, sleep=clock.sleep, start_empty=True)
    take(limiter, 1)
    assert clock.sleeps == [pytest.approx(ONE_UNIT_S)]


@pytest.mark.parametrize(
    "knobs",
    [
        {"units": 0},
        {"window_s": 0},
        {"max_parallel": 0},
        {"cost": 0},
        {"units": 3, "cost": 4},
    ],
)
def test_impossible_limits_are_refused(knobs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="cost <= units"):
        RequestLimiter(**knobs)  # type: ignore[arg-type]


def observe(limiter: RequestLimiter, **quota: float | None) -> None:
    """What the answer to a request through ``limiter`` said, observed as it ends."""
    with limiter.slot() as permit:
        permit.observe(ServerQuota(**quota))  # type: ignore[arg-type]


def test_a_retry_after_pauses_the_next_caller_until_then() -> None:
    clock = FakeClock()
    limiter = fake_limiter(clock)
    observe(limiter, retry_after_s=1.5)
    take(limiter, 1)
    assert clock.sleeps == [1.5]
    take(limiter, 1)
    assert clock.sleeps == [1.5]


def test_a_retry_after_pauses_every_waiting_thread() -> None:
    clock = FakeClock()
    asked: list[float] = []
    resume = threading.Event()

    def held_sleep(seconds: float) -> None:
        asked.append(seconds)
        resume.wait(10)

    limiter = RequestLimiter(clock=clock, sleep=held_sleep)
    observe(limiter, retry_after_s=2.0)
    finished: list[str] = []

    def caller() -> None:
        take(limiter, 1)
        finished.append("done")

    callers = [threading.Thread(target=caller) for _ in range(3)]
    for thread in callers:
        thread.start()
    assert wait_until(lambda: len(asked) == 3, timeout_s=10)
    assert asked == [2.0, 2.0, 2.0]
    assert finished == []
    clock.now += 2.0
    resume.set()
    for thread in callers:
        thread.join(10)
    assert finished == ["done"] * 3


def test_a_later_shorter_retry_after_does_not_shorten_the_pause() -> None:
    clock = FakeClock()
    limiter = fake_limiter(clock)
    with limiter.slot() as first, limiter.slot() as second:
        first.observe(ServerQuota(retry_after_s=2.0))
        second.observe(ServerQuota(retry_after_s=0.5))
    take(limiter, 1)
    assert clock.sleeps == [2.0]


def test_remaining_counts_the_requests_in_flight_the_server_may_not_have_counted() -> None:
    clock = FakeClock()
    limiter = fake_limiter(clock, units=45, window_s=3.0)
    with limiter.slot(), limiter.slot(), limiter.slot() as third, limiter.slot():
        # The first two may be counted after the third, the fourth came after it.
        third.observe(ServerQuota(remaining=10, limit=45, interval_s=3.0))
    take(limiter, 7)
    assert clock.sleeps == []
    take(limiter, 1)
    assert clock.sleeps == [pytest.approx(ONE_UNIT_S)]


def answer_five_at_once(limiter: RequestLimiter, *, first_fails: bool = False) -> None:
    """Five requests sent together, answered (and their slots released) in the order the
    server counted them: 44 left after the first ... 40 after the fifth."""
    slots = [limiter.slot() for _ in range(5)]
    permits = [slot.__enter__() for slot in slots]
    for number, (slot, permit) in enumerate(zip(slots, permits, strict=True)):
        if first_fails and number == 0:
            error = RuntimeError("connection reset")
            slot.__exit__(RuntimeError, error, None)
            continue
        permit.observe(ServerQuota(remaining=44 - number, limit=45, interval_s=3.0))
        slot.__exit__(None, None, None)


def test_once_every_request_in_flight_is_answered_the_bucket_is_the_servers() -> None:
    clock = FakeClock()
    limiter = fake_limiter(clock, units=45, window_s=3.0)
    answer_five_at_once(limiter)
    take(limiter, 40)
    assert clock.sleeps == []
    take(limiter, 1)
    assert clock.sleeps == [pytest.approx(ONE_UNIT_S)]


def test_a_request_that_ends_without_an_answer_keeps_the_doubt_about_the_others() -> None:
    clock = FakeClock()
    limiter = fake_limiter(clock, units=45, window_s=3.0)
    answer_five_at_once(limiter, first_fails=True)
    # It may be counted after the fifth, and the four before it may have been too.
    take(limiter, 36)
    assert clock.sleeps == []
    take(limiter, 1)
    assert clock.sleeps == [pytest.approx(ONE_UNIT_S)]


def test_remaining_below_the_bucket_slows_callers_before_the_limit() -> None:
    clock = FakeClock()
    limiter = fake_limiter(clock, units=45, window_s=3.0)
    # Someone else spent 40 of the token's 45 units.
    observe(limiter, remaining=4, limit=45)
    take(limiter, 4)
    assert clock.sleeps == []
    take(limiter, 1)
    assert clock.sleeps == [pytest.approx(ONE_UNIT_S)]


def test_remaining_is_split_by_this_instances_share_of_the_limit() -> None:
    clock = FakeClock()
    # One of three instances: 15 of the 45 units are ours, so a third of what is left.
    limiter = fake_limiter(clock, units=15, window_s=3.0)
    observe(limiter, remaining=9, limit=45)
    take(limiter, 3)
    assert clock.sleeps == []
    take(limiter, 1)
    assert clock.sleeps == [pytest.approx(3.0 / 15)]


@pytest.mark.parametrize(("remaining", "limit"), [(45, 45), (44, None), (None, 45), (None, None)])
def test_remaining_at_or_above_the_bucket_changes_nothing(
    remaining: int | None, limit: int | None
) -> None:
    clock = FakeClock()
    limiter = fake_limiter(clock, units=45, window_s=3.0)
    observe(limiter, remaining=remaining, limit=limit)
    take(limiter, 44)
    assert clock.sleeps == []


def test_a_timeout_gives_up_without_a_slot() -> None:
    clock = FakeClock()
    limiter = fake_limiter(clock, units=1, window_s=3.0)
    take(limiter, 1)
    with pytest.raises(NoRequestSlot, match=r"within 1\.0s"), limiter.slot(timeout=1.0):
        pytest.fail("granted a slot the bucket did not have")
    assert clock.sleeps == [1.0]


def test_an_abandoned_request_counts_against_the_parallel_cap_until_its_time_is_up() -> None:
    clock = FakeClock()
    limiter = fake_limiter(clock, units=45, max_parallel=2)
    with limiter.slot() as permit:
        permit.count_abandoned(2.0)  # timed out: Kladana may serve it 2 s more
    with limiter.slot():
        take(limiter, 1)  # one slot is held, the other counted abandoned: wait it out
    assert clock.sleeps == [2.0]
    take(limiter, 2)
    assert clock.sleeps == [2.0]


def test_parallel_requests_are_capped_across_threads() -> None:
    limiter = RequestLimiter(units=45, max_parallel=3)
    lock = threading.Lock()
    inside = 0
    peak = 0
    go = threading.Event()

    def request() -> None:
        nonlocal inside, peak
        with limiter.slot():
            with lock:
                inside += 1
                peak = max(peak, inside)
            go.wait(10)
            with lock:
                inside -= 1

    callers = [threading.Thread(target=request) for _ in range(7)]
    for caller in callers:
        caller.start()
    assert wait_until(lambda: inside == 3, timeout_s=10)
    # Every slot is held, so even a caller ready to give up at once gets none.
    with pytest.raises(NoRequestSlot), limiter.slot(timeout=0.05):
        pytest.fail("granted a fourth parallel slot")
    go.set()
    for caller in callers:
        caller.join(10)
    assert not any(caller.is_alive() for caller in callers)
    assert peak == 3


def test_a_failing_request_still_gives_its_slot_back() -> None:
    limiter = RequestLimiter(max_parallel=1)
    with pytest.raises(RuntimeError), limiter.slot():
        raise RuntimeError("connection reset")
    with limiter.slot(timeout=5):
        pass


def test_stop_ends_a_wait_for_a_parallel_slot() -> None:
    stop = threading.Event()
    limiter = RequestLimiter(max_parallel=1, stop=stop)
    outcome: list[BaseException] = []

    def second_request() -> None:
        try:
            take(limiter, 1)
        except NoRequestSlot as error:
            outcome.append(error)

    with limiter.slot():
        waiter = threading.Thread(target=second_request)
        waiter.start()
        stop.set()
        waiter.join(10)
    assert not waiter.is_alive()
    assert [str(error) for error in outcome] == ["shutting down: no request sent to Kladana"]


def test_stop_ends_a_wait_for_units() -> None:
    stop = threading.Event()
    limiter = RequestLimiter(units=1, window_s=3600, stop=stop)
    take(limiter, 1)
    outcome: list[BaseException] = []

    def second_request() -> None:
        try:
            take(limiter, 1)
        except NoRequestSlot as error:
            outcome.append(error)

    waiter = threading.Thread(target=second_request)
    waiter.start()
    stop.set()
    waiter.join(10)
    assert not waiter.is_alive()
    assert len(outcome) == 1


@pytest.fixture
def limiter_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in environment_variables(EnricherSettings):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KLADANA_TOKEN", "app-token-123")
    return monkeypatch


def test_limiter_settings_default_to_kladanas_limits_for_an_application_token(
    limiter_environment: pytest.MonkeyPatch,
) -> None:
    settings = load_settings(EnricherSettings)
    assert (
        settings.kladana_rate_units,
        settings.kladana_rate_window_s,
        settings.kladana_request_cost,
        settings.kladana_max_parallel,
    ) == (45, 3.0, 1, 5)


def test_limiter_settings_are_read_from_the_environment(
    limiter_environment: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "KLADANA_RATE_UNITS": "15",
        "KLADANA_RATE_WINDOW_S": "3.5",
        "KLADANA_REQUEST_COST": "4",
        "KLADANA_MAX_PARALLEL": "2",
    }.items():
        limiter_environment.setenv(name, value)
    settings = load_settings(EnricherSettings)
    assert (
        settings.kladana_rate_units,
        settings.kladana_rate_window_s,
        settings.kladana_request_cost,
        settings.kladana_max_parallel,
    ) == (15, 3.5, 4, 2)


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"KLADANA_RATE_UNITS": "0"}, "KLADANA_RATE_UNITS"),
        ({"KLADANA_RATE_UNITS": "lots"}, "KLADANA_RATE_UNITS"),
        ({"KLADANA_RATE_WINDOW_S": "-3"}, "KLADANA_RATE_WINDOW_S"),
        ({"KLADANA_REQUEST_COST": "0"}, "KLADANA_REQUEST_COST"),
        ({"KLADANA_MAX_PARALLEL": "0"}, "KLADANA_MAX_PARALLEL"),
        ({"KLADANA_RATE_UNITS": "3", "KLADANA_REQUEST_COST": "4"}, "KLADANA_REQUEST_COST"),
        ({"KLADANA_LIMITER_URL": "http://:lots@redis:6379/0"}, "KLADANA_LIMITER_URL"),
        ({"KLADANA_LIMITER_URL": "redis://:lots@redis:port/0"}, "KLADANA_LIMITER_URL"),
        ({"KLADANA_LIMITER_URL": "redis://:lots@redis:6379/db"}, "KLADANA_LIMITER_URL"),
        ({"KLADANA_LIMITER_FALLBACK_REPLICAS": "0"}, "KLADANA_LIMITER_FALLBACK_REPLICAS"),
    ],
)
def test_bad_limiter_settings_fail_start_up_naming_the_variable(
    limiter_environment: pytest.MonkeyPatch, variables: dict[str, str], named: str
) -> None:
    for name, value in variables.items():
        limiter_environment.setenv(name, value)
    with pytest.raises(SettingsError, match=named) as raised:
        load_settings(EnricherSettings)
    assert "lots" not in str(raised.value)


@pytest.mark.parametrize(
    "url", ["redis://redis:6379/0", "redis://:password@10.0.0.5:6380/2", "rediss://r", "unix:///s"]
)
def test_a_redis_url_shares_the_budget_and_stays_secret(
    limiter_environment: pytest.MonkeyPatch, url: str
) -> None:
    limiter_environment.setenv("KLADANA_LIMITER_URL", url)
    settings = load_settings(EnricherSettings)
    assert settings.kladana_limiter_url is not None
    assert settings.kladana_limiter_url.get_secret_value() == url
    assert "password" not in repr(settings)


def test_without_a_redis_url_each_process_keeps_its_own_share(
    limiter_environment: pytest.MonkeyPatch,
) -> None:
    settings = load_settings(EnricherSettings)
    assert settings.kladana_limiter_url is None
    assert settings.kladana_limiter_fallback_replicas == 2
