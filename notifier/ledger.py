"""The delivery ledger: one row per notification, claimed before the provider is called.

A notification is one business event: a document entering the state a rule names.
Its key is unique in the database, so only one claim of it can ever succeed, across
restarts and across notifier instances sharing the database. A message that fails for
good on its channel moves to its rule's next one, once (:meth:`Ledger.fall_back`).
See docs/notifier.md. The queries are notifier/ledger_queries.py's, the row's fields
notifier/ledger_rows.py's; this module names them all.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from notifier.channels import Channel
from notifier.ledger_queries import Clock, LedgerQuery, LedgerReads, utc_now
from notifier.ledger_rows import LedgerEntry, Notification, entry_of, row_values
from notifier.ledger_schema import DeliveryStatus, Status, notifications

__all__ = [
    "RESOLVABLE",
    "Clock",
    "DeliveryUpdate",
    "Ledger",
    "LedgerEntry",
    "LedgerQuery",
    "Notification",
    "Resolution",
    "utc_now",
]


class DeliveryUpdate(StrEnum):
    """What became of a provider's delivery report."""

    RECORDED = "recorded"
    STALE = "stale"
    """The row has this status or a later one already (reports arrive out of order)."""
    UNKNOWN_MESSAGE = "unknown_message"
    """No row has (or had, before it fell back to another channel) that message id."""


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


class Ledger(LedgerReads):
    """The ledger's operations; each is one short transaction."""

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
            # A replaced id is a channel the message has left: whatever it reports is stale.
            known = connection.scalar(
                select(func.count()).where(
                    or_(
                        columns.provider_message_id == provider_message_id,
                        columns.replaced_message_id == provider_message_id,
                    )
                )
            )
        return DeliveryUpdate.STALE if known else DeliveryUpdate.UNKNOWN_MESSAGE

    def fall_back(
        self,
        key: str,
        *,
        from_channel: Channel,
        provider_message_id: str | None = None,
        reason: str,
        due_at: datetime | None = None,
    ) -> LedgerEntry | None:
        """Move the row from ``from_channel``, which failed for good, to its next channel:
        ``sending`` for the caller to send now, or ``held`` until ``due_at`` for the releaser.

        Without ``provider_message_id`` the caller is sending the row (a refusal at send);
        with it, the provider reported that message failed after accepting it. The move is
        one conditional update, so of callers racing (two instances, a report posted twice,
        or again after a restart) one wins, and a row falls back once in its life. The
        moved row for the winner; None for anyone else, or when there is no next channel.
        """
        entry = self.entry(key)
        # The rule's channels never change after the claim, so the next one is read first.
        target = entry.notification.channel_after(from_channel) if entry else None
        if target is None:
            return None
        columns = notifications.c
        if provider_message_id is None:
            still = columns.status == Status.SENDING
        else:
            still = and_(
                columns.status == Status.SENT,
                columns.provider_message_id == provider_message_id,
                # Only while an undelivered report could still be recorded: a message the
                # provider delivered never goes out a second time.
                or_(
                    columns.delivery_status.is_(None),
                    columns.delivery_status.in_(DeliveryStatus.UNDELIVERED.supersedes()),
                ),
            )
        with self._transaction() as connection:
            result = connection.execute(
                update(notifications)
                .where(
                    columns.key == key,
                    func.coalesce(columns.channel, Channel.SMS.value) == from_channel,
                    columns.fallback_from.is_(None),
                    still,
                )
                .values(
                    channel=target,
                    fallback_from=from_channel,
                    fallback_reason=reason,
                    replaced_message_id=provider_message_id,
                    provider_message_id=None,
                    delivery_status=None,
                    last_error=None,
                    attempts=0,
                    status=Status.HELD if due_at else Status.SENDING,
                    due_at=due_at,
                    updated_at=self._clock(),
                )
            )
            if result.rowcount != 1:
                return None
            return entry_of(
                connection.execute(select(notifications).where(columns.key == key)).one()
            )

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

    def _insert(self, notification: Notification, **values: Any) -> bool:
        now = self._clock()
        row = {
            **row_values(notification),
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
