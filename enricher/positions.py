"""A document's positions (its lines: product, quantity, price) for subscribers.

Positions are a collection: without ``expand`` Kladana sends only ``{"meta": {"size":
N}}``; with ``expand=positions.assortment`` it adds ``rows``, each with its product (or
service, variant, bundle) inlined. Kladana expands at most 100 rows of a collection, so
a longer document arrives with only part of its positions: ``positions_total`` is the
real count and ``positions_complete`` says whether ``positions`` holds them all.
"""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from enricher.kladana_values import (
    collection_rows,
    collection_size,
    minor_units,
    money,
    number,
    object_at,
    rounded,
    text_at,
)


def positions_of(kladana: Mapping[str, Any], currency: str | None) -> dict[str, Any]:
    """``positions``, ``positions_total`` and ``positions_complete`` of the document.

    All three are ``None`` for a document without positions (a payment).
    """
    collection = object_at(kladana.get("positions"))
    if collection is None:
        return {"positions": None, "positions_total": None, "positions_complete": None}
    total = collection_size(collection)
    rows = collection_rows(collection)
    if rows is not None:
        positions: list[dict[str, Any]] | None = [_position(row, currency) for row in rows]
    else:
        # Not expanded: nothing to list, unless there is nothing to list.
        positions = [] if total == 0 else None
    complete = positions is not None and total is not None and len(positions) >= total
    return {"positions": positions, "positions_total": total, "positions_complete": complete}


def _position(row: Mapping[str, Any], currency: str | None) -> dict[str, Any]:
    assortment = object_at(row.get("assortment"))
    quantity = number(row.get("quantity"))
    price = minor_units(row.get("price"))
    discount = number(row.get("discount"))
    return {
        "id": text_at(row, "id"),
        "name": text_at(assortment, "name"),
        "code": text_at(assortment, "code"),
        "article": text_at(assortment, "article"),
        "kind": text_at(object_at(assortment.get("meta")) if assortment else None, "type"),
        "quantity": quantity,
        "price": None if price is None else money(price, currency),
        "discount": discount,
        "vat": _vat(row),
        "sum": _line_sum(price, quantity, discount, currency),
    }


def _vat(row: Mapping[str, Any]) -> int | float | None:
    # Kladana writes "without VAT" as vat 0 with vatEnabled false; 0 % is vatEnabled true.
    return None if row.get("vatEnabled") is False else number(row.get("vat"))


def _line_sum(
    price: int | None, quantity: float | None, discount: float | None, currency: str | None
) -> dict[str, Any] | None:
    """price times quantity less the discount (a negative discount is a margin), as Kladana
    computes a line; VAT that Kladana adds on top (``vatIncluded`` false) is not in it."""
    if price is None or quantity is None:
        return None
    share = (100 - Decimal(str(discount or 0))) / 100
    return money(rounded(Decimal(price) * Decimal(str(quantity)) * share), currency)
