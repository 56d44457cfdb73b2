"""The delivery ledger's tables and how to reach its database (SQLite or PostgreSQL).

Written with SQLAlchemy Core, so one definition serves both databases. The schema is
created at start-up when missing; an existing one gets only what later versions added
(:data:`ADDED_COLUMNS`, missing indexes), nothing else in it is changed.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Dialect,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.types import TypeDecorator

from notifier.errors import LedgerUnavailable

SQLITE_BUSY_TIMEOUT_S = 30
"""How long a writer waits for another process's lock on the SQLite file."""


class Status(StrEnum):
    SENDING = "sending"
    """Claimed; the provider is being called (or its caller died: a stuck row)."""
    SENT = "sent"
    FAILED = "failed"
    HELD = "held"
    """Waiting for ``due_at``: quiet hours, released by an operator for re-send, or moved
    to its next channel by a provider's status."""
    SKIPPED = "skipped"
    """Not sent on purpose (the customer opted out); ``last_error`` says why."""
    REFUSED = "refused"
    """Not sent because the carriers would not deliver it (a DLT variable longer than TRAI
    allows) or it is longer than its rule allows; ``last_error`` says which."""


class DeliveryStatus(StrEnum):
    """What the provider last reported about a message it accepted (SMS providers' and
    WhatsApp's status reports): beside :class:`Status`, which says what the notifier did."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    """Handed to the carrier."""
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    """The carrier could not deliver it, or the provider gave up (Twilio's ``failed``)."""
    READ = "read"
    """Opened by the recipient (WhatsApp, for users with read receipts on)."""

    def supersedes(self) -> tuple["DeliveryStatus", ...]:
        """The statuses this one may replace: reports arrive out of order, undelivered is
        never replaced, and delivered only by read."""
        return tuple(
            status
            for status in DeliveryStatus
            if _STAGE[status] < _STAGE[self] and status is not DeliveryStatus.UNDELIVERED
        )


_STAGE = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENDING: 1,
    DeliveryStatus.SENT: 2,
    DeliveryStatus.DELIVERED: 3,
    DeliveryStatus.UNDELIVERED: 3,
    DeliveryStatus.READ: 4,
}


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on both databases.

    SQLite has no time zones: UTC is stored without an offset, so stored values sort
    and compare as text in time order.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the ledger stores aware datetimes only")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

notifications = Table(
    "notifications",
    metadata,
    # sha256 of (document id, rule, state): the primary key is what makes a second
    # claim of the same business event fail, whichever process or restart tries it.
    Column("key", String(64), primary_key=True),
    Column("document_id", String(64), nullable=False, index=True),
    Column("rule", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("phone", String(32), nullable=False, index=True),
    Column("text", Text, nullable=False),
    Column("sender", Text),
    Column("status", String(16), nullable=False, index=True),
    # Indexed: the provider's status reports name the message by this id alone.
    Column("provider_message_id", Text, index=True),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("due_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False, index=True),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("delivery_status", String(16)),
    # The DLT content template the text was registered as, for Indian carriers.
    Column("dlt_template_id", Text),
    # The channel it is (being) sent on; NULL in rows of versions that knew only SMS.
    Column("channel", String(16)),
    # The channels it may use, in the rule's order, comma-separated; NULL: sms only.
    Column("channels", Text),
    Column("email", String(254)),
    Column("email_subject", Text),
    # The WhatsApp template with its rendered parameters, as JSON.
    Column("whatsapp", Text),
    # Set once, when the message moved to its next channel: never a second time.
    Column("fallback_from", String(16)),
    Column("fallback_reason", Text),
    # The first channel's message id, so that its late reports are recognised as stale.
    Column("replaced_message_id", Text, index=True),
)

ADDED_COLUMNS = (
    notifications.c.delivery_status,
    notifications.c.dlt_template_id,
    notifications.c.channel,
    notifications.c.channels,
    notifications.c.email,
    notifications.c.email_subject,
    notifications.c.whatsapp,
    notifications.c.fallback_from,
    notifications.c.fallback_reason,
    notifications.c.replaced_message_id,
)
"""Columns added after the table was first released. ``create_all`` creates missing tables
only, so :func:`open_engine` adds these to a ledger an earlier version created."""


opt_outs = Table(
    "opt_outs",
    metadata,
    Column("phone", String(32), primary_key=True),
    Column("note", Text),
    Column("created_at", UtcDateTime, nullable=False),
)

email_opt_outs = Table(
    "email_opt_outs",
    metadata,
    # Normalised as notifier.addresses reads addresses, so one address has one row.
    Column("email", String(254), primary_key=True),
    Column("note", Text),
    Column("created_at", UtcDateTime, nullable=False),
)


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction; a database that fails is :class:`LedgerUnavailable` (retriable),
    except an integrity error, which the caller interprets."""
    try:
        with engine.begin() as connection:
            yield connection
    except IntegrityError:
        raise
    except SQLAlchemyError as error:
        raise LedgerUnavailable(f"ledger database: {type(error).__name__}") from error


def database_url(url: str) -> URL:
    """``url`` with psycopg 3 as PostgreSQL's driver unless it names another one."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    return parsed


def printable_url(url: str) -> str:
    """The URL for logs: its password, if any, masked."""
    return database_url(url).render_as_string(hide_password=True)


def open_engine(url: str) -> Engine:
    """An engine on ``url`` with the ledger's schema in place."""
    parsed = database_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(parsed, pool_pre_ping=True)
    try:
        _create_schema(engine)
    except SQLAlchemyError as error:
        # Two instances starting at once may both create (or upgrade) it; the loser finds
        # it there on its second look.
        try:
            _create_schema(engine)
        except SQLAlchemyError:
            engine.dispose()
            raise LedgerUnavailable(
                f"ledger database {printable_url(url)}: {type(error).__name__}"
            ) from error
    return engine


def _create_schema(engine: Engine) -> None:
    """The tables when missing, then what later versions added to existing ones."""
    metadata.create_all(engine)
    present = {column["name"] for column in inspect(engine).get_columns(notifications.name)}
    quote = engine.dialect.identifier_preparer
    with engine.begin() as connection:
        for column in ADDED_COLUMNS:
            if column.name not in present:
                column_type = column.type.compile(dialect=engine.dialect)
                connection.execute(
                    text(
                        f"ALTER TABLE {quote.format_table(notifications)} "
                        f"ADD COLUMN {quote.format_column(column)} {column_type}"
                    )
                )
    for index in notifications.indexes:
        index.create(engine, checkfirst=True)


def _sqlite_pragmas(connection: object, _record: object) -> None:
    # WAL lets the operator's `ledger` command read while the service writes.
    cursor = connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
