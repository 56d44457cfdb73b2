"""Provider delivery reports in the ledger, and a ledger an earlier version created, on a
SQLite file and on a PostgreSQL database."""

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, inspect, text

from notifier import ledger_schema
from notifier.ledger import DeliveryUpdate, Ledger, Notification
from notifier.ledger_schema import DeliveryStatus, Status, open_engine
from notifier.sms import idempotency_key

SID = "SM0123456789abcdef0123456789abcdef"


def _notification(document_id: str = "doc-1") -> Notification:
    return Notification(
        key=idempotency_key(document_id, "shipped", "Shipped"),
        document_id=document_id,
        rule="shipped",
        state="Shipped",
        phone="+919876543210",
        text="Order is on its way.",
    )


@pytest.fixture
def ledger(database_url: str) -> Iterator[Ledger]:
    engine = open_engine(database_url)
    try:
        ledger = Ledger(engine)
        ledger.claim(_notification())
        ledger.mark_sent(_notification().key, provider_message_id=SID, attempts=1)
        yield ledger
    finally:
        engine.dispose()


def _delivery(ledger: Ledger) -> DeliveryStatus | None:
    entry = ledger.entry(_notification().key)
    assert entry is not None
    assert entry.status is Status.SENT  # what the notifier did never changes
    return entry.delivery_status


def test_a_sent_row_has_no_delivery_status_until_the_provider_reports(ledger: Ledger) -> None:
    assert _delivery(ledger) is None
    assert ledger.record_delivery(SID, DeliveryStatus.SENT) is DeliveryUpdate.RECORDED
    assert _delivery(ledger) is DeliveryStatus.SENT


def test_reports_in_order_move_the_row_forward(ledger: Ledger) -> None:
    for status in ("queued", "sending", "sent", "delivered"):
        assert ledger.record_delivery(SID, DeliveryStatus(status)) is DeliveryUpdate.RECORDED
        assert _delivery(ledger) is DeliveryStatus(status)


@pytest.mark.parametrize("final", [DeliveryStatus.UNDELIVERED, DeliveryStatus.READ])
def test_a_late_intermediate_or_other_final_report_does_not_replace_a_final_one(
    ledger: Ledger, final: DeliveryStatus
) -> None:
    ledger.record_delivery(SID, final)
    for late in DeliveryStatus:
        assert ledger.record_delivery(SID, late) is DeliveryUpdate.STALE
    assert _delivery(ledger) is final


def test_delivered_is_replaced_by_read_alone(ledger: Ledger) -> None:
    ledger.record_delivery(SID, DeliveryStatus.DELIVERED)
    for late in ("queued", "sending", "sent", "delivered", "undelivered"):
        assert ledger.record_delivery(SID, DeliveryStatus(late)) is DeliveryUpdate.STALE
    assert ledger.record_delivery(SID, DeliveryStatus.READ) is DeliveryUpdate.RECORDED
    assert _delivery(ledger) is DeliveryStatus.READ


def test_read_before_delivered_keeps_read(ledger: Ledger) -> None:
    """WhatsApp's statuses overtake each other too."""
    assert ledger.record_delivery(SID, DeliveryStatus.READ) is DeliveryUpdate.RECORDED
    assert ledger.record_delivery(SID, DeliveryStatus.DELIVERED) is DeliveryUpdate.STALE
    assert _delivery(ledger) is DeliveryStatus.READ


def test_sent_arriving_after_delivered_keeps_delivered_and_queued_after_sent_keeps_sent(
    ledger: Ledger,
) -> None:
    ledger.record_delivery(SID, DeliveryStatus.SENT)
    assert ledger.record_delivery(SID, DeliveryStatus.QUEUED) is DeliveryUpdate.STALE
    assert _delivery(ledger) is DeliveryStatus.SENT
    assert ledger.record_delivery(SID, DeliveryStatus.SENT) is DeliveryUpdate.STALE


