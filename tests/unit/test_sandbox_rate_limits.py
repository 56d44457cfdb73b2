"""Kladana's rate limits in the sandbox: 45 units / 3 s per token, 5 requests at once."""

import threading

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from sandbox.app import create_app
from sandbox.documents import SEED_ORDER_ID
from sandbox.faults import Faults
from sandbox.limits import RateLimits
from tests.helpers import wait_until
from tests.unit.sandbox_client import (
    TOKEN,
    USER_TOKEN,
    FakeClock,
    RecordingSleep,
    body_of,
    error_code,
    get_document,
    stats,
)

RATE_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-Lognex-Retry-TimeInterval",
    "X-Lognex-Reset",
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(clock: FakeClock) -> Flask:
    return create_app(token=TOKEN, user_token=USER_TOKEN, clock=clock)


def _seed(app: Flask, token: str = TOKEN) -> TestResponse:
    return get_document(app.test_client(), "customerorder", SEED_ORDER_ID, token=token)


def _header(response: TestResponse, name: str) -> int:
    return int(response.headers[name])


def test_every_authenticated_answer_carries_the_rate_limit_headers(app: Flask) -> None:
    found = _seed(app)
    missing = get_document(app.test_client(), "customerorder", "no-such-id")
    assert (found.status_code, missing.status_code) == (200, 404)
    assert {name: found.headers[name] for name in RATE_HEADERS} == {
        "X-RateLimit-Limit": "45",
        "X-RateLimit-Remaining": "44",
        "X-Lognex-Retry-TimeInterval": "3000",
        # One unit back at 15 units/s: 66.7 ms, rounded up.
        "X-Lognex-Reset": "67",
    }
    assert "X-Lognex-Retry-After" not in found.headers
    assert _header(missing, "X-RateLimit-Remaining") == 43
    assert _header(missing, "X-Lognex-Reset") == 134


def test_the_46th_request_in_the_window_is_429_with_code_1049(app: Flask) -> None:
    answers = [_seed(app).status_code for _ in range(45)]
    refused = _seed(app)
    assert answers == [200] * 45
    assert refused.status_code == 429
    [error] = body_of(refused)["errors"]
    assert error["code"] == 1049
    assert error["error"]
    assert error["moreInfo"].endswith("1049")
    assert _header(refused, "X-RateLimit-Remaining") == 0
    assert _header(refused, "X-Lognex-Retry-After") == 67
    assert _header(refused, "X-Lognex-Reset") == 3000
    assert stats(app.test_client())["rate_limited"] == {"1049": 1}


def test_the_bucket_refills_with_time(app: Flask, clock: FakeClock) -> None:
    for _ in range(45):
        _seed(app)
    refused = _seed(app)
    clock.advance(_header(refused, "X-Lognex-Retry-After") / 1000)
    assert _seed(app).status_code == 200
    assert _seed(app).status_code == 429
    clock.advance(3.0)
    full_again = _seed(app)
    assert full_again.status_code == 200
    assert _header(full_again, "X-RateLimit-Remaining") == 44


def test_a_user_token_costs_4_units_and_has_its_own_bucket(app: Flask) -> None:
    first = _seed(app, USER_TOKEN)
    assert _header(first, "X-RateLimit-Remaining") == 41
    answers = [_seed(app, USER_TOKEN).status_code for _ in range(10)]
    assert answers == [200] * 10  # 44 units spent, 1 left: not enough for a fifth of them
    refused = _seed(app, USER_TOKEN)
    assert (refused.status_code, error_code(refused)) == (429, 1049)
    # 3 units missing at 15 units/s.
    assert _header(refused, "X-Lognex-Retry-After") == 200
    assert _header(_seed(app, TOKEN), "X-RateLimit-Remaining") == 44


def test_limits_and_costs_are_configurable(clock: FakeClock) -> None:
    limits = RateLimits(units=10, window_ms=1000, application_cost=2)
    app = create_app(token=TOKEN, limits=limits, clock=clock)
    answers = [_seed(app) for _ in range(6)]
    assert [answer.status_code for answer in answers] == [200] * 5 + [429]
    assert _header(answers[0], "X-RateLimit-Limit") == 10
    assert _header(answers[0], "X-RateLimit-Remaining") == 8
    assert _header(answers[0], "X-Lognex-Retry-TimeInterval") == 1000
    assert _header(answers[-1], "X-Lognex-Retry-After") == 200


@pytest.mark.parametrize(
    "headers",
    [{"Accept-Encoding": "gzip"}, {"Authorization": f"Bearer {TOKEN}"}],
    ids=["no token", "no gzip"],
)
def test_refused_before_authentication_costs_nothing(app: Flask, headers: dict[str, str]) -> None:
    client = app.test_client()
    path = f"/api/remap/1.2/entity/customerorder/{SEED_ORDER_ID}"
    refused = client.get(path, headers=headers)
    assert refused.status_code in (401, 415)
    assert "X-RateLimit-Remaining" not in refused.headers
    assert _header(_seed(app), "X-RateLimit-Remaining") == 44


def test_a_sixth_parallel_request_is_429_with_code_1073(clock: FakeClock) -> None:
    sleep = RecordingSleep(hold=True)
    app = create_app(token=TOKEN, clock=clock, sleep=sleep, faults=Faults(latency_ms=50))
    answers: list[int] = []
    workers = [
        threading.Thread(target=lambda: answers.append(_seed(app).status_code)) for _ in range(5)
    ]
    for worker in workers:
        worker.start()
    try:
        assert wait_until(lambda: sleep.calls == 5, timeout_s=10)
        refused = _seed(app)
    finally:
        sleep.release()
        for worker in workers:
            worker.join(timeout=10)
    assert (refused.status_code, error_code(refused)) == (429, 1073)
    assert _header(refused, "X-Lognex-Retry-After") > 0
    # The refused request was not charged: 5 units spent.
    assert _header(refused, "X-RateLimit-Remaining") == 40
    assert answers == [200] * 5
    assert _seed(app).status_code == 200  # the slots are free again
    counters = stats(app.test_client())
    assert counters["max_parallel"] == 6
    assert counters["rate_limited"] == {"1073": 1}
    assert counters["in_flight"] == 0


def test_the_parallel_cap_is_configurable(clock: FakeClock) -> None:
    sleep = RecordingSleep(hold=True)
    app = create_app(
        token=TOKEN,
        clock=clock,
        sleep=sleep,
        faults=Faults(latency_ms=50),
        limits=RateLimits(max_parallel=1),
    )
    worker = threading.Thread(target=lambda: _seed(app))
    worker.start()
    try:
        assert wait_until(lambda: sleep.calls == 1, timeout_s=10)
        refused = _seed(app)
    finally:
        sleep.release()
        worker.join(timeout=10)
    assert (refused.status_code, error_code(refused)) == (429, 1073)


@pytest.mark.parametrize(
    "limits",
    [
        {"units": 0},
        {"window_ms": 0},
        {"max_parallel": 0},
        {"application_cost": 0},
        {"units": 3, "user_cost": 4},
    ],
)
def test_impossible_limits_are_refused(limits: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=r"at least 1|more units than the bucket"):
        RateLimits(**limits)
