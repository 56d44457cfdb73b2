"""Pure functions that turn an enriched document into the text of an SMS.

A template is a ``str.format`` string whose placeholders are the keys of
:func:`template_values`; a value is ``None`` when the document lacks it.
"""

import copy
import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from string import Formatter
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.numbers import format_decimal

from notifier.errors import DocumentIncomplete
from shared.errors import MalformedEvent
from shared.kladana_types import TRANSACTION_TYPES

PLACEHOLDERS = (
    "number",
    "date",
    "amount",
    "currency",
    "state",
    "type",
    "title",
    "customer",
    "organization",
    "document_id",
)
AMOUNT_LOCALE = "en_IN"
DATE_FORMAT = "%d.%m.%Y"


def _two_decimal_pattern(locale: str) -> Any:
    """The locale's own decimal pattern (so its grouping) with exactly two decimals."""
    pattern = copy.copy(Locale.parse(locale).decimal_formats[None])
    pattern.frac_prec = (2, 2)
    return pattern


_TWO_DECIMALS = _two_decimal_pattern(AMOUNT_LOCALE)


def format_amount(amount: Decimal) -> str:
    """Major units grouped the Indian way: 50,000; 1,50,000; 1,234.50."""
    if amount == amount.to_integral_value():
        return str(format_decimal(amount, locale=AMOUNT_LOCALE))
    return str(format_decimal(amount, format=_TWO_DECIMALS, locale=AMOUNT_LOCALE))


def format_date(moment: str, zone: ZoneInfo) -> str:
    """The calendar day (dd.mm.yyyy) in ``zone`` of an ISO 8601 moment with an offset."""
    try:
        parsed = datetime.fromisoformat(moment)
    except ValueError:
        raise MalformedEvent(f"document moment {moment!r} is not ISO 8601") from None
    if parsed.tzinfo is None:
        raise MalformedEvent(f"document moment {moment!r} has no UTC offset")
    return parsed.astimezone(zone).strftime(DATE_FORMAT)


def template_values(document: Mapping[str, Any], zone: ZoneInfo) -> dict[str, str | None]:
    """Every placeholder's value for ``document`` (an enriched-document.v1 ``document``)."""
    total = document.get("sum") or {}
    agent = document.get("agent") or {}
    organization = document.get("organization") or {}
    moment = document.get("moment")
    kind = TRANSACTION_TYPES.by_name(str(document.get("type")))
    amount = total.get("amount")
    return {
        "number": document.get("number"),
        "date": format_date(moment, zone) if moment else None,
        "amount": format_amount(Decimal(amount)) if amount is not None else None,
        "currency": total.get("currency"),
        "state": document.get("state"),
        "type": document.get("type"),
        "title": kind.title if kind else None,
        "customer": agent.get("name"),
        "organization": organization.get("name"),
        "document_id": document.get("id"),
    }


def placeholders(template: str) -> frozenset[str]:
    """The placeholder names a template uses (``{customer.x}`` uses ``customer``).

    Raises ``ValueError`` when the template is not a valid format string.
    """
    return frozenset(
        re.split(r"[.\[]", field, maxsplit=1)[0]
        for _literal, field, _spec, _conversion in Formatter().parse(template)
        if field is not None
    )


def render(template: str, values: Mapping[str, str | None]) -> str:
    """Fill ``template``; :class:`DocumentIncomplete` names the values the document lacks."""
    missing = sorted(name for name in placeholders(template) if values.get(name) is None)
    if missing:
        raise DocumentIncomplete(f"the document has no {', '.join(missing)}")
    return template.format_map(values)
