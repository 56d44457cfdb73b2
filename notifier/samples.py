"""Sample enriched documents: what rules are checked against at start-up and by
``check-rules``.

A sample has every field a template can name, so a template that does not render on
the sample of its rule's type is wrong, not the document. The values are those of the
seed example (Sales Order 5643, 10.06.2024, 50,000 rupees).
"""

from collections.abc import Mapping
from typing import Any

from notifier.fields import ATTRIBUTE_FAMILIES
from shared.kladana_types import TRANSACTION_TYPES

SAMPLE_DOCUMENT: dict[str, Any] = {
    "id": "34efe2ee-015e-11e6-9464-e4de0000006b",
    "type": "CustomerOrder",
    "entity": "customerorder",
    "href": "https://api.kladana.com/api/remap/1.2/entity/customerorder/34efe2ee-015e-11e6-9464-e4de0000006b",
    "number": "5643",
    "moment": "2024-06-10T12:57:00+03:00",
    "sum": {"minor": 5000000, "amount": "50000.00", "currency": "INR"},
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
}
"""A complete enriched ``document`` of the seed order, with every field rules read
(tags, contacts and attributes included)."""


def sample_document(
    type_name: str, state: str, attributes: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The sample of ``type_name`` in ``state``; ``attributes`` maps attribute paths
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
    return {
        **SAMPLE_DOCUMENT,
        "type": type_name,
        "entity": entity,
        "href": f"https://api.kladana.com/api/remap/1.2/entity/{entity}/{SAMPLE_DOCUMENT['id']}",
        "state": state,
        "agent": {**SAMPLE_DOCUMENT["agent"], "attributes": agent_attributes},
        "attributes": document_attributes,
    }
