"""The scenario's webhook mix: seeded, at the asked rate, every kind and type present, and
every document it names made up by the runner, with the SMS it must cause declared."""

import json
from collections import Counter

from bench.scenario.mix import (
    BURST_SIZE,
    OTHER_ENTITY,
    Expect,
    Plan,
    PlannedRequest,
    plan_webhooks,
)
from shared.kladana_types import TRANSACTION_TYPES

TOKEN = "t0ken"


def full_plan(seed: int = 3, rate: float = 20, duration_s: float = 60) -> Plan:
    return plan_webhooks(seed=seed, rate=rate, duration_s=duration_s, token=TOKEN)


def plan(seed: int = 3, rate: float = 20, duration_s: float = 60) -> list[PlannedRequest]:
    return full_plan(seed, rate, duration_s).requests


def test_the_same_seed_plans_the_same_requests_and_another_seed_others() -> None:
    assert full_plan(seed=3) == full_plan(seed=3)
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
    natives = [r for r in plan() if r.label == "native"]
    mixed = 0
    for native in natives:
        assert native.body is not None
        events = json.loads(native.body)["events"]
        known = [e for e in events if TRANSACTION_TYPES.by_entity(e["meta"]["type"])]
        assert [e["meta"]["href"].rsplit("/", 1)[1] for e in known] == list(native.documents)
        others = [e["meta"]["type"] for e in events if e not in known]
        assert others in ([], [OTHER_ENTITY])
        mixed += bool(others)
    # Some deliveries also hold an event ingest skips; their documents must still arrive.
    assert 0 < mixed < len(natives)


def test_every_document_a_request_names_is_planned_with_its_type_but_unknown_ids() -> None:
    whole = full_plan()
    unknown = set()
    for request in whole.requests:
        for document_id in request.documents:
            document = whole.documents.get(document_id)
            if document is None:
                unknown.add(document_id)
            elif "type" in request.params:
                assert request.params["type"] == document.type
    # Only ids that are no UUID (Kladana answers 404) are left to the sandbox's refusal.
    assert unknown
    assert all(document_id.startswith("gone-") for document_id in unknown)
    assert whole.documents.keys() == {d for r in whole.requests for d in r.documents} - unknown
    assert whole.sms.keys() == whole.documents.keys()


def test_the_declared_sms_go_to_the_documents_own_numbers_one_number_per_document() -> None:
    whole = full_plan()
    numbers = [d.mobile for d in whole.documents.values() if d.mobile is not None]
    assert len(numbers) == len(set(numbers))
    declared = [sms for document_sms in whole.sms.values() for sms in document_sms]
    assert len(declared) > 200
    for sms in declared:
        document = whole.documents[sms.document_id]
        assert sms.to == document.mobile
        assert document.number in sms.text
        assert not document.opted_out


def test_the_documents_vary_every_fact_an_sms_depends_on() -> None:
    documents = list(full_plan().documents.values())
    sms_counts = Counter(len(sms) for sms in full_plan().sms.values())
    assert set(sms_counts) == {0, 1, 2}  # no SMS, one, and a big shipped order's two
    assert any(d.phone is None for d in documents)
    assert any(d.phone is not None and d.mobile is None for d in documents)  # a landline
    assert {d.opt_out for d in documents} == {None, True, False, "Yes", "no"}
    assert any(d.state.islower() for d in documents)
    assert any(d.state == "Cancelled" for d in documents)
    assert any(d.sum_paise == 100_000_00 for d in documents)
    assert any(d.sum_paise % 100 for d in documents)
    assert any(d.number.startswith("0") for d in documents)
    # Late on a Moscow evening it is the next day in Kolkata, where the SMS shows the date.
    assert any(d.moment.hour * 60 + d.moment.minute >= 21 * 60 + 30 for d in documents)
