"""The one table of Kladana's workflow transaction types.

A workflow webhook names a type (``CustomerOrder``); the JSON API names the same
document by its entity (``customerorder``). Kladana's docs disagree on Production
Order (``productiontask`` vs ``processingorder``), so the table can be overridden.
"""

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class TransactionType:
    """One workflow ``{type}`` value, its JSON API entity and the title customers read."""

    name: str
    entity: str
    title: str


_DEFAULT_TABLE: tuple[TransactionType, ...] = (
    TransactionType("CustomerOrder", "customerorder", "Sales Order"),
    TransactionType("InvoiceOut", "invoiceout", "Sales Invoice"),
    TransactionType("PurchaseOrder", "purchaseorder", "Purchase Order"),
    TransactionType("InvoiceIn", "invoicein", "Supplier Invoice"),
    TransactionType("Demand", "demand", "Shipment"),
    TransactionType("Supply", "supply", "Receiving"),
    TransactionType("ProductionTask", "productiontask", "Production Order"),
    TransactionType("PaymentIn", "paymentin", "Incoming Payment"),
    TransactionType("PaymentOut", "paymentout", "Outgoing Payment"),
    TransactionType("CashIn", "cashin", "Incoming Cash"),
    TransactionType("CashOut", "cashout", "Outgoing Cash"),
    TransactionType("SalesReturn", "salesreturn", "Sales Return"),
    TransactionType("Move", "move", "Transfer"),
    TransactionType("PurchaseReturn", "purchasereturn", "Purchase Return"),
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
                TransactionType(t.name, overrides.get(t.name, t.entity), t.title)
                for t in self._by_name.values()
            )
        )


TRANSACTION_TYPES = TypeTable(_DEFAULT_TABLE)
