"""The scenario's webhook mix: seeded, at the asked rate, every kind and type present."""

import json
from collections import Counter

from bench.scenario.mix import BURST_SIZE, Expect, plan_webhooks
from shared.kladana_types import TRANSACTION_TYPES

TOKEN = "t0ken"


def plan(seed: int = 3, rate: float = 20, duration_s: float = 60):  # type: ignore[no-untyped-def]
    return plan_webhooks(seed=seed, rate=rate, duration_s=duration_s, token=TOKEN)


def test_the_same_seed_plans_the_same_requests_and_another_seed_others() -> None:
    assert plan(seed=3) == plan(seed=3)
    assert plan(seed=3) != plan(seed=4)


def test_requests_come_at_the_asked_rate_in_time_order_within_the_duration() -> None:
    requests = plan(rate=20, duration_s=60)
    assert 1150 <= len(requests) <= 1250
    times = [r.at_s for r in requests]
    assert times == sorted(times)
    assert times[0] >= 0
    assert times[-1] < 60


def test_the_mix_holds_every_kind_and_all_14_types() -> None:
    requests = plan()
    labels = Counter(r.label.split(":")[0] for r in requests)
    for label in ("new", "repeat", "burst", "native", "native-repeat", "gone", "malformed"):
        assert labels[label] > 0, label
    workflow_types = {r.params["type"] for r in requests if r.label in ("new", "burst")}
    assert workflow_types == set(TRANSACTION_TYPES.names)
    assert {r.method for r in requests if r.label == "new"} == {"GET", "POST"}


def test_repeats_name_an_earlier_document_and_native_repeats_reuse_the_request_id() -> None:
    requests = plan()
    repeats = [r for r in requests if r.label == "repeat"]
    assert repeats
    for repeat in repeats:
        assert any(
            earlier.params == repeat.params and earlier.at_s <= repeat.at_s
            for earlier in requests
            if earlier.label in ("new", "burst", "gone")
        )
    natives = {r.params["requestId"]: r for r in requests if r.label == "native"}
    for repeat in (r for r in requests if r.label == "native-repeat"):
        original = natives[repeat.params["requestId"]]
        assert repeat.body == original.body
        assert repeat.at_s > original.at_s


def test_a_burst_is_several_webhooks_for_one_document_close_together() -> None:
    bursts = [r for r in plan() if r.label == "burst"]
    by_document = Counter(r.documents[0] for r in bursts)
    assert by_document
    assert max(by_document.values()) >= BURST_SIZE


def test_malformed_requests_expect_a_refusal_and_the_rest_acceptance() -> None:
    for request in plan():
        malformed = request.label.startswith("malformed:")
        assert (request.expect is Expect.REJECT) == malformed
        if not malformed:
            assert request.params["token"] == TOKEN
            assert request.documents


def test_a_native_webhook_body_names_its_documents_in_kladana_hrefs() -> None:
    native = next(r for r in plan() if r.label == "native")
    assert native.body is not None
    events = json.loads(native.body)["events"]
    assert [e["meta"]["href"].rsplit("/", 1)[1] for e in events] == list(native.documents)
    for event in events:
        assert TRANSACTION_TYPES.by_entity(event["meta"]["type"]) is not None
