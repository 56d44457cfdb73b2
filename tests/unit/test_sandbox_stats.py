"""``/__sandbox/stats``: what clients asked, how they were answered, how many at once."""

from flask import Flask

from sandbox.app import create_app
from sandbox.documents import SEED_ORDER_ID
from sandbox.limits import RateLimits
from tests.unit.sandbox_client import CONTROL, TOKEN, FakeClock, get_document, set_knobs, stats

OTHER_ID = "a5f2022a-eb25-11f1-a1e8-02fc00000001"


def _app() -> Flask:
    return create_app(
        token=TOKEN, limits=RateLimits(units=6, application_cost=2), clock=FakeClock()
    )


def test_counts_requests_answers_429_codes_and_documents() -> None:
    client = _app().test_client()
    assert stats(client) == {
        "requests": 0,
        "in_flight": 0,
        "max_parallel": 0,
        "responses": {},
        "rate_limited": {},
        "documents": {},
    }
    get_document(client, "customerorder", SEED_ORDER_ID)
    get_document(client, "customerorder", SEED_ORDER_ID)
    get_document(client, "customerorder", OTHER_ID)
    get_document(client, "customerorder", OTHER_ID)  # 3 requests emptied the bucket: 429
    get_document(client, "customerorder", OTHER_ID, token="wrong")
    set_knobs(client, rate_limit_storm=True)
    get_document(client, "customerorder", SEED_ORDER_ID)
    assert stats(client) == {
        "requests": 6,
        "in_flight": 0,
        "max_parallel": 1,
        "responses": {"200": 3, "401": 1, "429": 2},
        "rate_limited": {"1049": 2},
        "documents": {SEED_ORDER_ID: 3, OTHER_ID: 3},
    }


def test_control_calls_are_not_counted() -> None:
    client = _app().test_client()
    set_knobs(client, latency_ms=0)
    client.get("/__sandbox/faults", headers=CONTROL)
    assert stats(client)["requests"] == 0


def test_reset_zeroes_the_counters() -> None:
    client = _app().test_client()
    get_document(client, "customerorder", SEED_ORDER_ID)
    response = client.post("/__sandbox/stats/reset", headers=CONTROL)
    assert response.status_code == 200
    assert response.get_json()["requests"] == 0
    assert stats(client)["responses"] == {}
    assert stats(client)["max_parallel"] == 0
    get_document(client, "customerorder", OTHER_ID)
    assert stats(client)["documents"] == {OTHER_ID: 1}
