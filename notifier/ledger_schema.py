"""The delivery ledger's tables and how to reach its database (SQLite or PostgreSQL).

Written with SQLAlchemy Core, so one definition serves both databases. The schema is
created at start-up when missing; an existing one is left as it is.
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
    """Waiting for ``due_at`` (quiet hours, or released by an operator for re-send)."""
    SKIPPED = "skipped"
    """Not sent on purpose (the number opted out); ``last_error`` says why."""


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
    Column("provider_message_id", Text),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("due_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False, index=True),
    Column("updated_at", UtcDateTime, nullable=False),
)


opt_outs = Table(
    "opt_outs",
    metadata,
    Column("phone", String(32), primary_key=True),
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
        metadata.create_all(engine)
    except SQLAlchemyError as error:
        # Two instances starting at once may both create it; the loser finds it there.
        try:
            metadata.create_all(engine)
        except SQLAlchemyError:
            engine.dispose()
            raise LedgerUnavailable(
                f"ledger database {printable_url(url)}: {type(error).__name__}"
            ) from error
    return engine


def _sqlite_pragmas(connection: object, _record: object) -> None:
    # WAL lets the operator's `ledger` command read while the service writes.
    cursor = connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
