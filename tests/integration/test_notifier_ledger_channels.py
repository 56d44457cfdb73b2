"""The ledger's channels on a SQLite file and on PostgreSQL: a ledger the SMS-only version
created gains the channel columns and keeps its rows as SMS, and instances racing to
fall back one message have exactly one winner."""

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, inspect, text

from notifier import ledger_schema
from notifier.channels import Channel, WhatsAppTemplate
from notifier.ledger import DeliveryUpdate, Ledger, LedgerEntry, Notification
from notifier.ledger_schema import DeliveryStatus, Status, open_engine

NOW = datetime(2026, 6, 10, 9, 30, tzinfo=UTC)
WAMID = "wamid.HBgLOTE5ODc2NTQzMjEwFQIAERgSQjZGOTUwRDRFNzg2MUEzN0VEAA=="
SCHEMA_BEFORE_CHANNELS = """
CREATE TABLE notifications (
    key VARCHAR(64) PRIMARY KEY,
    document_id VARCHAR(64) NOT NULL,
    rule TEXT NOT NULL,
    state TEXT NOT NULL,
    phone VARCHAR(32) NOT NULL,
    text TEXT NOT NULL,
    sender TEXT,
    status VARCHAR(16) NOT NULL,
    provider_message_id TEXT,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    due_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    delivery_status VARCHAR(16),
    dlt_template_id TEXT
)
"""
"""The table as the last SMS-only version created it."""
CHANNEL_COLUMNS = {
    "channel",
    "channels",
    "email",
    "email_subject",
    "whatsapp",
    "fallback_from",
    "fallback_reason",
    "replaced_message_id",
}


def _whatsapp_first(key: str = "k2") -> Notification:
    return Notification(
        key=key,
        document_id="doc-new",
        rule="shipped",
        state="Shipped",
        phone="+919876543210",
        text="Order 5643 is on its way.",
        channels=(Channel.WHATSAPP, Channel.SMS),
        channel=Channel.WHATSAPP,
        whatsapp=WhatsAppTemplate("order_shipped", "en", ("5643", "10.06.2024", "50,000")),
    )


def _old_ledger(database_url: str) -> None:
    """A ledger as the SMS-only version left it: one SMS, 'k1', sent as 'SM42'."""
    old = create_engine(ledger_schema.database_url(database_url))
    with old.begin() as connection:
        connection.execute(text(SCHEMA_BEFORE_CHANNELS))
        connection.execute(
            text(
                "INSERT INTO notifications (key, document_id, rule, state, phone, text, sender,"
                " status, provider_message_id, attempts, last_error, due_at, created_at,"
                " updated_at, delivery_status, dlt_template_id) VALUES ('k1', 'doc-old',"
                " 'shipped', 'Shipped', '+919876543210', 'hi', NULL, 'sent', 'SM42', 1, NULL,"
                " NULL, '2026-06-10 09:30:00', '2026-06-10 09:30:00', 'sent', '1107')"
            )
        )
    old.dispose()


def test_a_ledger_of_the_sms_only_version_gains_the_channels_and_keeps_its_rows_as_sms(
    database_url: str,
) -> None:
    _old_ledger(database_url)
    for restart in range(2):  # the upgrade is idempotent
        engine = open_engine(database_url)
        try:
            columns = {column["name"] for column in inspect(engine).get_columns("notifications")}
            indexed = {
                tuple(index["column_names"])
                for index in inspect(engine).get_indexes("notifications")
            }
            ledger = Ledger(engine, lambda: NOW)
            old_row = ledger.entry("k1")
            if restart == 0:
                assert ledger.claim(_whatsapp_first())
            new_row = ledger.entry("k2")
            assert ledger.fall_back("k1", from_channel=Channel.SMS, reason="HTTP 400") is None
        finally:
            engine.dispose()
        assert columns >= CHANNEL_COLUMNS
        assert ("replaced_message_id",) in indexed
        assert old_row is not None
        assert (old_row.notification.channel, old_row.notification.channels) == (
            Channel.SMS,
            (Channel.SMS,),
        )
        assert (old_row.status, old_row.delivery_status, old_row.fallback_from) == (
            Status.SENT,
            DeliveryStatus.SENT,
            None,
        )
        assert old_row.notification.dlt_template_id == "1107"
        assert new_row is not None
        assert new_row.notification == _whatsapp_first()
    engine = open_engine(database_url)
    try:
        ledger = Ledger(engine)
        assert ledger.record_delivery("SM42", DeliveryStatus.DELIVERED) is DeliveryUpdate.RECORDED
    finally:
        engine.dispose()


@pytest.fixture
def ledgers(database_url: str) -> Iterator[tuple[Ledger, Ledger]]:
    """Two ledgers on one database, each with its own engine, as two instances have."""
    engines = [open_engine(database_url), open_engine(database_url)]
    try:
        yield Ledger(engines[0], lambda: NOW), Ledger(engines[1], lambda: NOW)
    finally:
        for engine in engines:
            engine.dispose()


def _race(ledgers: tuple[Ledger, Ledger], provider_message_id: str | None) -> list[bool]:
    """Eight threads, half on each instance, fall the row back at once: who won."""
    won: list[bool] = []
    barrier = threading.Barrier(8)

    def fall_back(ledger: Ledger) -> None:
        barrier.wait()
        moved: LedgerEntry | None = ledger.fall_back(
            "k2",
            from_channel=Channel.WHATSAPP,
            provider_message_id=provider_message_id,
            reason="WhatsApp reported failed (Meta error 131026)",
            due_at=NOW if provider_message_id else None,
        )
        won.append(moved is not None)

    threads = [threading.Thread(target=fall_back, args=(ledgers[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won


def test_instances_racing_on_a_failed_status_move_the_message_once(
    ledgers: tuple[Ledger, Ledger],
) -> None:
    first, second = ledgers
    first.claim(_whatsapp_first())
    first.mark_sent("k2", provider_message_id=WAMID, attempts=1)
    assert sorted(_race(ledgers, WAMID)) == [False] * 7 + [True]
    (released,) = second.claim_due()
    assert (released.notification.channel, released.replaced_message_id) == (Channel.SMS, WAMID)
    assert first.claim_due() == []
    assert first.record_delivery(WAMID, DeliveryStatus.UNDELIVERED) is DeliveryUpdate.STALE


def test_racing_refusals_at_send_move_the_message_once(ledgers: tuple[Ledger, Ledger]) -> None:
    ledgers[0].claim(_whatsapp_first())
    assert sorted(_race(ledgers, None)) == [False] * 7 + [True]
    entry = ledgers[1].entry("k2")
    assert entry is not None
    assert (entry.status, entry.notification.channel, entry.fallback_from) == (
        Status.SENDING,
        Channel.SMS,
        Channel.WHATSAPP,
    )
