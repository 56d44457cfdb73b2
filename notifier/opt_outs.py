"""Who asked not to get SMS: the opt-out list and the counterparty's attribute in Kladana.

The list (managed by ``python -m notifier optout``) holds E.164 numbers and stops every
message to them, whatever the rule. The counterparty attribute (NOTIFIER_OPT_OUT_ATTRIBUTE,
a flag or a yes/no field on the counterparty in Kladana) stops messages to that
counterparty's own number; a staff alert to a fixed number still goes out.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from notifier.fields import attribute
from notifier.ledger import Clock, Notification, utc_now
from notifier.ledger_schema import opt_outs, transaction
from notifier.phones import first_mobile_number

AFFIRMATIVE = frozenset({"yes", "y", "true", "1", "on", "да"})
"""Texts of an attribute that mean "opted out" (compared case-insensitively)."""


@dataclass(frozen=True)
class OptOut:
    phone: str
    note: str | None
    created_at: datetime


class OptOutList:
    """The numbers that opted out, in the ledger's database."""

    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def add(self, phone: str, note: str | None = None) -> bool:
        """False when the number is on the list already."""
        row = {"phone": phone, "note": note, "created_at": self._clock()}
        try:
            with transaction(self._engine) as connection:
                connection.execute(insert(opt_outs).values(row))
        except IntegrityError:
            return False
        return True

    def remove(self, phone: str) -> bool:
        """False when the number was not on the list."""
        with transaction(self._engine) as connection:
            result = connection.execute(delete(opt_outs).where(opt_outs.c.phone == phone))
        return result.rowcount == 1

    def contains(self, phone: str) -> bool:
        with transaction(self._engine) as connection:
            found = connection.scalar(select(opt_outs.c.phone).where(opt_outs.c.phone == phone))
        return found is not None

    def entries(self) -> list[OptOut]:
        with transaction(self._engine) as connection:
            rows = connection.execute(select(opt_outs).order_by(opt_outs.c.created_at))
            return [OptOut(row.phone, row.note, row.created_at) for row in rows]


def says_opted_out(value: object) -> bool:
    """A ticked flag, or a text such as "yes" or "true"."""
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().casefold() in AFFIRMATIVE


class OptOutPolicy:
    """Why a notification must not be sent, or ``None`` when it may be."""

    def __init__(self, opt_out_list: OptOutList, *, attribute_name: str, region: str) -> None:
        self._list = opt_out_list
        self._attribute_name = attribute_name
        self._region = region

    def reason(self, notification: Notification, document: Mapping[str, Any]) -> str | None:
        if self._list.contains(notification.phone):
            return "opted out: the number is on the opt-out list"
        agent = document.get("agent")
        if not isinstance(agent, Mapping) or not says_opted_out(
            attribute(agent, self._attribute_name)
        ):
            return None
        agent_phone = agent.get("phone")
        own_number = first_mobile_number(
            agent_phone if isinstance(agent_phone, str) else None, self._region
        )
        if own_number == notification.phone:
            return f"opted out: counterparty attribute {self._attribute_name!r}"
        return None
