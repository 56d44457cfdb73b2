"""The delivery ledger: one row per notification, claimed before the provider is called.

A notification is one business event: a document entering the state a rule names.
Its key is unique in the database, so only one claim of it can ever succeed, across
restarts and across notifier instances sharing the database. See docs/notifier.md.
"""

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from notifier.ledger_schema import DeliveryStatus, Status, notifications, transaction

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Notification:
    """What one business event sends: everything needed to send it again later."""

    key: str
    document_id: str
    rule: str
    state: str
    phone: str
    """E.164; stored whole (it is needed to send), masked in every output."""
    text: str
    sender: str | None = None
    dlt_template_id: str | None = None
    """The registered DLT content template ``text`` matches (Indian carriers need it)."""


@dataclass(frozen=True)
class LedgerEntry:
    notification: Notification
    status: Status
    provider_message_id: str | None
    attempts: int
    last_error: str | None
    due_at: datetime | None
    created_at: datetime
    updated_at: datetime
    delivery_status: DeliveryStatus | None = None
    """The provider's last report on the message; None until it sends one."""


class DeliveryUpdate(StrEnum):
    """What became of a provider's delivery report."""

    RECORDED = "recorded"
    STALE = "stale"
    """The row has this status or a later one already (reports arrive out of order)."""
    UNKNOWN_MESSAGE = "unknown_message"
    """No row has that provider message id."""


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


class Resolution(StrEnum):
    """An operator's verdict on a stuck (or failed) row."""

    SENT = "sent"
    """The customer got it (the provider's log says so): never send it."""
    FAILED = "failed"
    """It did not go out and should not: record it as failed."""
    RESEND = "resend"
    """It did not go out: the running notifier sends it again shortly."""


RESOLVABLE = {
    Resolution.SENT: (Status.SENDING,),
    Resolution.FAILED: (Status.SENDING,),
    Resolution.RESEND: (Status.SENDING, Status.FAILED),
}


class Ledger:
    """The ledger's operations; each is one short transaction."""

    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def claim(self, notification: Notification, *, held_until: datetime | None = None) -> bool:
        """Insert the row as ``sending`` (``held`` when ``held_until`` is given).

        False when the notification has a row already: someone claimed it first.
        """
        status = Status.HELD if held_until else Status.SENDING
        return self._insert(notification, status=status, due_at=held_until)

    def skip(self, notification: Notification, reason: str) -> bool:
        """Record that the notification is not sent on purpose; False if it has a row."""
        return self._insert(notification, status=Status.SKIPPED, last_error=reason)

    def refuse(self, notification: Notification, reason: str) -> bool:
        """Record a message that carriers would not deliver as it is; False if it has a row."""
        return self._insert(notification, status=Status.REFUSED, last_error=reason)

    def record_attempt(self, key: str, *, attempts: int, error: str) -> None:
        """A failed try while still ``sending``; also shows the row is not stuck."""
        self._set(key, attempts=attempts, last_error=error)

    def mark_sent(self, key: str, *, provider_message_id: str | None, attempts: int) -> None:
        self._set(
            key, status=Status.SENT, provider_message_id=provider_message_id, attempts=attempts
        )

    def mark_failed(self, key: str, *, error: str, attempts: int) -> None:
        self._set(key, status=Status.FAILED, last_error=error, attempts=attempts)

    def record_delivery(
        self, provider_message_id: str, status: DeliveryStatus, *, error: str | None = None
    ) -> DeliveryUpdate:
        """The provider's report on a message it accepted, unless the row has a later one.

        ``error`` (why it was not delivered) replaces ``last_error`` when given. The
        condition is in the update itself, so concurrent reports cannot downgrade a row.
        """
        columns = notifications.c
        values: dict[str, Any] = {"delivery_status": status, "updated_at": self._clock()}
        if error is not None:
            values["last_error"] = error
        with self._transaction() as connection:
            result = connection.execute(
                update(notifications)
                .where(
                    columns.provider_message_id == provider_message_id,
                    or_(
                        columns.delivery_status.is_(None),
                        columns.delivery_status.in_(status.supersedes()),
                    ),
                )
                .values(values)
            )
            if result.rowcount:
                return DeliveryUpdate.RECORDED
            known = connection.scalar(
                select(func.count()).where(columns.provider_message_id == provider_message_id)
            )
        return DeliveryUpdate.STALE if known else DeliveryUpdate.UNKNOWN_MESSAGE

    def claim_due(self, *, limit: int = 100) -> list[LedgerEntry]:
        """Held rows whose time has come, each moved to ``sending`` by this call alone."""
        now = self._clock()
        with self._transaction() as connection:
            keys = connection.scalars(
                select(notifications.c.key)
                .where(notifications.c.status == Status.HELD, notifications.c.due_at <= now)
                .order_by(notifications.c.due_at)
                .limit(limit)
            ).all()
        claimed = [key for key in keys if self._move(key, (Status.HELD,), Status.SENDING)]
        return [entry for key in claimed if (entry := self.entry(key)) is not None]

    def resolve(self, key: str, resolution: Resolution) -> bool:
        """Apply an operator's verdict; False if the row is not in a state it applies to."""
        if resolution is Resolution.RESEND:
            return self._move(key, RESOLVABLE[resolution], Status.HELD, due_at=self._clock())
        return self._move(key, RESOLVABLE[resolution], Status(resolution.value))

    def entry(self, key: str) -> LedgerEntry | None:
        with self._transaction() as connection:
            row = connection.execute(
                select(notifications).where(notifications.c.key == key)
            ).one_or_none()
        return _entry(row) if row is not None else None

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
            return [_entry(row) for row in connection.execute(statement)]

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

    def _insert(self, notification: Notification, **values: Any) -> bool:
        now = self._clock()
        row = {
            "key": notification.key,
            "document_id": notification.document_id,
            "rule": notification.rule,
            "state": notification.state,
            "phone": notification.phone,
            "text": notification.text,
            "sender": notification.sender,
            "dlt_template_id": notification.dlt_template_id,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
            **values,
        }
        try:
            with self._transaction() as connection:
                connection.execute(insert(notifications).values(row))
        except IntegrityError:
            if self.entry(notification.key) is None:
                raise  # not the key: a bug worth its traceback
            return False
        return True

    def _set(self, key: str, **values: Any) -> None:
        with self._transaction() as connection:
            connection.execute(
                update(notifications)
                .where(notifications.c.key == key)
                .values(updated_at=self._clock(), **values)
            )

    def _move(self, key: str, sources: tuple[Status, ...], target: Status, **values: Any) -> bool:
        """Change the status only if it still is one of ``sources``: a race has one winner."""
        with self._transaction() as connection:
            result = connection.execute(
                update(notifications)
                .where(notifications.c.key == key, notifications.c.status.in_(sources))
                .values(status=target, updated_at=self._clock(), **values)
            )
        return result.rowcount == 1

    def _transaction(self) -> AbstractContextManager[Connection]:
        return transaction(self._engine)


def _entry(row: Row[Any]) -> LedgerEntry:
    return LedgerEntry(
        notification=Notification(
            key=row.key,
            document_id=row.document_id,
            rule=row.rule,
            state=row.state,
            phone=row.phone,
            text=row.text,
            sender=row.sender,
            dlt_template_id=row.dlt_template_id,
        ),
        status=Status(row.status),
        provider_message_id=row.provider_message_id,
        attempts=row.attempts,
        last_error=row.last_error,
        due_at=row.due_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        delivery_status=DeliveryStatus(row.delivery_status) if row.delivery_status else None,
    )
