"""Which ``expand`` paths Kladana refuses for a type (error 1089, "Expand field {path} is not
supported").

A path is refused when its first field is not one the type can expand: the fields the
API docs (``source/includes/documents/``) mark ``+Expand`` in the type's attribute
table, plus the links and collections the docs' examples show expanded (``rate``,
``operations``, ``customerOrder``...). The check goes by type, not by document: a
Shipment that ships no order may still be asked to expand ``customerOrder``. Deeper steps
are not checked (the docs name no refusal of them but Production Task's).
"""

from collections.abc import Mapping

_DOCUMENT = frozenset({"owner", "group", "files", "project", "organization", "state", "rate"})
_TRADE = _DOCUMENT | {
    "agent",
    "agentAccount",
    "contract",
    "organizationAccount",
    "positions",
    "store",
    "salesChannel",
}
_PAYMENT = _DOCUMENT | {"agent", "contract", "salesChannel", "operations"}
_BANK_PAYMENT = _PAYMENT | {"agentAccount", "organizationAccount"}

EXPANDABLE: Mapping[str, frozenset[str]] = {
    "customerorder": _TRADE | {"invoicesOut", "demands", "payments", "purchaseOrders", "moves"},
    "invoiceout": _TRADE | {"customerOrder", "demands", "payments"},
    "purchaseorder": _TRADE | {"customerOrders", "invoicesIn", "supplies", "payments"},
    "invoicein": _TRADE | {"purchaseOrder", "supplies", "payments"},
    "demand": _TRADE | {"customerOrder", "invoicesOut", "returns", "payments"},
    "supply": _TRADE | {"purchaseOrder", "invoicesIn", "returns", "payments"},
    "salesreturn": _TRADE | {"demand", "payments"},
    "purchasereturn": _TRADE | {"supply", "payments"},
    "paymentin": _BANK_PAYMENT,
    "paymentout": _BANK_PAYMENT | {"expenseItem"},
    "cashin": _PAYMENT,
    "cashout": _PAYMENT | {"expenseItem"},
    # A transfer between the account's own stores: no counterparty.
    "move": _DOCUMENT
    | {"positions", "sourceStore", "targetStore", "customerOrder", "internalOrder"},
    # No counterparty, sum, currency or positions; ``products`` is not marked ``+Expand``.
    "productiontask": frozenset(
        {"owner", "group", "files", "organization", "state", "materialsStore", "productsStore"}
        | {"productionRows"}
    ),
}

# "For the productionRows field expand of nested fields is not available" (the docs).
_NO_NESTED_EXPAND: Mapping[str, frozenset[str]] = {"productiontask": frozenset({"productionRows"})}


def unsupported_expand(entity: str, paths: frozenset[str]) -> str | None:
    """The first path (alphabetically) of ``paths`` the type refuses, if any. Entities the
    table does not know (``processingorder``) refuse nothing."""
    expandable = EXPANDABLE.get(entity)
    if expandable is None:
        return None
    return next((path for path in sorted(paths) if not _supported(entity, expandable, path)), None)


def _supported(entity: str, expandable: frozenset[str], path: str) -> bool:
    field, _, rest = path.partition(".")
    return field in expandable and not (rest and field in _NO_NESTED_EXPAND.get(entity, ()))
