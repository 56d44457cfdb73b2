"""Kladana's JSON for one document -> the ``document`` object of an enriched event.

Pure: no I/O. Optional parts that are missing or of an odd shape become null; the
parts every consumer relies on (an id, a sum in whole paise, a date that parses)
raise :class:`InvalidDocument` instead of being guessed.
"""

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from enricher.attributes import attributes_by_name
from enricher.counterparty import counterparty
from enricher.errors import InvalidDocument
from enricher.kladana_values import (
    minor_units,
    moment,
    money,
    object_at,
    optional_money,
    text_at,
)
from enricher.links import balance_due, links_of, paid
from enricher.positions import positions_of
from shared.kladana_types import TransactionType


def to_document(
    kladana: Mapping[str, Any], *, transaction_type: TransactionType, timezone: ZoneInfo
) -> dict[str, Any]:
    """The enriched ``document`` (schema enriched-document.v1) for one Kladana document."""
    document_id = kladana.get("id")
    if not isinstance(document_id, str) or not document_id:
        raise InvalidDocument("Kladana's document has no id")
    currency = _currency(kladana)
    total = _sum(kladana.get("sum"), currency)
    paid_sum = paid(kladana, currency)
    return {
        "id": document_id,
        "type": transaction_type.name,
        "entity": transaction_type.entity,
        "href": text_at(object_at(kladana.get("meta")), "href"),
        "number": text_at(kladana, "name"),
        "moment": _moment(kladana.get("moment"), timezone),
        "sum": total,
        "state": text_at(object_at(kladana.get("state")), "name"),
        "agent": counterparty(object_at(kladana.get("agent")), timezone),
        "organization": _organization(object_at(kladana.get("organization"))),
        "paid": paid_sum,
        "shipped": optional_money(kladana.get("shippedSum"), currency),
        "attributes": attributes_by_name(kladana.get("attributes"), timezone),
        **positions_of(kladana, currency),
        "links": links_of(kladana, transaction_type, currency),
        "balance_due": balance_due(total, paid_sum, currency),
    }


def _moment(value: Any, timezone: ZoneInfo) -> str | None:
    if value is None:
        return None
    parsed = moment(value, timezone) if isinstance(value, str) else None
    if parsed is None:
        raise InvalidDocument(f"moment {value!r} is not a Kladana date (YYYY-MM-DD HH:mm:ss.mmm)")
    return parsed


def _sum(value: Any, currency: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    minor = minor_units(value)  # Kladana's own examples write sums as floats: 111100.0
    if minor is None:
        raise InvalidDocument(f"sum {value!r} is not a number of minor units")
    return money(minor, currency)


def _currency(kladana: Mapping[str, Any]) -> str | None:
    rate = object_at(kladana.get("rate"))
    return text_at(object_at(rate.get("currency")) if rate is not None else None, "isoCode")


def _organization(organization: Mapping[str, Any] | None) -> dict[str, str | None] | None:
    return None if organization is None else {"name": text_at(organization, "name")}
