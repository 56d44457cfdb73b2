"""Documents made up from their id, so load tests can ask for thousands of distinct ones.

A synthesized document is a bundled document of the same entity (the seed order for an
entity with none bundled) with a new id, number, moment, sum, state, positions (the
template's rows repeated to a new count, with new ids) and customer, all derived from
the entity and id: asking twice gives the same answer.
"""

import copy
import random
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sandbox.documents import SEED_ORDER_ID, SandboxDocuments

_MONEY_FIELDS = ("payedSum", "paidSum", "shippedSum", "invoicedSum", "reservedSum")
_FIRST_NAMES = ("Aarav", "Diya", "Ishaan", "Kavya", "Rohan", "Ananya", "Vikram", "Sneha")
_LAST_NAMES = ("Sharma", "Iyer", "Patel", "Reddy", "Nair", "Gupta", "Menon", "Singh")
_EPOCH = datetime(2024, 1, 1)
_KLADANA_TIME = "%Y-%m-%d %H:%M:%S.000"


def is_canonical_uuid(text: str) -> bool:
    """Kladana ids are lower-case, hyphenated UUIDs; anything else is not an id."""
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


class Synthesizer:
    """Makes a document of any entity for any UUID, shaped like the bundled ones."""

    def __init__(self, bundled: SandboxDocuments) -> None:
        self._templates: dict[str, Mapping[str, Any]] = {}
        self._states: dict[str, list[Mapping[str, Any]]] = {}
        for document in bundled:
            entity = document["meta"]["type"]
            # Every synthesized document gets a customer and a sum (load scenarios write over
            # them), so a Move or a Production Task is made from the seed order's shape.
            if "agent" not in document:
                continue
            self._templates.setdefault(entity, document)
            states = self._states.setdefault(entity, [])
            if document["state"]["name"] not in {state["name"] for state in states}:
                states.append(document["state"])
        self._fallback = bundled.find("customerorder", SEED_ORDER_ID) or next(iter(bundled), None)

    def document(self, entity: str, document_id: str) -> dict[str, Any] | None:
        """The document ``entity``/``document_id`` stands for; None if the id is no UUID."""
        template = self._templates.get(entity, self._fallback)
        if template is None or not is_canonical_uuid(document_id):
            return None
        dice = random.Random(f"{entity}/{document_id}")
        old_entity = template["meta"]["type"]
        document: dict[str, Any] = _retarget(
            template, old_entity, entity, template["id"], document_id, key=""
        )
        document["id"] = document_id
        document["name"] = str(dice.randrange(10_000, 100_000))
        moment = _EPOCH + timedelta(seconds=dice.randrange(366 * 86_400))
        document["moment"] = moment.strftime(_KLADANA_TIME)
        document["updated"] = (moment + timedelta(minutes=dice.randrange(1, 600))).strftime(
            _KLADANA_TIME
        )
        _set_sum(document, template, dice.randrange(100, 200_000) * 100)
        states = self._states.get(entity, [])
        if states:
            document["state"] = copy.deepcopy(dice.choice(states))
        document["agent"] = _customer(document["agent"], dice)
        if "positions" in document:
            _set_positions(document["positions"], entity, dice.randint(1, 5), dice)
        return document


def _retarget(
    value: Any, old_entity: str, new_entity: str, old_id: str, new_id: str, *, key: str
) -> Any:
    """A deep copy of ``value`` with the template's entity and id swapped for the new ones."""
    if isinstance(value, Mapping):
        return {
            item_key: _retarget(item, old_entity, new_entity, old_id, new_id, key=item_key)
            for item_key, item in value.items()
        }
    if isinstance(value, list):
        return [_retarget(item, old_entity, new_entity, old_id, new_id, key=key) for item in value]
    if not isinstance(value, str):
        return value
    if key in ("href", "metadataHref"):
        return value.replace(f"/entity/{old_entity}/", f"/entity/{new_entity}/").replace(
            old_id, new_id
        )
    # ``type`` covers the document (customerorder) and its positions (customerorderposition).
    if key in ("type", "entityType") and value.startswith(old_entity):
        return new_entity + value.removeprefix(old_entity)
    return value


def _set_sum(document: dict[str, Any], template: Mapping[str, Any], total: int) -> None:
    """A new ``sum``; paid, shipped, ... keep their share of it as in the template."""
    document["sum"] = total
    for field in _MONEY_FIELDS:
        if field in document and template["sum"]:
            document[field] = round(template[field] * total / template["sum"])


def _set_positions(positions: dict[str, Any], entity: str, size: int, dice: random.Random) -> None:
    """``size`` positions: the template's rows over again, each with an id of its own."""
    positions["meta"]["size"] = size
    template_rows = positions.get("rows") or []
    if template_rows:
        positions["rows"] = [
            _with_new_id(template_rows[index % len(template_rows)], entity, _dice_id(dice))
            for index in range(size)
        ]


def _with_new_id(row: Mapping[str, Any], entity: str, new_id: str) -> dict[str, Any]:
    renamed: dict[str, Any] = _retarget(row, entity, entity, row["id"], new_id, key="")
    renamed["id"] = new_id
    return renamed


def _dice_id(dice: random.Random) -> str:
    return str(uuid.UUID(int=dice.getrandbits(128), version=4))


def _customer(template_agent: Mapping[str, Any], dice: random.Random) -> dict[str, Any]:
    agent_id = _dice_id(dice)
    # The contact persons' hrefs name their counterparty: they follow it to its new id.
    agent: dict[str, Any] = _retarget(
        template_agent, "counterparty", "counterparty", template_agent["id"], agent_id, key=""
    )
    first, last = dice.choice(_FIRST_NAMES), dice.choice(_LAST_NAMES)
    # An Indian mobile: ten digits, the first 6 to 9, written as people write them.
    digits = str(dice.randint(6, 9)) + "".join(str(dice.randrange(10)) for _ in range(9))
    agent["meta"]["href"] = f"/entity/counterparty/{agent_id}"
    agent["id"] = agent_id
    agent["name"] = f"{first} {last}"
    agent["phone"] = f"+91 {digits[:5]} {digits[5:]}"
    agent["email"] = f"{first}.{last}.{digits[-4:]}@example.in".lower()
    return agent