def test_an_undelivered_report_records_why(ledger: Ledger) -> None:
    ledger.record_delivery(SID, DeliveryStatus.UNDELIVERED, error="Twilio error 30003")
    entry = ledger.entry(_notification().key)
    assert entry is not None
    assert (entry.delivery_status, entry.last_error) == (
        DeliveryStatus.UNDELIVERED,
        "Twilio error 30003",
    )


def test_a_report_on_a_message_the_ledger_does_not_know_changes_nothing(ledger: Ledger) -> None:
    assert ledger.record_delivery("SMunknown", DeliveryStatus.DELIVERED) is (
        DeliveryUpdate.UNKNOWN_MESSAGE
    )
    assert _delivery(ledger) is None


PREVIOUS_SCHEMA = """
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
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL
)
"""
"""The table as the version before delivery reports created it."""


def _old_ledger(database_url: str, schema: str, *statements: str) -> None:
    """A ledger as an earlier version left it: ``schema`` with one sent row, 'k1', then
    ``statements`` (that version's own columns)."""
    old = create_engine(ledger_schema.database_url(database_url))
    with old.begin() as connection:
        connection.execute(text(schema))
        connection.execute(
            text(
                "INSERT INTO notifications (key, document_id, rule, state, phone, text, sender,"
                " status, provider_message_id, attempts, last_error, due_at, created_at,"
                " updated_at) VALUES ('k1', 'doc-old', 'shipped', 'Shipped', "
                "'+919876543210', 'hi', NULL, 'sent', :sid, 1, NULL, NULL, "
                "'2026-06-10 09:30:00', '2026-06-10 09:30:00')"
            ),
            {"sid": SID},
        )
        for statement in statements:
            connection.execute(text(statement))
    old.dispose()


def test_a_ledger_created_by_the_previous_version_gains_the_delivery_column(
    database_url: str,
) -> None:
    _old_ledger(database_url, PREVIOUS_SCHEMA)
    for _restart in range(2):  # the upgrade is idempotent
        engine = open_engine(database_url)
        try:
            columns = {column["name"] for column in inspect(engine).get_columns("notifications")}
            indexed = {
                tuple(index["column_names"])
                for index in inspect(engine).get_indexes("notifications")
            }
            ledger = Ledger(engine)
            old_row = ledger.entry("k1")
        finally:
            engine.dispose()
        assert "delivery_status" in columns
        assert ("provider_message_id",) in indexed
        assert old_row is not None
        assert (old_row.status, old_row.delivery_status) == (Status.SENT, None)
    engine = open_engine(database_url)
    try:
        assert Ledger(engine).record_delivery(SID, DeliveryStatus.DELIVERED) is (
            DeliveryUpdate.RECORDED
        )
    finally:
        engine.dispose()


SCHEMA_BEFORE_DLT = PREVIOUS_SCHEMA.replace(
    "updated_at TIMESTAMP WITH TIME ZONE NOT NULL",
    "updated_at TIMESTAMP WITH TIME ZONE NOT NULL,\n    delivery_status VARCHAR(16)",
)
"""The table as the version before DLT template ids created it."""


def test_a_ledger_created_before_dlt_template_ids_gains_their_column(database_url: str) -> None:
    _old_ledger(
        database_url,
        SCHEMA_BEFORE_DLT,
        "UPDATE notifications SET delivery_status = 'delivered' WHERE key = 'k1'",
    )
    registered = Notification(**{**_notification("doc-2").__dict__, "dlt_template_id": "1107"})
    for _restart in range(2):  # the upgrade is idempotent
        engine = open_engine(database_url)
        try:
            columns = {column["name"] for column in inspect(engine).get_columns("notifications")}
            ledger = Ledger(engine)
            old_row = ledger.entry("k1")
            ledger.claim(registered)
            new_row = ledger.entry(registered.key)
        finally:
            engine.dispose()
        assert "dlt_template_id" in columns
        assert old_row is not None
        assert (old_row.notification.dlt_template_id, old_row.delivery_status) == (
            None,
            DeliveryStatus.DELIVERED,
        )
        assert new_row is not None
        assert new_row.notification.dlt_template_id == "1107"
