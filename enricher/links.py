"""The documents a document pays, ships or returns, and what is still due on it.

Kladana links them by reference: a payment or cash document lists the documents it pays
in ``operations`` (each with ``linkedSum``, the amount applied to it), a shipment names
its ``customerOrder``, a sales return its ``demand``, a purchase return its ``supply``.
Expanded, a reference carries the linked document's ``name`` and ``sum``; bare (``meta``
only) it still gives the type and id.
"""

from collections.abc import Mapping
from typing import Any

from enricher.kladana_values import money, object_at, optional_money, text_at
from shared.kladana_types import TRANSACTION_TYPES, TransactionType

# Type name -> (the field naming what it links, the relation); payments below.
_REFERENCES: dict[str, tuple[str, str]] = {
    "Demand": ("customerOrder", "ships"),
    "SalesReturn": ("demand", "returns"),
    "PurchaseReturn": ("supply", "returns"),
}
_PAYMENTS = frozenset(("PaymentIn", "PaymentOut", "CashIn", "CashOut"))


def links_of(
    kladana: Mapping[str, Any], transaction_type: TransactionType, currency: str | None
) -> list[dict[str, Any]]:
    """``[{relation, type, id, number, sum, applied, balance_due}]`` in Kladana's order;
    empty for a type that links nothing or a document that links nothing yet."""
    if transaction_type.name in _PAYMENTS:
        operations = kladana.get("operations")
        rows = operations if isinstance(operations, list) else []
        return [
            _link("pays", operation, currency)
            for operation in map(object_at, rows)
            if operation is not None
        ]
    if transaction_type.name not in _REFERENCES:
        return []
    field, relation = _REFERENCES[transaction_type.name]
    reference = object_at(kladana.get(field))
    return [] if reference is None else [_link(relation, reference, currency)]


def balance_due(
    total: dict[str, Any] | None, paid: dict[str, Any] | None, currency: str | None
) -> dict[str, Any] | None:
    """What is left to pay: ``total`` less ``paid``, never below zero (an overpaid document
    owes nothing); ``None`` unless the document has both."""
    if total is None or paid is None:
        return None
    return money(max(total["minor"] - paid["minor"], 0), currency)


def paid(kladana: Mapping[str, Any], currency: str | None) -> dict[str, Any] | None:
    """The amount paid on a document; ``None`` where it has none (payments, transfers)."""
    # Kladana's field table says paidSum where its examples say payedSum.
    found = next(
        (kladana[key] for key in ("payedSum", "paidSum") if kladana.get(key) is not None), None
    )
    return optional_money(found, currency)


def _link(relation: str, reference: Mapping[str, Any], currency: str | None) -> dict[str, Any]:
    meta = object_at(reference.get("meta"))
    entity = text_at(meta, "type")
    known = TRANSACTION_TYPES.by_entity(entity) if entity is not None else None
    total = optional_money(reference.get("sum"), currency)
    return {
        "relation": relation,
        "type": known.name if known is not None else entity,
        "id": text_at(reference, "id") or _id_in(text_at(meta, "href")),
        "number": text_at(reference, "name"),
        "sum": total,
        # How much of this payment went to that document; a shipment or return has none.
        "applied": optional_money(reference.get("linkedSum"), currency)
        if relation == "pays"
        else None,
        "balance_due": balance_due(total, paid(reference, currency), currency),
    }


def _id_in(href: str | None) -> str | None:
    """The id ending a reference's ``meta.href`` (``.../entity/customerorder/<id>?...``)."""
    if href is None:
        return None
    last = href.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return last or None
