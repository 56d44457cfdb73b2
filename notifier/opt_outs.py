"""Who asked not to be messaged: the opt-out list and the counterparty's attribute in Kladana.

An opted-out customer gets nothing on any channel. The list (managed by ``python -m
notifier optout``) holds E.164 numbers and email addresses and stops every message to a
notification whose phone or email is on it, whatever the rule and the channel. The
counterparty attribute (NOTIFIER_OPT_OUT_ATTRIBUTE, a flag or a yes/no field on the
counterparty in Kladana) stops messages to that counterparty's own number or address; a
staff alert to a fixed number still goes out.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from notifier.addresses import first_email_address
from notifier.fields import attribute
from notifier.ledger import Clock, Notification, utc_now
from notifier.ledger_schema import email_opt_outs, opt_outs, transaction
from notifier.phones import first_mobile_number

AFFIRMATIVE = frozenset({"yes", "y", "true", "1", "on", "да"})
"""Texts of an attribute that mean "opted out" (compared case-insensitively)."""


@dataclass(frozen=True)
class OptOut:
    address: str
    """An E.164 number or a normalised email address."""
    note: str | None
    created_at: datetime


def is_email(address: str) -> bool:
    """An email address rather than a number (an E.164 number has no ``@``)."""
    return "@" in address


class OptOutList:
    """The numbers and addresses that opted out, in the ledger's database. Addresses are
    taken as the service reads them: E.164 numbers, normalised email addresses (compared
    in lower case)."""

    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def add(self, address: str, note: str | None = None) -> bool:
        """False when the number or address is on the list already."""
        column, address = _column(address), _comparable(address)
        row = {column.name: address, "note": note, "created_at": self._clock()}
        try:
            with transaction(self._engine) as connection:
                connection.execute(insert(column.table).values(row))
        except IntegrityError:
            return False
        return True

    def remove(self, address: str) -> bool:
        """False when the number or address was not on the list."""
        column, address = _column(address), _comparable(address)
        with transaction(self._engine) as connection:
            result = connection.execute(delete(column.table).where(column == address))
        return result.rowcount == 1

    def contains(self, address: str) -> bool:
        column, address = _column(address), _comparable(address)
        with transaction(self._engine) as connection:
            found = connection.scalar(select(column).where(column == address))
        return found is not None

    def entries(self) -> list[OptOut]:
        """Numbers, then addresses, each oldest first."""
        with transaction(self._engine) as connection:
            return [
                OptOut(address, note, created_at)
                for table in (opt_outs, email_opt_outs)
                for address, note, created_at in connection.execute(
                    select(table).order_by(table.c.created_at)
                )
            ]


def _comparable(address: str) -> str:
    """The address as the list keeps it: an email's mailbox in lower case too, which RFC
    5321 lets a server tell apart but none does in practice; a list that stops messages
    errs on the side of stopping them."""
    return address.lower() if is_email(address) else address


def _column(address: str) -> Column[Any]:
    """The key column of the list's table for ``address``: numbers and emails apart."""
    return email_opt_outs.c.email if is_email(address) else opt_outs.c.phone


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
        phone, email = notification.phone, notification.email
        if phone and self._list.contains(phone):
            return "opted out: the number is on the opt-out list"
        if email and self._list.contains(email):
            return "opted out: the email address is on the opt-out list"
        agent = document.get("agent")
        if not isinstance(agent, Mapping) or not says_opted_out(
            attribute(agent, self._attribute_name)
        ):
            return None
        own_number = first_mobile_number(_text(agent.get("phone")), self._region)
        own_address = first_email_address(_text(agent.get("email")))
        if (phone and phone == own_number) or (email and email == own_address):
            return f"opted out: counterparty attribute {self._attribute_name!r}"
        return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
