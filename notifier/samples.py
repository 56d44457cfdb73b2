"""Sample enriched documents: what rules are checked against at start-up and by
``check-rules``.

Each type has its own sample, with the fields that type has and ``None`` where it has
none (a Move has no counterparty and no sum, a Production Task neither, a payment no
state by default), so a template that does not render on the sample of its rule's type
is wrong, not the document. The values are those of the seed example (Sales Order 5643,
10.06.2024, 50,000 rupees), of which payment 00031 paid 20,000, leaving 30,000 due.
"""

from collections.abc import Mapping
from typing import Any

from notifier.fields import ATTRIBUTE_FAMILIES
from shared.kladana_types import TRANSACTION_TYPES


def _money(amount: int) -> dict[str, Any]:
    return {"minor": amount * 100, "amount": f"{amount}.00", "currency": "INR"}


SAMPLE_DOCUMENT: dict[str, Any] = {
    "id": "34efe2ee-015e-11e6-9464-e4de0000006b",
    "type": "CustomerOrder",
    "entity": "customerorder",
    "href": "https://api.kladana.com/api/remap/1.2/entity/customerorder/34efe2ee-015e-11e6-9464-e4de0000006b",
    "number": "5643",
    "moment": "2024-06-10T12:57:00+03:00",
    "sum": _money(50000),
    "state": "Shipped",
    "agent": {
        "id": "a1",
        "name": "Ravi Kumar",
        "phone": "+91 98765 43210",
        "email": "r@k.in",
        "tags": ["retail"],
        "attributes": {},
        "contacts": [{"name": "Anil Gupta", "phone": "+91 98765 43211", "email": None}],
    },
    "organization": {"name": "Acme Traders"},
    "attributes": {},
    "links": [],
    "balance_due": _money(30000),
}
"""A complete enriched ``document`` of the seed order, with every field rules read
(tags, contacts and attributes included)."""

_PAYMENTS = ("PaymentIn", "PaymentOut", "CashIn", "CashOut")
_WITHOUT_COUNTERPARTY_OR_SUM = ("Move", "ProductionTask")
_LINKED: Mapping[str, tuple[str, str]] = {
    "PaymentIn": ("pays", "CustomerOrder"),
    "CashIn": ("pays", "CustomerOrder"),
    "PaymentOut": ("pays", "PurchaseOrder"),
    "CashOut": ("pays", "PurchaseOrder"),
    "Demand": ("ships", "CustomerOrder"),
    "SalesReturn": ("returns", "Demand"),
    "PurchaseReturn": ("returns", "Supply"),
}
"""What each type's sample links to: (relation, type) of its one link."""


def sample_document(
    type_name: str, state: str | None = None, attributes: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The sample of ``type_name`` in ``state`` (``None``: the state the type's sample
    has by default, none for payments); ``attributes`` maps attribute paths
    (``attributes.Courier``, ``agent.attributes.Mobile``) to their sample values."""
    kind = TRANSACTION_TYPES.by_name(type_name)
    entity = kind.entity if kind else type_name.lower()
    document_attributes: dict[str, str] = {}
    agent_attributes: dict[str, str] = {}
    for path, value in (attributes or {}).items():
        agent_family, document_family = ATTRIBUTE_FAMILIES[1], ATTRIBUTE_FAMILIES[0]
        if path.startswith(agent_family):
            agent_attributes[path[len(agent_family) :]] = value
        elif path.startswith(document_family):
            document_attributes[path[len(document_family) :]] = value
    document: dict[str, Any] = {
        **SAMPLE_DOCUMENT,
        "type": type_name,
        "entity": entity,
        "href": f"https://api.kladana.com/api/remap/1.2/entity/{entity}/{SAMPLE_DOCUMENT['id']}",
        "state": state if state is not None else _default_state(type_name),
        "agent": {**SAMPLE_DOCUMENT["agent"], "attributes": agent_attributes},
        "attributes": document_attributes,
        "links": _links(type_name),
    }
    if type_name in _PAYMENTS:
        # A payment has no paid sum of its own: what is due is its order's (link.balance_due).
        document.update(number="00031", sum=_money(20000), balance_due=None)
    if type_name in _WITHOUT_COUNTERPARTY_OR_SUM:
        document.update(agent=None, sum=None, balance_due=None)
    return document


def _default_state(type_name: str) -> str | None:
    return None if type_name in _PAYMENTS else SAMPLE_DOCUMENT["state"]


def _links(type_name: str) -> list[dict[str, Any]]:
    if type_name not in _LINKED:
        return []
    relation, linked_type = _LINKED[type_name]
    applied = _money(20000) if relation == "pays" else None
    return [
        {
            "relation": relation,
            "type": linked_type,
            "id": "a5f2022a-eb25-11f1-a1e8-02fc00000001",
            "number": "5643",
            "sum": _money(50000),
            "applied": applied,
            "balance_due": _money(30000),
        }
    ]
