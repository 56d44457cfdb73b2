"""Readers of single values in Kladana's JSON: tolerant, they answer ``None`` for odd input.

Kladana leaves empty fields out of its answers, writes numbers as JSON floats (``1.0``,
``4200000.0``) and references as ``{"meta": ...}`` unless they were expanded; every
reader here accepts all of that and turns anything else into ``None`` rather than guess.
"""

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

# Kladana writes dates as "2024-06-10 12:57:00.000"; some (audit) without milliseconds.
_MOMENT_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S")


def object_at(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def text_at(container: Mapping[str, Any] | None, key: str) -> str | None:
    """A non-blank string at ``key``; ``None`` for a blank, another type or no container."""
    value = container.get(key) if container is not None else None
    return value if isinstance(value, str) and value.strip() else None


def number(value: Any) -> int | float | None:
    """A finite JSON number as Kladana wrote it; ``None`` for booleans, text, NaN, ..."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    # An int is always finite, and math.isfinite cannot take one beyond float's range.
    return value if isinstance(value, int) or math.isfinite(value) else None


def money(minor: int, currency: str | None) -> dict[str, Any]:
    """The pipeline's money object: whole minor units, the exact decimal, the currency."""
    return {"minor": minor, "amount": f"{Decimal(minor).scaleb(-2):.2f}", "currency": currency}


def minor_units(value: Any) -> int | None:
    """Whole minor units from Kladana's number; a fraction of a paisa is rounded half up."""
    found = number(value)
    return None if found is None else rounded(Decimal(str(found)))


def rounded(minor: Decimal) -> int:
    """Whole minor units, half a paisa rounded up (commercial rounding)."""
    return int(minor.to_integral_value(rounding=ROUND_HALF_UP))


def optional_money(value: Any, currency: str | None) -> dict[str, Any] | None:
    """:func:`money` of an amount that may be missing or odd (then ``None``)."""
    minor = minor_units(value)
    return None if minor is None else money(minor, currency)


def moment(value: str, timezone: ZoneInfo) -> str | None:
    """Kladana's ``YYYY-MM-DD HH:mm:ss[.mmm]`` in ``timezone`` as ISO 8601; ``None`` if
    it is not one."""
    for layout in _MOMENT_FORMATS:
        try:
            local = datetime.strptime(value, layout)
        except ValueError:
            continue
        return _rfc3339(local.replace(tzinfo=timezone))
    return None


def _rfc3339(moment: datetime) -> str | None:
    """``moment`` in ISO 8601 as RFC 3339 allows it: an offset of whole minutes.

    Before a zone adopted standard time its offset is local mean time, with seconds
    (Kolkata in 1900: +05:21:10); such a moment is written in UTC instead, or is
    ``None`` when UTC would fall before year 1.
    """
    offset = moment.utcoffset()
    if offset is not None and offset % timedelta(minutes=1):
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:
            return None
    return moment.isoformat()


def collection_rows(collection: Mapping[str, Any] | None) -> list[Mapping[str, Any]] | None:
    """The objects in an expanded collection (``{"meta": ..., "rows": [...]}``).

    ``None`` when it was not expanded (only its ``meta``); rows that are not objects
    are left out, so a caller comparing with :func:`collection_size` sees the loss.
    """
    rows = collection.get("rows") if collection is not None else None
    if not isinstance(rows, list):
        return None
    return [row for row in rows if isinstance(row, Mapping)]


def collection_size(collection: Mapping[str, Any] | None) -> int | None:
    """How many objects the whole collection holds (``meta.size``), expanded or not."""
    size = (object_at(collection.get("meta")) or {}).get("size") if collection else None
    return size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None
