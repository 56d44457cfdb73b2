"""The scenario's reconciliation on hand-made inputs: every loss and duplicate is found,
stuck rows are told apart from losses, and the expected SMS come from the rules."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench.scenario.driver import Outcome
from bench.scenario.expectations import Expectations, ExpectedSms, expected_sms
from bench.scenario.mix import Expect, PlannedRequest
from bench.scenario.observe import ledger_pending, ledger_statuses
from bench.scenario.provider import ProviderRequest
from bench.scenario.reconcile import DeadLetter, Ledger, reconcile, short_reason
from bench.scenario.report import latency
from notifier.ledger_schema import notifications, open_engine, transaction
from notifier.rules import RuleSet
from notifier.sms import idempotency_key
from shared.events import DOCUMENT_UNAVAILABLE, ENRICHED_DOCUMENT, RAW_WEBHOOK
from tests.helpers import seed_document


def request(label: str = "new", expect: Expect = Expect.ACCEPT, doc: str = "d1") -> PlannedRequest:
    return PlannedRequest(0.0, label, "POST", {"id": doc}, None, expect, (doc,))


def accepted(*event_ids: str, doc: str = "d1", at: float = 100.0) -> Outcome:
    status = 202 if len(event_ids) == 1 else 200
    return Outcome(request(doc=doc), at, status, None, event_ids)


def raw(event_id: str) -> dict[str, Any]:
    return {"id": event_id, "type": RAW_WEBHOOK.type}


def enriched(raw_event_id: str, kind: str = ENRICHED_DOCUMENT.type) -> dict[str, Any]:
    return {"id": f"e-{raw_event_id}", "type": kind, "data": {"raw_event_id": raw_event_id}}


def expecting(*keys: str) -> Expectations:
    return Expectations(sms={k: ExpectedSms(k, f"doc-{k}", "rule", "Shipped") for k in keys})


def sms(key: str, status: int = 200, at: float = 101.0) -> ProviderRequest:
    return ProviderRequest(key, at, status)


def run(**changes: Any) -> Ledger:
    inputs: dict[str, Any] = {
        "outcomes": [accepted("r1"), accepted("r2", "r3")],
        "raw": [raw("r1"), raw("r2"), raw("r3"), raw("r1")],
        "enriched": [enriched("r1"), enriched("r2"), enriched("r3", DOCUMENT_UNAVAILABLE.type)],
        "dead_letters": [],
        "provider": [sms("k1"), sms("k2")],
        "ledger_rows": {"k1": "sent", "k2": "sent"},
        "expectations": expecting("k1", "k2"),
    }
    inputs.update(changes)
    return reconcile(**inputs)


def test_a_clean_run_balances_and_passes() -> None:
    ledger = run()
    assert ledger.ok
    assert (ledger.accepted_requests, ledger.accepted_events) == (2, 3)
    assert (ledger.raw_events, ledger.raw_records) == (3, 4)  # a repeat is no loss
    assert (ledger.enriched, ledger.unavailable) == (2, 1)
    assert (ledger.sms_expected, ledger.sms_sent, ledger.sms_duplicates) == (2, 2, 0)


def test_an_accepted_event_missing_from_the_raw_topic_is_a_loss() -> None:
    ledger = run(raw=[raw("r1"), raw("r3")])
    assert ledger.raw_missing == ["r2"]
    assert not ledger.ok


def test_a_raw_event_neither_enriched_nor_dead_lettered_is_a_loss_but_a_dead_letter_covers_it() -> (
    None
):
    lost = run(enriched=[enriched("r1"), enriched("r3")])
    assert lost.enrich_missing == ["r2"]
    assert not lost.ok
    letter = DeadLetter(
        raw("r2"),
        {"dlq.reason": "Kladana answered 404 for move/x: gone", "dlq.error": "DocumentNotFound"},
    )
    covered = run(enriched=[enriched("r1"), enriched("r3")], dead_letters=[letter])
    assert covered.ok
    assert covered.dead_lettered == {"DocumentNotFound (HTTP 404)": 1}


def test_a_second_sms_for_one_key_is_a_duplicate_and_fails_the_run() -> None:
    ledger = run(provider=[sms("k1"), sms("k2"), sms("k1", at=102.0)])
    assert ledger.sms_duplicates == 1
    assert ledger.duplicate_keys == ["k1"]
    assert not ledger.ok


def test_a_503_answered_during_an_outage_is_not_an_sms() -> None:
    ledger = run(provider=[sms("k1", status=503), sms("k1"), sms("k2")])
    assert ledger.ok
    assert ledger.provider_refused == 1
    assert ledger.sms_duplicates == 0


def test_an_sms_no_rule_asked_for_fails_the_run() -> None:
    ledger = run(provider=[sms("k1"), sms("k2"), sms("k9")])
    assert ledger.sms_unexpected == ["k9"]
    assert not ledger.ok


def test_a_row_left_sending_without_an_sms_is_stuck_not_missing() -> None:
    ledger = run(provider=[sms("k1")], ledger_rows={"k1": "sent", "k2": "sending"})
    assert ledger.sms_stuck == ["k2"]
    assert ledger.sms_missing == {}
    assert ledger.ok


def test_a_failed_row_or_no_row_without_an_sms_is_a_loss_not_stuck() -> None:
    failed = run(provider=[sms("k1")], ledger_rows={"k1": "sent", "k2": "failed"})
    assert failed.sms_missing == {"k2": "failed"}
    assert failed.sms_stuck == []
    assert not failed.ok
    absent = run(provider=[sms("k1")], ledger_rows={"k1": "sent"})
    assert absent.sms_missing == {"k2": "none"}
    assert not absent.ok
    # The ledger claims it went out, but the provider never got it: a loss as well.
    claimed = run(provider=[sms("k1")], ledger_rows={"k1": "sent", "k2": "sent"})
    assert claimed.sms_missing == {"k2": "sent"}
    assert not claimed.ok


def test_an_sms_delivered_whose_row_still_says_sending_is_counted_apart() -> None:
    ledger = run(ledger_rows={"k1": "sending", "k2": "sent"})
    assert ledger.ok
    assert ledger.stuck_delivered == 1
    assert ledger.sms_stuck == []


def test_answers_are_counted_by_kind() -> None:
    outcomes = [
        accepted("r1"),
        Outcome(request("malformed:invalid_type", Expect.REJECT), 1.0, 400, "invalid_type"),
        Outcome(request("malformed:no_token", Expect.REJECT), 1.0, 401, "unauthorized"),
        Outcome(request(), 1.0, None, "ConnectionError"),
        Outcome(request(), 1.0, 400, "invalid_id"),  # a good webhook refused
        Outcome(request("malformed:method", Expect.REJECT), 1.0, 202, None, ("r2",)),
    ]
    ledger = run(outcomes=outcomes)
    assert ledger.rejected == {"400 invalid_type": 1, "401 unauthorized": 1}
    assert ledger.unanswered == {"no answer ConnectionError": 1}
    assert (ledger.wrongly_rejected, ledger.wrongly_accepted) == (1, 1)
    assert not ledger.ok


def test_dead_letter_reasons_group_without_ids() -> None:
    assert short_reason({"dlq.error": "ValueError", "dlq.reason": "bad"}) == "ValueError"
    assert short_reason({}) == "?"


def test_expected_sms_follow_the_rules_once_per_document_rule_and_state() -> None:
    rules = RuleSet.load(None)  # the bundled rule: CustomerOrder entering Shipped
    shipped = seed_document()
    expectations = expected_sms(
        [shipped, shipped, seed_document(state="New"), seed_document(type="Move")], rules, "IN"
    )
    key = idempotency_key(shipped["id"], "sales-order-shipped", "Shipped")
    assert list(expectations.sms) == [key]
    no_phone = seed_document(agent={"id": "a", "name": "X", "phone": None, "email": None})
    assert expected_sms([no_phone], rules, "IN").no_phone == 1
    incomplete = seed_document(number=None)
    assert expected_sms([incomplete], rules, "IN").incomplete_documents == {shipped["id"]}


def test_latency_runs_from_the_first_accepted_webhook_of_the_document_to_the_sms() -> None:
    outcomes = [accepted("r1", doc="doc-k1", at=100.0), accepted("r2", doc="doc-k1", at=103.0)]
    provider = [sms("k1", at=102.5), sms("k1", at=109.0), sms("k2", status=503, at=101.0)]
    measured = latency(outcomes, provider, expecting("k1", "k2").sms)
    assert measured.count == 1
    assert measured.p50_s == measured.max_s == 2.5


def _ledger_with(path: Path, rows: list[tuple[str, str, datetime]]) -> None:
    engine = open_engine(f"sqlite:///{path}")
    try:
        with transaction(engine) as connection:
            for key, status, updated in rows:
                connection.execute(
                    insert(notifications).values(
                        key=key,
                        document_id="d",
                        rule="r",
                        state="s",
                        phone="+919800000000",
                        text="t",
                        status=status,
                        attempts=1,
                        created_at=updated,
                        updated_at=updated,
                    )
                )
    finally:
        engine.dispose()


def test_the_ledger_is_quiet_once_no_row_is_held_or_freshly_sending(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    database = tmp_path / "ledger.db"
    _ledger_with(
        database,
        [
            ("sent", "sent", now),
            ("failed", "failed", now),
            ("live", "sending", now),  # a send still being retried
            ("stuck", "sending", now - timedelta(minutes=5)),  # a killed notifier's claim
            ("held", "held", now - timedelta(minutes=5)),
        ],
    )
    assert ledger_pending(database, alive_s=15) == 2
    assert ledger_statuses(database)["stuck"] == "sending"
    assert ledger_pending(tmp_path / "absent.db") == 0
