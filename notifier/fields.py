"""The fields of an enriched ``document`` that rules can test and templates can show.

A field is a dotted path (``agent.name``); each has a kind that decides which
conditions and formats it accepts. Two families are open-ended because their names
are chosen by the shop in Kladana: ``attributes.<name>`` (the document's additional
fields) and ``agent.attributes.<name>`` (the counterparty's). ``agent.tags``,
``agent.contacts`` and both attribute families are read when the enricher provides
them (see docs/rules.md); a document without them simply has no value there.
``link.<name>`` reads the first of the document's ``links`` (the document a payment
pays, a shipment ships, a return returns).
"""

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.kladana_types import TRANSACTION_TYPES


class Kind(enum.Enum):
    TEXT = "text"
    MONEY = "money"
    """A sum in major units (rupees), compared and shown as a decimal."""
    NUMBER = "number"
    DATE = "date"
    TAGS = "tags"
    """A list of texts."""
    ANY = "any"
    """An attribute: text, number, yes/no or a reference, as the shop defined it."""


@dataclass(frozen=True)
class Field:
    path: str
    kind: Kind


FIELDS: Mapping[str, Kind] = {
    "id": Kind.TEXT,
    "type": Kind.TEXT,
    "title": Kind.TEXT,
    "entity": Kind.TEXT,
    "href": Kind.TEXT,
    "number": Kind.TEXT,
    "moment": Kind.DATE,
    "sum": Kind.MONEY,
    "sum.amount": Kind.MONEY,
    "sum.minor": Kind.NUMBER,
    "sum.currency": Kind.TEXT,
    "state": Kind.TEXT,
    "agent.id": Kind.TEXT,
    "agent.name": Kind.TEXT,
    "agent.phone": Kind.TEXT,
    "agent.email": Kind.TEXT,
    "agent.tags": Kind.TAGS,
    "organization.name": Kind.TEXT,
    "balance_due": Kind.MONEY,
    "link.relation": Kind.TEXT,
    "link.type": Kind.TEXT,
    "link.id": Kind.TEXT,
    "link.number": Kind.TEXT,
    "link.sum": Kind.MONEY,
    "link.applied": Kind.MONEY,
    "link.balance_due": Kind.MONEY,
}
"""Every fixed field; ``title`` is derived from ``type`` (e.g. Sales Order)."""

LINK = "link."

ATTRIBUTE_FAMILIES = ("attributes.", "agent.attributes.")

ALIASES: Mapping[str, str] = {
    "date": "moment",
    "amount": "sum",
    "currency": "sum.currency",
    "customer": "agent.name",
    "organization": "organization.name",
    "document_id": "id",
}
"""The placeholders of the first rules format, kept so old rules files still load."""


def field_named(name: str) -> Field | None:
    """The field ``name`` (a path or an alias) stands for; ``None`` if there is none."""
    path = ALIASES.get(name, name)
    kind = FIELDS.get(path)
    if kind is not None:
        return Field(path, kind)
    for family in ATTRIBUTE_FAMILIES:
        if path.startswith(family) and path[len(family) :].strip():
            return Field(path, Kind.ANY)
    return None


def known_names() -> str:
    """The fields and families, for error messages."""
    return ", ".join([*FIELDS, *(f"{family}<name>" for family in ATTRIBUTE_FAMILIES)])


def value_of(document: Mapping[str, Any], field: Field) -> object:
    """The field's value in ``document``, ``None`` where the document has none.

    A money field is a :class:`~decimal.Decimal` of major units.
    """
    value = _raw_value(document, field)
    if field.kind is Kind.MONEY:
        return to_decimal(value.get("amount") if isinstance(value, Mapping) else value)
    return value


def currency_of(document: Mapping[str, Any], field: Field) -> object:
    """The currency code of the money the money ``field`` reads (``sum.amount``: ``sum``)."""
    owner = Field(field.path.removesuffix(".amount"), field.kind)
    money = _raw_value(document, owner)
    return money.get("currency") if isinstance(money, Mapping) else None


def to_decimal(value: object) -> Decimal | None:
    """A finite number from a number or numeric text; ``None`` for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _raw_value(document: Mapping[str, Any], field: Field) -> object:
    if field.path == "title":
        kind = TRANSACTION_TYPES.by_name(str(document.get("type")))
        return kind.title if kind else None
    for family in ATTRIBUTE_FAMILIES:
        if field.path.startswith(family):
            owner = at_path(document, family.rstrip(".").split(".")[:-1])
            return attribute(owner, field.path[len(family) :])
    if field.path.startswith(LINK):
        links = document.get("links")
        first = links[0] if isinstance(links, list) and links else None
        return at_path(first, field.path[len(LINK) :].split("."))
    return at_path(document, field.path.split("."))


def at_path(document: object, path: list[str]) -> object:
    value = document
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def attribute(owner: object, name: str) -> object:
    """The value of attribute ``name`` (case ignored) of ``owner``.

    Accepts both a ``{name: value}`` object and Kladana's own list of
    ``{"name", "value"}``; a reference value (custom entity) shows its name.
    """
    attributes = owner.get("attributes") if isinstance(owner, Mapping) else None
    wanted = name.strip().casefold()
    value: object = None
    if isinstance(attributes, Mapping):
        value = next(
            (v for k, v in attributes.items() if str(k).strip().casefold() == wanted), None
        )
    elif isinstance(attributes, list):
        value = next(
            (
                item.get("value")
                for item in attributes
                if isinstance(item, Mapping) and str(item.get("name")).strip().casefold() == wanted
            ),
            None,
        )
    if isinstance(value, Mapping):
        return value.get("name")
    return value
