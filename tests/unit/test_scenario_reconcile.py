"""The scenario's reconciliation on hand-made inputs: every loss, duplicate, wrong text and
wrong number is found, and stuck rows are told apart from losses."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench.scenario.__main__ import ledger_rows
from bench.scenario.driver import Outcome
from bench.scenario.expectations import ExpectedSms
from bench.scenario.mix import Expect, PlannedRequest
from bench.scenario.observe import ledger_pending
from bench.scenario.provider import ProviderRequest
from bench.scenario.reconcile import DeadLetter, Reconciliation, reconcile, short_reason
from bench.scenario.report import latency
from notifier.ledger_schema import notifications, open_engine, transaction
from shared.events import DOCUMENT_UNAVAILABLE, ENRICHED_DOCUMENT, RAW_WEBHOOK

# Two documents, each declared to cause one SMS; d3 is declared to cause none.
ORDER = ExpectedSms("d1", "sales-order-shipped", "+919812345678", "Sales Order 00042 shipped.")
PAYMENT = ExpectedSms("d2", "payment-received", "+919900011122", "Payment 7 of 1,500 rupees.")
DECLARED: dict[str, tuple[ExpectedSms, ...]] = {"d1": (ORDER,), "d2": (PAYMENT,), "d3": ()}


def request(label: str = "new", expect: Expect = Expect.ACCEPT, doc: str = "d1") -> PlannedRequest:
    return PlannedRequest(0.0, label, "POST", {"id": doc}, None, expect, (doc,))


def accepted(*event_ids: str, doc: str = "d1", at: float = 100.0) -> Outcome:
    status = 202 if len(event_ids) == 1 else 200
    return Outcome(request(doc=doc), at, status, None, event_ids)


def raw(event_id: str) -> dict[str, Any]:
    return {"id": event_id, "type": RAW_WEBHOOK.type}


def enriched(raw_event_id: str, document_id: str) -> dict[str, Any]:
    data = {"raw_event_id": raw_event_id, "document": {"id": document_id}}
    return {"id": f"e-{raw_event_id}", "type": ENRICHED_DOCUMENT.type, "data": data}


def unavailable(raw_event_id: str) -> dict[str, Any]:
    data = {"raw_event_id": raw_event_id}
    return {"id": f"u-{raw_event_id}", "type": DOCUMENT_UNAVAILABLE.type, "data": data}


def received(sms: ExpectedSms, status: int = 200, at: float = 101.0) -> ProviderRequest:
    return ProviderRequest(sms.to, sms.text, at, status)


def run(**changes: Any) -> Reconciliation:
    inputs: dict[str, Any] = {
        "outcomes": [accepted("r1"), accepted("r2", "r3", doc="d2")],
        "raw": [raw("r1"), raw("r2"), raw("r3"), raw("r1")],
        "enriched": [enriched("r1", "d1"), enriched("r2", "d2"), unavailable("r3")],
        "dead_letters": [],
        "provider": [received(ORDER), received(PAYMENT)],
        "ledger_rows": {("d1", ORDER.rule): "sent", ("d2", PAYMENT.rule): "sent"},
        "declared": DECLARED,
    }
    inputs.update(changes)
    return reconcile(**inputs)


def test_a_clean_run_balances_and_passes() -> None:
    result = run()
    assert result.ok
    assert (result.accepted_requests, result.accepted_events) == (2, 3)
    assert (result.raw_events, result.raw_records) == (3, 4)  # a repeat is no loss
    assert (result.enriched, result.unavailable) == (2, 1)
    assert (result.sms_expected, result.sms_sent, result.sms_duplicates) == (2, 2, 0)


def test_an_accepted_event_missing_from_the_raw_topic_is_a_loss() -> None:
    result = run(raw=[raw("r1"), raw("r3")])
    assert result.raw_missing == ["r2"]
    assert not result.ok


def test_a_raw_event_neither_enriched_nor_dead_lettered_is_a_loss_but_a_dead_letter_covers_it() -> (
    None
):
    # d2 never reached the notifier, so its SMS is not owed: the raw event is what is lost.
    lost = run(enriched=[enriched("r1", "d1"), unavailable("r3")], provider=[received(ORDER)])
    assert lost.enrich_missing == ["r2"]
    assert lost.sms_missing == {}
    assert not lost.ok
    letter = DeadLetter(
        raw("r2"),
        {"dlq.reason": "Kladana answered 404 for move/x: gone", "dlq.error": "DocumentNotFound"},
    )
    covered = run(
        enriched=[enriched("r1", "d1"), unavailable("r3")],
        dead_letters=[letter],
        provider=[received(ORDER)],
    )
    assert covered.ok
    assert covered.dead_lettered == {"DocumentNotFound (HTTP 404)": 1}
    assert covered.sms_expected == 1


def test_an_sms_received_twice_is_a_duplicate_and_fails_the_run() -> None:
    result = run(provider=[received(ORDER), received(PAYMENT), received(ORDER, at=102.0)])
    assert result.sms_duplicates == 1
    assert result.duplicated == ["d1 sales-order-shipped"]
    assert result.sms_sent == 2
    assert not result.ok


def test_an_sms_never_received_is_missing_and_fails_the_run() -> None:
    result = run(provider=[received(ORDER)], ledger_rows={})
    assert result.sms_missing == {"d2 payment-received": "none"}
    assert result.sms_sent == 1
    assert not result.ok


def test_an_sms_with_a_wrong_text_is_both_missing_and_unexpected() -> None:
    wrong = ProviderRequest(ORDER.to, "Sales Order 42 shipped.", 101.0, 200)
    result = run(provider=[wrong, received(PAYMENT)])
    assert result.sms_missing == {"d1 sales-order-shipped": "sent"}
    assert result.sms_unexpected == ["*********5678: Sales Order 42 shipped."]
    assert not result.ok


def test_an_sms_to_a_wrong_number_is_both_missing_and_unexpected() -> None:
    wrong = ProviderRequest("+91981234567", ORDER.text, 101.0, 200)  # a digit dropped
    result = run(provider=[wrong, received(PAYMENT)])
    assert result.sms_missing == {"d1 sales-order-shipped": "sent"}
    assert result.sms_unexpected == [f"********4567: {ORDER.text}"]
    assert not result.ok


def test_an_sms_for_a_document_that_must_cause_none_is_unexpected() -> None:
    silent = ProviderRequest("+919700000003", "Transfer 9 is now Shipped.", 101.0, 200)
    result = run(
        enriched=[enriched("r1", "d1"), enriched("r2", "d2"), enriched("r3", "d3")],
        provider=[received(ORDER), received(PAYMENT), silent, silent],
    )
    assert result.sms_unexpected == ["*********0003: Transfer 9 is now Shipped. (2 times)"]
    assert not result.ok


def test_a_503_answered_during_an_outage_is_not_an_sms() -> None:
    result = run(provider=[received(ORDER, status=503), received(ORDER), received(PAYMENT)])
    assert result.ok
    assert result.provider_refused == 1
    assert result.sms_duplicates == 0


def test_a_row_left_sending_without_an_sms_is_stuck_not_missing() -> None:
    rows = {("d1", ORDER.rule): "sent", ("d2", PAYMENT.rule): "sending"}
    result = run(provider=[received(ORDER)], ledger_rows=rows)
    assert result.sms_stuck == ["d2 payment-received"]
    assert result.sms_missing == {}
    assert result.ok


def test_a_failed_row_or_no_row_without_an_sms_is_a_loss_not_stuck() -> None:
    failed = run(
        provider=[received(ORDER)],
        ledger_rows={("d1", ORDER.rule): "sent", ("d2", PAYMENT.rule): "failed"},
    )
    assert failed.sms_missing == {"d2 payment-received": "failed"}
    assert failed.sms_stuck == []
    assert not failed.ok
    # A row of another rule of the document does not stand for this one.
    other_rule = run(provider=[received(ORDER)], ledger_rows={("d2", "sales-order-big"): "sending"})
    assert other_rule.sms_missing == {"d2 payment-received": "none"}
    assert not other_rule.ok
    # The ledger claims it went out, but the provider never got it: a loss as well.
    claimed = run(
        provider=[received(ORDER)],
        ledger_rows={("d1", ORDER.rule): "sent", ("d2", PAYMENT.rule): "sent"},
    )
    assert claimed.sms_missing == {"d2 payment-received": "sent"}
    assert not claimed.ok


def test_an_sms_delivered_whose_row_still_says_sending_is_counted_apart() -> None:
    result = run(ledger_rows={("d1", ORDER.rule): "sending", ("d2", PAYMENT.rule): "sent"})
    assert result.ok
    assert result.stuck_delivered == 1
    assert result.sms_stuck == []


def test_answers_are_counted_by_kind() -> None:
    outcomes = [
        accepted("r1"),
        Outcome(request("malformed:invalid_type", Expect.REJECT), 1.0, 400, "invalid_type"),
        Outcome(request("malformed:no_token", Expect.REJECT), 1.0, 401, "unauthorized"),
        Outcome(request(), 1.0, None, "ConnectionError"),
        Outcome(request(), 1.0, 400, "invalid_id"),  # a good webhook refused
        Outcome(request("malformed:method", Expect.REJECT), 1.0, 202, None, ("r2",)),
    ]
    result = run(outcomes=outcomes)
    assert result.rejected == {"400 invalid_type": 1, "401 unauthorized": 1}
    assert result.unanswered == {"no answer ConnectionError": 1}
    assert (result.wrongly_rejected, result.wrongly_accepted) == (1, 1)
    assert not result.ok


def test_dead_letter_reasons_group_without_ids() -> None:
    assert short_reason({"dlq.error": "ValueError", "dlq.reason": "bad"}) == "ValueError"
    assert short_reason({}) == "?"


def test_latency_runs_from_the_first_accepted_webhook_of_the_document_to_the_sms() -> None:
    outcomes = [accepted("r1", doc="d1", at=100.0), accepted("r2", doc="d1", at=103.0)]
    provider = [
        received(ORDER, at=102.5),
        received(ORDER, at=109.0),
        received(PAYMENT, status=503, at=101.0),
    ]
    measured = latency(outcomes, provider, [ORDER, PAYMENT])
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
                        document_id=f"doc-{key}",
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
    assert ledger_pending(tmp_path / "absent.db") == 0
    rows = ledger_rows(database)
    assert rows[("doc-stuck", "r")] == "sending"
    assert rows[("doc-sent", "r")] == "sent"
    assert len(rows) == 5
