"""The latency and failure knobs, set at start-up or flipped through ``/__sandbox/faults``."""

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sandbox.app import create_app
from sandbox.documents import SEED_ORDER_ID
from sandbox.faults import Faults
from sandbox.limits import RateLimits
from tests.unit.sandbox_client import (
    CONTROL,
    TOKEN,
    USER_TOKEN,
    RecordingSleep,
    body_of,
    error_code,
    get_document,
    set_knobs,
)

# High enough that these tests never meet the rate limit.
ROOMY = RateLimits(units=100_000)


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def app(sleep: RecordingSleep) -> Flask:
    return create_app(token=TOKEN, user_token=USER_TOKEN, limits=ROOMY, sleep=sleep)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _statuses(client: FlaskClient, count: int) -> list[int]:
    return [get_document(client, "customerorder", SEED_ORDER_ID).status_code for _ in range(count)]


def test_no_knob_is_turned_by_default(client: FlaskClient, sleep: RecordingSleep) -> None:
    assert _statuses(client, 20) == [200] * 20
    assert sleep.delays == []
    assert client.get("/__sandbox/faults", headers=CONTROL).get_json() == Faults().model_dump()


def test_latency_delays_every_answer(client: FlaskClient, sleep: RecordingSleep) -> None:
    faults = set_knobs(client, latency_ms=100)
    assert faults["latency_ms"] == 100
    assert _statuses(client, 3) == [200] * 3
    assert get_document(client, "customerorder", "gone").status_code == 404
    assert sleep.delays == [0.1] * 4


def test_latency_set_at_start_up() -> None:
    sleep = RecordingSleep()
    client = create_app(token=TOKEN, faults=Faults(latency_ms=250), sleep=sleep).test_client()
    assert _statuses(client, 1) == [200]
    assert sleep.delays == [0.25]


def _jittered_delays(seed: int) -> list[float]:
    sleep = RecordingSleep()
    faults = Faults(latency_ms=100, latency_jitter_ms=50, seed=seed)
    client = create_app(token=TOKEN, faults=faults, sleep=sleep).test_client()
    _statuses(client, 10)
    return sleep.delays


def test_jitter_is_random_but_reproducible_with_a_seed() -> None:
    delays = _jittered_delays(seed=7)
    assert all(0.1 <= delay <= 0.15 for delay in delays)
    assert len(set(delays)) == len(delays)
    assert _jittered_delays(seed=7) == delays
    assert _jittered_delays(seed=8) != delays


def test_setting_the_seed_at_runtime_restarts_the_sequence(
    client: FlaskClient, sleep: RecordingSleep
) -> None:
    set_knobs(client, latency_jitter_ms=1000, seed=3)
    _statuses(client, 5)
    first = list(sleep.delays)
    set_knobs(client, seed=3)
    _statuses(client, 5)
    assert sleep.delays[5:] == first


def test_error_rate_answers_that_share_with_500_or_503(client: FlaskClient) -> None:
    set_knobs(client, error_rate=0.3, seed=11)
    statuses = _statuses(client, 400)
    failed = [status for status in statuses if status != 200]
    assert set(failed) == {500, 503}
    assert 0.2 < len(failed) / len(statuses) < 0.4
    set_knobs(client, error_rate=0)
    assert _statuses(client, 20) == [200] * 20


def test_injected_errors_look_like_kladanas_and_its_gateways(client: FlaskClient) -> None:
    set_knobs(client, error_rate=1, seed=1)
    answers = [get_document(client, "customerorder", SEED_ORDER_ID) for _ in range(20)]
    internal = next(answer for answer in answers if answer.status_code == 500)
    unavailable = next(answer for answer in answers if answer.status_code == 503)
    assert error_code(internal) == 1000
    assert unavailable.headers["Content-Type"] == "text/html"
    assert b"503" in unavailable.data
    # They were admitted by the rate limiter, so they carry its headers.
    assert "X-RateLimit-Remaining" in internal.headers
    assert "X-RateLimit-Remaining" in unavailable.headers


def test_timeouts_hang_then_answer(client: FlaskClient, sleep: RecordingSleep) -> None:
    set_knobs(client, timeout_rate=1, hang_ms=2000, latency_ms=100)
    assert _statuses(client, 2) == [200, 200]
    assert sleep.delays == [2.1, 2.1]


def test_outage_answers_every_request_with_a_gateway_503(client: FlaskClient) -> None:
    set_knobs(client, outage=True)
    down = get_document(client, "customerorder", SEED_ORDER_ID)
    assert down.status_code == 503
    assert down.headers["Content-Type"] == "text/html"
    assert "X-RateLimit-Remaining" not in down.headers
    assert client.get(f"/api/remap/1.2/entity/customerorder/{SEED_ORDER_ID}").status_code == 503
    set_knobs(client, outage=False)
    assert _statuses(client, 1) == [200]


def test_a_rate_limit_storm_answers_429_1049_to_every_client(client: FlaskClient) -> None:
    set_knobs(client, rate_limit_storm=True)
    for token in (TOKEN, USER_TOKEN):
        refused = get_document(client, "customerorder", SEED_ORDER_ID, token=token)
        assert (refused.status_code, error_code(refused)) == (429, 1049)
        assert refused.headers["X-RateLimit-Remaining"] == "0"
        assert refused.headers["X-Lognex-Retry-After"] == "3000"
    assert get_document(client, "customerorder", SEED_ORDER_ID, token="bad").status_code == 401
    set_knobs(client, rate_limit_storm=False)
    assert _statuses(client, 1) == [200]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"error_rate": 1.5}, "error_rate"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"outage": "sometimes"}, "outage"),
        ({"latency": 100}, "latency"),
        ([1, 2], "JSON object"),
    ],
)
def test_a_bad_knob_is_400_and_changes_nothing(client: FlaskClient, body: Any, named: str) -> None:
    set_knobs(client, latency_ms=5)
    response = client.put("/__sandbox/faults", json=body, headers=CONTROL)
    assert response.status_code == 400
    assert named in response.get_json()["errors"][0]["error"]
    assert client.get("/__sandbox/faults", headers=CONTROL).get_json()["latency_ms"] == 5


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/__sandbox/faults"),
        ("PUT", "/__sandbox/faults"),
        ("GET", "/__sandbox/stats"),
        ("POST", "/__sandbox/stats/reset"),
        ("DELETE", f"/__sandbox/documents/customerorder/{SEED_ORDER_ID}"),
        ("PUT", f"/__sandbox/documents/customerorder/{SEED_ORDER_ID}"),
    ],
)
def test_the_control_endpoints_need_the_token(client: FlaskClient, method: str, path: str) -> None:
    for authorization in (None, "Bearer wrong", TOKEN):
        headers = {} if authorization is None else {"Authorization": authorization}
        response = client.open(path, method=method, json={"outage": True}, headers=headers)
        assert response.status_code == 401
        assert response.get_json()["errors"][0]["code"] == 1056
    assert _statuses(client, 1) == [200]


def test_a_user_token_may_turn_the_knobs_too(client: FlaskClient) -> None:
    response = client.put(
        "/__sandbox/faults",
        json={"latency_ms": 1},
        headers={"Authorization": f"Bearer {USER_TOKEN}"},
    )
    assert response.status_code == 200


def test_api_answers_stay_gzip_json_under_faults(client: FlaskClient) -> None:
    set_knobs(client, latency_ms=1, latency_jitter_ms=1)
    response = get_document(client, "customerorder", SEED_ORDER_ID, expand="state")
    assert body_of(response)["state"]["name"] == "Shipped"
