"""The one table of Kladana's workflow transaction types.

A workflow webhook names a type (``CustomerOrder``); the JSON API names the same
document by its entity (``customerorder``). Kladana's docs disagree on Production
Order (``productiontask`` vs ``processingorder``), so the table can be overridden.

The table also says what the enricher asks Kladana to ``expand`` for each type: only
fields the type has (API docs, ``source/includes/documents/``), since Kladana may refuse
an expand of a field a type lacks.
"""

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class TransactionType:
    """One workflow ``{type}`` value, its JSON API entity, the title customers read and
    the references the enricher expands (Kladana's ``expand`` paths)."""

    name: str
    entity: str
    title: str
    expand: tuple[str, ...] = ()


# At most 2 levels deep (Kladana allows 3). Collections come with at most 100 rows.
_COUNTERPARTY = ("agent", "agent.contactpersons")
_COMMON = ("state", "organization", "rate.currency")
_POSITIONS = ("positions", "positions.assortment")
_TRADE = (*_COUNTERPARTY, *_COMMON, *_POSITIONS)
# Payments and cash documents have no positions; ``operations`` are the documents they pay.
_PAYMENT = (*_COUNTERPARTY, *_COMMON, "operations")

_DEFAULT_TABLE: tuple[TransactionType, ...] = (
    TransactionType("CustomerOrder", "customerorder", "Sales Order", _TRADE),
    TransactionType("InvoiceOut", "invoiceout", "Sales Invoice", _TRADE),
    TransactionType("PurchaseOrder", "purchaseorder", "Purchase Order", _TRADE),
    TransactionType("InvoiceIn", "invoicein", "Supplier Invoice", _TRADE),
    TransactionType("Demand", "demand", "Shipment", (*_TRADE, "customerOrder")),
    TransactionType("Supply", "supply", "Receiving", _TRADE),
    # No agent, sum, currency or positions; products is not expandable, productionRows is
    # (without nested fields).
    TransactionType(
        "ProductionTask",
        "productiontask",
        "Production Order",
        ("state", "organization", "productionRows"),
    ),
    TransactionType("PaymentIn", "paymentin", "Incoming Payment", _PAYMENT),
    TransactionType("PaymentOut", "paymentout", "Outgoing Payment", _PAYMENT),
    TransactionType("CashIn", "cashin", "Incoming Cash", _PAYMENT),
    TransactionType("CashOut", "cashout", "Outgoing Cash", _PAYMENT),
    TransactionType("SalesReturn", "salesreturn", "Sales Return", (*_TRADE, "demand")),
    # A transfer between the account's own stores: no counterparty.
    TransactionType(
        "Move", "move", "Transfer", (*_COMMON, *_POSITIONS, "sourceStore", "targetStore")
    ),
    TransactionType("PurchaseReturn", "purchasereturn", "Purchase Return", (*_TRADE, "supply")),
)


class TypeTable:
    """Look-ups by workflow type name and by API entity."""

    def __init__(self, types: tuple[TransactionType, ...]) -> None:
        self._by_name = {t.name: t for t in types}
        self._by_entity = {t.entity: t for t in types}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def by_name(self, name: str) -> TransactionType | None:
        return self._by_name.get(name)

    def by_entity(self, entity: str) -> TransactionType | None:
        return self._by_entity.get(entity)

    def with_entities(self, overrides: Mapping[str, str]) -> "TypeTable":
        """A copy whose entities are replaced for the type names in ``overrides``.

        Raises ``KeyError`` naming an override for a type that does not exist.
        """
        unknown = set(overrides) - set(self._by_name)
        if unknown:
            raise KeyError(f"unknown transaction types: {', '.join(sorted(unknown))}")
        return TypeTable(
            tuple(
                TransactionType(t.name, overrides.get(t.name, t.entity), t.title, t.expand)
                for t in self._by_name.values()
            )
        )


TRANSACTION_TYPES = TypeTable(_DEFAULT_TABLE)
