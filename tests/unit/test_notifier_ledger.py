"""The delivery ledger as plain calls, on a SQLite file and on a PostgreSQL database."""

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from notifier.errors import LedgerUnavailable
from notifier.ledger import Ledger, LedgerQuery, Notification, Resolution
from notifier.ledger_schema import Status, open_engine
from notifier.sms import idempotency_key

START = datetime(2026, 6, 10, 9, 30, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def notification(
    document_id: str = "doc-1",
    rule: str = "shipped",
    state: str = "Shipped",
    *,
    phone: str = "+919876543210",
) -> Notification:
    return Notification(
        key=idempotency_key(document_id, rule, state),
        document_id=document_id,
        rule=rule,
        state=state,
        phone=phone,
        text=f"{rule} {document_id}",
        sender="ACMESHOP",
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledgers(database_url: str, clock: Clock) -> Iterator[tuple[Ledger, Ledger]]:
    """Two ledgers on one database, each with its own engine, as two processes have."""
    engines = [open_engine(database_url), open_engine(database_url)]
    try:
        yield Ledger(engines[0], clock), Ledger(engines[1], clock)
    finally:
        for engine in engines:
            engine.dispose()


@pytest.fixture
def ledger(ledgers: tuple[Ledger, Ledger]) -> Ledger:
    return ledgers[0]


def test_only_the_first_claim_of_a_key_succeeds_whoever_makes_the_second(
    ledgers: tuple[Ledger, Ledger],
) -> None:
    first, second = ledgers
    assert first.claim(notification()) is True
    assert first.claim(notification()) is False
    assert second.claim(notification()) is False
    (entry,) = second.entries()
    assert entry.status is Status.SENDING
    assert entry.notification == notification()
    assert entry.attempts == 0
    assert entry.created_at == START


def test_another_rule_or_state_of_the_same_document_is_another_notification(
    ledger: Ledger,
) -> None:
    assert ledger.claim(notification())
    assert ledger.claim(notification(state="Delivered"))
    assert ledger.claim(notification(rule="thanks"))
    assert len(ledger.entries(LedgerQuery(document_id="doc-1"))) == 3


def test_concurrent_claims_of_one_key_have_exactly_one_winner(
    ledgers: tuple[Ledger, Ledger],
) -> None:
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def claim(ledger: Ledger) -> None:
        barrier.wait()
        results.append(ledger.claim(notification()))

    threads = [threading.Thread(target=claim, args=(ledgers[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]


def test_a_sent_row_keeps_the_provider_id_and_attempts(ledger: Ledger, clock: Clock) -> None:
    ledger.claim(notification())
    clock.advance(1)
    ledger.record_attempt(notification().key, attempts=1, error="HTTP 500")
    clock.advance(1)
    ledger.mark_sent(notification().key, provider_message_id="SM42", attempts=2)
    entry = ledger.entry(notification().key)
    assert entry is not None
    assert (entry.status, entry.provider_message_id, entry.attempts) == (Status.SENT, "SM42", 2)
    assert entry.last_error == "HTTP 500"  # the history of the row, kept after success
    assert entry.updated_at == START + timedelta(seconds=2)


def test_a_failed_row_keeps_the_last_error(ledger: Ledger) -> None:
    ledger.claim(notification())
    ledger.mark_failed(notification().key, error="HTTP 400 (provider code 21211)", attempts=1)
    (entry,) = ledger.entries(LedgerQuery(status=Status.FAILED))
    assert entry.last_error == "HTTP 400 (provider code 21211)"
    assert entry.attempts == 1


def test_entries_filter_by_document_phone_status_and_time(ledger: Ledger, clock: Clock) -> None:
    ledger.claim(notification("doc-1"))
    clock.advance(3600)
    ledger.claim(notification("doc-2", phone="+919800000001"))
    ledger.mark_sent(notification("doc-2").key, provider_message_id=None, attempts=1)
    clock.advance(3600)
    ledger.claim(notification("doc-3"))

    def documents(**filters: object) -> list[str]:
        query = LedgerQuery(**filters)  # type: ignore[arg-type]
        return [entry.notification.document_id for entry in ledger.entries(query)]

    assert documents() == ["doc-1", "doc-2", "doc-3"]
    assert documents(document_id="doc-2") == ["doc-2"]
    assert documents(phone="+919800000001") == ["doc-2"]
    assert documents(status=Status.SENDING) == ["doc-1", "doc-3"]
    assert documents(since=START + timedelta(hours=1)) == ["doc-2", "doc-3"]
    assert documents(until=START + timedelta(hours=1)) == ["doc-1"]
    in_kolkata = (START + timedelta(minutes=30)).astimezone(ZoneInfo("Asia/Kolkata"))
    assert documents(since=in_kolkata) == ["doc-2", "doc-3"]  # any offset, same instant


def test_stuck_rows_are_those_left_sending_longer_than_the_threshold(
    ledger: Ledger, clock: Clock
) -> None:
    ledger.claim(notification("old"))
    ledger.claim(notification("old-but-sent"))
    ledger.mark_sent(notification("old-but-sent").key, provider_message_id=None, attempts=1)
    clock.advance(600)
    ledger.claim(notification("fresh"))
    assert [e.notification.document_id for e in ledger.stuck(300)] == ["old"]
    assert [e.notification.document_id for e in ledger.stuck(0)] == ["old", "fresh"]
    assert ledger.stuck(300, LedgerQuery(document_id="fresh")) == []


def test_a_retry_in_progress_is_not_stuck(ledger: Ledger, clock: Clock) -> None:
    ledger.claim(notification())
    clock.advance(600)
    ledger.record_attempt(notification().key, attempts=1, error="timeout")
    assert ledger.stuck(300) == []


@pytest.mark.parametrize(
    ("resolution", "status"), [(Resolution.SENT, Status.SENT), (Resolution.FAILED, Status.FAILED)]
)
def test_an_operator_settles_a_stuck_row(
    ledger: Ledger, resolution: Resolution, status: Status
) -> None:
    ledger.claim(notification())
    assert ledger.resolve(notification().key, resolution) is True
    entry = ledger.entry(notification().key)
    assert entry is not None
    assert entry.status is status
    assert ledger.resolve(notification().key, resolution) is False  # no longer stuck


def test_a_row_released_for_resend_is_handed_out_once(
    ledgers: tuple[Ledger, Ledger], clock: Clock
) -> None:
    first, second = ledgers
    first.claim(notification())
    assert first.resolve(notification().key, Resolution.RESEND)
    clock.advance(1)
    (released,) = second.claim_due()
    assert released.notification == notification()
    assert released.status is Status.SENDING
    assert first.claim_due() == []
    assert second.claim_due() == []


def test_a_sent_row_cannot_be_released_but_a_failed_one_can(ledger: Ledger) -> None:
    ledger.claim(notification("sent"))
    ledger.mark_sent(notification("sent").key, provider_message_id=None, attempts=1)
    ledger.claim(notification("failed"))
    ledger.mark_failed(notification("failed").key, error="HTTP 503", attempts=3)
    assert ledger.resolve(notification("sent").key, Resolution.RESEND) is False
    assert ledger.resolve(notification("failed").key, Resolution.RESEND) is True
    assert ledger.resolve("no-such-key", Resolution.SENT) is False


def test_a_held_row_is_due_only_when_its_time_comes(ledger: Ledger, clock: Clock) -> None:
    assert ledger.claim(notification(), held_until=START + timedelta(hours=1))
    assert ledger.claim(notification(), held_until=START + timedelta(hours=1)) is False
    (held,) = ledger.entries()
    assert (held.status, held.due_at) == (Status.HELD, START + timedelta(hours=1))
    clock.advance(3599)
    assert ledger.claim_due() == []
    clock.advance(1)
    assert [entry.notification.key for entry in ledger.claim_due()] == [notification().key]


def test_a_skipped_notification_is_recorded_and_blocks_later_claims(ledger: Ledger) -> None:
    assert ledger.skip(notification(), "opted out") is True
    assert ledger.claim(notification()) is False
    (entry,) = ledger.entries()
    assert (entry.status, entry.last_error) == (Status.SKIPPED, "opted out")


def test_keys_are_found_by_a_prefix(ledger: Ledger) -> None:
    ledger.claim(notification())
    key = notification().key
    assert ledger.keys_starting_with(key[:8]) == [key]
    assert ledger.keys_starting_with("%") == []  # a LIKE wildcard is taken literally


def test_the_schema_is_created_once_and_data_survives_a_restart(database_url: str) -> None:
    engine = open_engine(database_url)
    Ledger(engine).claim(notification())
    engine.dispose()
    restarted = open_engine(database_url)  # create_all again: must keep the row
    try:
        assert Ledger(restarted).claim(notification()) is False
    finally:
        restarted.dispose()


def test_an_unreachable_database_is_a_retriable_error_that_hides_the_password() -> None:
    with pytest.raises(LedgerUnavailable) as raised:
        open_engine("postgresql://user:secret@127.0.0.1:1/ledger")
    assert raised.value.retriable
    assert "secret" not in str(raised.value)
    assert "127.0.0.1:1/ledger" in str(raised.value)
