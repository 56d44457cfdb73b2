"""A message's channels in the ledger: each field kept, and the one fallback a row may make,
at send or from a provider's status, with exactly one winner (a SQLite file; the same on
PostgreSQL in tests/integration/test_notifier_ledger_channels.py)."""

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifier.channels import Channel, WhatsAppTemplate
from notifier.ledger import DeliveryUpdate, Ledger, LedgerEntry, Notification
from notifier.ledger_schema import DeliveryStatus, Status, open_engine

NOW = datetime(2026, 6, 10, 9, 30, tzinfo=UTC)
WAMID = "wamid.HBgLOTE5ODc2NTQzMjEwFQIAERgSQjZGOTUwRDRFNzg2MUEzN0VEAA=="
FAILED = "WhatsApp reported failed (Meta error 131026)"
TEMPLATE = WhatsAppTemplate("order_shipped", "en", ("5643", "10.06.2024", "50,000"))


def _notification(
    channels: tuple[Channel, ...] = (Channel.WHATSAPP, Channel.SMS, Channel.EMAIL),
) -> Notification:
    return Notification(
        key="a" * 64,
        document_id="doc-1",
        rule="shipped",
        state="Shipped",
        phone="+919876543210",
        text="Order 5643 is on its way.",
        channels=channels,
        channel=channels[0],
        email="ravi.kumar@example.in",
        email_subject="Order 5643 shipped",
        whatsapp=TEMPLATE,
    )


