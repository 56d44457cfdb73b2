"""The document's counterparty (``agent``) with what subscribers need to reach it.

With ``expand=agent,agent.contactpersons`` Kladana inlines the counterparty, its tags
(groups), additional fields and contact persons. Without expansion only ``meta`` is
there, and every field is ``None``.
"""

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from enricher.attributes import attributes_by_name
from enricher.kladana_values import collection_rows, object_at, text_at


def counterparty(agent: Mapping[str, Any] | None, timezone: ZoneInfo) -> dict[str, Any] | None:
    """The enriched ``agent`` object; ``None`` when the document names no counterparty."""
    if agent is None:
        return None
    return {
        **{key: text_at(agent, key) for key in ("id", "name", "phone", "email")},
        "legal_address": text_at(agent, "legalAddress"),
        "actual_address": text_at(agent, "actualAddress"),
        "tags": _tags(agent.get("tags")),
        "attributes": attributes_by_name(agent.get("attributes"), timezone),
        "contacts": _contacts(object_at(agent.get("contactpersons"))),
    }


def _tags(value: Any) -> list[str] | None:
    if not isinstance(value, list):
        return None
    return [tag for tag in value if isinstance(tag, str) and tag.strip()]


def _contacts(contact_persons: Mapping[str, Any] | None) -> list[dict[str, str | None]] | None:
    """``[{name, phone, email}]`` of the expanded contact persons, in Kladana's order."""
    rows = collection_rows(contact_persons)
    if rows is None:
        return None
    return [{key: text_at(person, key) for key in ("name", "phone", "email")} for person in rows]
