"""The delivery ledger's queries (notifier/ledger.py's :class:`Ledger` adds the writes)."""

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from notifier.ledger_rows import LedgerEntry, entry_of
from notifier.ledger_schema import Status, notifications, transaction

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class LedgerQuery:
    """Filters of :meth:`Ledger.entries`; unset ones do not filter."""

    document_id: str | None = None
    phone: str | None = None
    status: Status | None = None
    since: datetime | None = None
    until: datetime | None = None
    """Creation time, ``since`` inclusive, ``until`` exclusive."""
    untouched_since: datetime | None = None
    """Only rows not updated after this moment."""


class LedgerReads:
    """Rows of the ledger's database as :class:`LedgerEntry`; each query one transaction."""

    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def entry(self, key: str) -> LedgerEntry | None:
        with self._transaction() as connection:
            row = connection.execute(
                select(notifications).where(notifications.c.key == key)
            ).one_or_none()
        return entry_of(row) if row is not None else None

    def entry_by_message_id(self, provider_message_id: str) -> LedgerEntry | None:
        """The row a provider's message id names now (not one it replaced)."""
        with self._transaction() as connection:
            row = connection.execute(
                select(notifications)
                .where(notifications.c.provider_message_id == provider_message_id)
                .limit(1)
            ).one_or_none()
        return entry_of(row) if row is not None else None

    def entries(self, query: LedgerQuery = LedgerQuery()) -> list[LedgerEntry]:
        """Matching rows, oldest first."""
        columns = notifications.c
        statement = select(notifications).order_by(columns.created_at, columns.key)
        filters: list[Any] = [
            columns.document_id == query.document_id if query.document_id else None,
            columns.phone == query.phone if query.phone else None,
            columns.status == query.status if query.status else None,
            columns.created_at >= query.since if query.since else None,
            columns.created_at < query.until if query.until else None,
            columns.updated_at <= query.untouched_since if query.untouched_since else None,
        ]
        statement = statement.where(*(condition for condition in filters if condition is not None))
        with self._transaction() as connection:
            return [entry_of(row) for row in connection.execute(statement)]

    def counts_by_status(self, since: datetime) -> dict[Status, int]:
        """How many rows created at or after ``since`` are in each status now."""
        columns = notifications.c
        statement = (
            select(columns.status, func.count())
            .where(columns.created_at >= since)
            .group_by(columns.status)
        )
        with self._transaction() as connection:
            return {Status(status): count for status, count in connection.execute(statement)}

    def keys_starting_with(self, prefix: str) -> list[str]:
        with self._transaction() as connection:
            return list(
                connection.scalars(
                    select(notifications.c.key)
                    .where(notifications.c.key.startswith(prefix, autoescape=True))
                    .limit(2)
                )
            )

    def stuck(self, older_than_s: float, query: LedgerQuery = LedgerQuery()) -> list[LedgerEntry]:
        """Rows (of ``query``) left ``sending`` longer than any send takes: their sender
        died mid-send."""
        cutoff = datetime.fromtimestamp(self._clock().timestamp() - older_than_s, UTC)
        return self.entries(replace(query, status=Status.SENDING, untouched_since=cutoff))

    def _transaction(self) -> AbstractContextManager[Connection]:
        return transaction(self._engine)