@pytest.fixture
def ledgers(tmp_path: Path) -> Iterator[tuple[Ledger, Ledger]]:
    """Two ledgers on one file, each with its own engine, as two instances have."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engines = [open_engine(url), open_engine(url)]
    try:
        yield Ledger(engines[0], lambda: NOW), Ledger(engines[1], lambda: NOW)
    finally:
        for engine in engines:
            engine.dispose()


@pytest.fixture
def ledger(ledgers: tuple[Ledger, Ledger]) -> Ledger:
    return ledgers[0]


def _entry(ledger: Ledger) -> LedgerEntry:
    entry = ledger.entry("a" * 64)
    assert entry is not None
    return entry


def _sent_on_whatsapp(ledger: Ledger, notification: Notification | None = None) -> None:
    ledger.claim(notification or _notification())
    ledger.mark_sent("a" * 64, provider_message_id=WAMID, attempts=1)


def test_every_channel_field_is_kept_and_an_email_row_may_have_no_phone(ledger: Ledger) -> None:
    ledger.claim(_notification())
    assert _entry(ledger).notification == _notification()
    emailed = Notification(
        key="b" * 64,
        document_id="doc-2",
        rule="shipped",
        state="Shipped",
        phone=None,
        text="Order 5644 is on its way.",
        channels=(Channel.EMAIL,),
        channel=Channel.EMAIL,
        email="ravi.kumar@example.in",
        email_subject="Order 5644 shipped",
    )
    ledger.claim(emailed)
    entry = ledger.entry("b" * 64)
    assert entry is not None
    assert entry.notification == emailed
    assert (entry.fallback_from, entry.fallback_reason) == (None, None)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"channel": Channel.EMAIL, "channels": (Channel.SMS,)}, "channel email is not one of"),
        (
            {"channel": Channel.WHATSAPP, "channels": (Channel.WHATSAPP,), "whatsapp": None},
            "a notification on whatsapp lacks",
        ),
        ({"channel": Channel.SMS, "channels": (Channel.SMS,), "phone": None}, "on sms lacks"),
        (
            {"channel": Channel.EMAIL, "channels": (Channel.EMAIL,), "email_subject": None},
            "on email lacks",
        ),
    ],
)
def test_a_notification_lacking_what_one_of_its_channels_needs_is_not_made(
    fields: dict[str, object], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        Notification(**{**_notification().__dict__, **fields})


def test_a_refusal_at_send_moves_the_row_to_the_next_channel_once(ledger: Ledger) -> None:
    ledger.claim(_notification())
    ledger.record_attempt("a" * 64, attempts=1, error="WhatsApp throttled the message")
    moved = ledger.fall_back(
        "a" * 64, from_channel=Channel.WHATSAPP, reason="WhatsApp refused the message"
    )
    assert moved is not None
    assert moved == _entry(ledger)
    assert moved.notification.channel is Channel.SMS
    assert (moved.status, moved.attempts, moved.last_error, moved.due_at) == (
        Status.SENDING,
        0,
        None,
        None,
    )
    assert (moved.fallback_from, moved.fallback_reason, moved.replaced_message_id) == (
        Channel.WHATSAPP,
        "WhatsApp refused the message",
        None,
    )
    # SMS refusing it too: no second fallback, though email is next in line.
    assert ledger.fall_back("a" * 64, from_channel=Channel.SMS, reason="HTTP 400") is None
    assert _entry(ledger).notification.channel is Channel.SMS


def test_the_last_channel_has_nothing_to_fall_back_to(ledger: Ledger) -> None:
    ledger.claim(_notification(channels=(Channel.WHATSAPP,)))
    assert ledger.fall_back("a" * 64, from_channel=Channel.WHATSAPP, reason="refused") is None
    assert ledger.fall_back("no-such-key", from_channel=Channel.WHATSAPP, reason="x") is None
    entry = _entry(ledger)
    assert (entry.status, entry.notification.channel, entry.fallback_from) == (
        Status.SENDING,
        Channel.WHATSAPP,
        None,
    )


def test_a_failed_status_holds_the_row_for_the_next_channel_and_a_repeat_changes_nothing(
    ledgers: tuple[Ledger, Ledger],
) -> None:
    first, second = ledgers
    _sent_on_whatsapp(first)
    first.record_delivery(WAMID, DeliveryStatus.SENT)
    due = NOW + timedelta(hours=1)
    moved = first.fall_back(
        "a" * 64,
        from_channel=Channel.WHATSAPP,
        provider_message_id=WAMID,
        reason=FAILED,
        due_at=due,
    )
    assert moved is not None
    assert (moved.status, moved.due_at, moved.notification.channel) == (
        Status.HELD,
        due,
        Channel.SMS,
    )
    assert (moved.provider_message_id, moved.replaced_message_id, moved.delivery_status) == (
        None,
        WAMID,
        None,
    )
    # The same status again, at another instance, or after a restart:
    for ledger in (first, second):
        again = ledger.fall_back(
            "a" * 64,
            from_channel=Channel.WHATSAPP,
            provider_message_id=WAMID,
            reason=FAILED,
            due_at=NOW,
        )
        assert again is None
        assert ledger.record_delivery(WAMID, DeliveryStatus.UNDELIVERED, error=FAILED) is (
            DeliveryUpdate.STALE
        )
        assert ledger.record_delivery(WAMID, DeliveryStatus.DELIVERED) is DeliveryUpdate.STALE
    assert first.entry_by_message_id(WAMID) is None
    assert _entry(second) == moved


def test_a_status_falls_back_only_a_sent_message_with_its_id_on_that_channel(
    ledger: Ledger,
) -> None:
    ledger.claim(_notification())  # sending: the answer not recorded yet

    def from_status(message_id: str = WAMID) -> LedgerEntry | None:
        return ledger.fall_back(
            "a" * 64,
            from_channel=Channel.WHATSAPP,
            provider_message_id=message_id,
            reason=FAILED,
            due_at=NOW,
        )

    assert from_status() is None
    ledger.mark_sent("a" * 64, provider_message_id=WAMID, attempts=1)
    assert from_status("wamid.another") is None
    assert ledger.fall_back("a" * 64, from_channel=Channel.WHATSAPP, reason="at send") is None
    assert ledger.fall_back("a" * 64, from_channel=Channel.SMS, reason=FAILED) is None
    assert _entry(ledger).status is Status.SENT
    assert from_status() is not None


@pytest.mark.parametrize("reported", [DeliveryStatus.DELIVERED, DeliveryStatus.READ])
def test_a_message_reported_delivered_never_falls_back(
    ledger: Ledger, reported: DeliveryStatus
) -> None:
    _sent_on_whatsapp(ledger)
    ledger.record_delivery(WAMID, reported)
    moved = ledger.fall_back(
        "a" * 64, from_channel=Channel.WHATSAPP, provider_message_id=WAMID, reason=FAILED
    )
    assert moved is None
    assert _entry(ledger).delivery_status is reported


def test_the_next_channels_report_is_recorded_on_the_row_and_the_old_ones_are_stale(
    ledger: Ledger,
) -> None:
    _sent_on_whatsapp(ledger)
    ledger.fall_back(
        "a" * 64, from_channel=Channel.WHATSAPP, provider_message_id=WAMID, reason=FAILED
    )
    ledger.mark_sent("a" * 64, provider_message_id="SM42", attempts=1)
    assert ledger.record_delivery("SM42", DeliveryStatus.DELIVERED) is DeliveryUpdate.RECORDED
    assert ledger.record_delivery(WAMID, DeliveryStatus.READ) is DeliveryUpdate.STALE
    entry = _entry(ledger)
    assert (entry.provider_message_id, entry.delivery_status) == ("SM42", DeliveryStatus.DELIVERED)
    assert ledger.entry_by_message_id("SM42") == entry


def test_concurrent_fallbacks_of_one_failed_message_have_exactly_one_winner(
    ledgers: tuple[Ledger, Ledger],
) -> None:
    _sent_on_whatsapp(ledgers[0])
    results: list[LedgerEntry | None] = []
    barrier = threading.Barrier(8)

    def fall_back(ledger: Ledger) -> None:
        barrier.wait()
        results.append(
            ledger.fall_back(
                "a" * 64,
                from_channel=Channel.WHATSAPP,
                provider_message_id=WAMID,
                reason=FAILED,
                due_at=NOW,
            )
        )

    threads = [threading.Thread(target=fall_back, args=(ledgers[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(result is not None for result in results) == 1
    assert len(ledgers[1].claim_due()) == 1
    assert ledgers[0].claim_due() == []
