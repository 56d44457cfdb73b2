"""Kladana's additional fields (``attributes``) -> ``{name: value}`` for subscribers.

Kladana sends a list of ``{"name", "type", "value", ...}``. Subscribers (and the
notifier's ``attributes.<name>`` fields) want to look a field up by its name, so the
list becomes an object. A reference value (a custom list entry, a product, a
counterparty, ...) arrives as ``{"meta", "name"}`` and is reduced to its name; a date
(type ``time``) is written in ISO 8601 like ``moment``; a file is its file name.
"""

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from enricher.kladana_values import moment, number, object_at, text_at

AttributeValue = str | int | float | bool | None


def attributes_by_name(value: Any, timezone: ZoneInfo) -> dict[str, AttributeValue] | None:
    """``{name: value}`` of Kladana's attribute list; ``None`` if there is no list.

    Entries without a name are skipped; Kladana's names are unique per entity, so on a
    repeated name the first entry wins.
    """
    if not isinstance(value, list):
        return None
    named: dict[str, AttributeValue] = {}
    for item in value:
        attribute = object_at(item)
        name = text_at(attribute, "name")
        if attribute is not None and name is not None and name not in named:
            named[name] = _value(attribute, timezone)
    return named


def _value(attribute: Mapping[str, Any], timezone: ZoneInfo) -> AttributeValue:
    value = attribute.get("value")
    if isinstance(value, Mapping):
        return text_at(value, "name")
    if isinstance(value, str):
        # A date that does not parse is still worth passing on as Kladana wrote it.
        is_date = attribute.get("type") == "time"
        return (moment(value, timezone) or value) if is_date else value
    if isinstance(value, bool):
        return value
    return number(value)
