"""Kladana's JSON for one document -> the ``document`` object of an enriched event.

Pure: no I/O. Optional parts that are missing or of an odd shape become null; the
parts every consumer relies on (an id, a sum in whole paise, a date that parses)
raise :class:`InvalidDocument` instead of being guessed.
"""

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from enricher.errors import InvalidDocument
from shared.kladana_types import TransactionType

# Kladana writes dates as "2024-06-10 12:57:00.000"; some (audit) without milliseconds.
_MOMENT_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S")


def to_document(
    kladana: Mapping[str, Any], *, transaction_type: TransactionType, timezone: ZoneInfo
) -> dict[str, Any]:
    """The enriched ``document`` (schema enriched-document.v1) for one Kladana document."""
    document_id = kladana.get("id")
    if not isinstance(document_id, str) or not document_id:
        raise InvalidDocument("Kladana's document has no id")
    return {
        "id": document_id,
        "type": transaction_type.name,
        "entity": transaction_type.entity,
        "href": _text(_object(kladana.get("meta")), "href"),
        "number": _text(kladana, "name"),
        "moment": _moment(kladana.get("moment"), timezone),
        "sum": _sum(kladana.get("sum"), _currency(kladana)),
        "state": _text(_object(kladana.get("state")), "name"),
        "agent": _agent(_object(kladana.get("agent"))),
        "organization": _organization(_object(kladana.get("organization"))),
    }


def _object(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def _text(container: Mapping[str, Any] | None, key: str) -> str | None:
    value = container.get(key) if container is not None else None
    return value if isinstance(value, str) and value.strip() else None


def _moment(value: Any, timezone: ZoneInfo) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        for layout in _MOMENT_FORMATS:
            try:
                local = datetime.strptime(value, layout)
            except ValueError:
                continue
            return local.replace(tzinfo=timezone).isoformat()
    raise InvalidDocument(f"moment {value!r} is not a Kladana date (YYYY-MM-DD HH:mm:ss.mmm)")


def _sum(value: Any, currency: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidDocument(f"sum {value!r} is not a whole number of minor units")
    return {"minor": value, "amount": f"{Decimal(value).scaleb(-2):.2f}", "currency": currency}


def _currency(kladana: Mapping[str, Any]) -> str | None:
    rate = _object(kladana.get("rate"))
    return _text(_object(rate.get("currency")) if rate is not None else None, "isoCode")


def _agent(agent: Mapping[str, Any] | None) -> dict[str, str | None] | None:
    if agent is None:
        return None
    return {key: _text(agent, key) for key in ("id", "name", "phone", "email")}


def _organization(organization: Mapping[str, Any] | None) -> dict[str, str | None] | None:
    return None if organization is None else {"name": _text(organization, "name")}
