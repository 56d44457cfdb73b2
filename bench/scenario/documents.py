"""The documents a scenario creates: the facts the runner picks for each, and those facts
as Kladana's JSON for the sandbox to serve.

The runner chooses every fact an SMS depends on (type, state, number, date, sum, the
counterparty's phone as people type it, its opt-out flag) and knows what it meant by each
(which mobile number a phone text holds, whether a flag says "opted out"), so it can say
which SMS a document must cause without asking the notifier (``expectations.py``).
"""

import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bench.scenario.stack import OPT_OUT_ATTRIBUTE
from sandbox.documents import SandboxDocuments
from sandbox.synthetic import Synthesizer
from shared.kladana_types import TRANSACTION_TYPES

KLADANA_TIME = "%Y-%m-%d %H:%M:%S.000"
LANDLINE = "080 2345 6789"
"""A Bengaluru landline: it cannot get an SMS."""
OTHER_STATES = ("Cancelled", "Draft")
"""States no rule of the scenario names."""


@dataclass(frozen=True)
class PlannedDocument:
    id: str
    type: str
    """The workflow type, e.g. ``CustomerOrder``."""
    number: str
    """Kladana's ``name``: text, leading zeros included."""
    moment: datetime
    """The document date as Kladana writes it: without a zone, in Kladana's (Moscow)."""
    sum_paise: int
    state: str
    """The state's name as the shop wrote it (case varies)."""
    phone: str | None
    """The counterparty's phone field, free text; ``None``: the field is empty."""
    mobile: str | None
    """The number in ``phone`` an SMS goes to, E.164; ``None``: it holds none."""
    opt_out: bool | str | None
    """The counterparty's opt-out attribute as Kladana holds it; ``None``: not set."""
    opted_out: bool
    """What ``opt_out`` says."""

    @property
    def entity(self) -> str:
        known = TRANSACTION_TYPES.by_name(self.type)
        assert known is not None, self.type
        return known.entity


# (value in Kladana, whether it means "opted out"): a flag or a yes/no text field.
_OPT_OUTS: tuple[tuple[bool | str, bool], ...] = (
    (True, True),
    (False, False),
    ("Yes", True),
    ("no", False),
)


def random_document(
    rng: random.Random,
    document_id: str,
    type_name: str,
    *,
    rule_states: Sequence[str],
    taken_numbers: set[str],
) -> PlannedDocument:
    """A document of ``type_name``, mostly in one of ``rule_states`` (the states the
    scenario's rules name for the type), with a mobile number no other document has."""
    phone, mobile = _phone(rng, taken_numbers)
    opt_out, opted_out = rng.choice(_OPT_OUTS) if rng.random() < 0.2 else (None, False)
    return PlannedDocument(
        id=document_id,
        type=type_name,
        number=f"{rng.randrange(100_000):05d}",
        moment=datetime(2024, 1, 1) + timedelta(seconds=rng.randrange(366 * 86_400)),
        sum_paise=_sum_paise(rng),
        state=_state(rng, rule_states),
        phone=phone,
        mobile=mobile,
        opt_out=opt_out,
        opted_out=opted_out,
    )


def _state(rng: random.Random, rule_states: Sequence[str]) -> str:
    if not rule_states or rng.random() < 0.2:
        return rng.choice(OTHER_STATES)
    state = rng.choice(rule_states)
    # Rules match state names ignoring case: people type them as they like.
    return rng.choice((state, state, state, state.lower(), state.upper()))


def _sum_paise(rng: random.Random) -> int:
    """Whole rupees, rupees and paise, or right at the big-order threshold (1,00,000)."""
    kind = rng.random()
    if kind < 0.15:
        return rng.choice((100_000_00, 99_999_99, 100_000_01))
    rupees = rng.randrange(1, 200_000)
    return rupees * 100 + (rng.randrange(1, 100) if kind < 0.4 else 0)


def _phone(rng: random.Random, taken: set[str]) -> tuple[str | None, str | None]:
    """(the phone field, the mobile number in it). Any ten digits starting with 9 are an
    Indian mobile; the numbers are written with and without +91, with a trunk 0, after a
    landline; some fields hold no mobile at all."""
    kind = rng.random()
    if kind < 0.05:
        return None, None
    if kind < 0.1:
        return LANDLINE, None
    if kind < 0.13:
        return "call the office", None
    digits = f"9{rng.randrange(10**9):09d}"
    while f"+91{digits}" in taken:
        digits = f"9{rng.randrange(10**9):09d}"
    taken.add(f"+91{digits}")
    written = rng.choice(
        (
            f"+91 {digits[:5]} {digits[5:]}",
            f"{digits[:5]} {digits[5:]}",
            f"0{digits[:5]}-{digits[5:]}",
            f"+91-{digits}",
            digits,
            f"{LANDLINE}, {digits[:5]} {digits[5:]}",
        )
    )
    return written, f"+91{digits}"


class ScenarioDocuments(SandboxDocuments):
    """The sandbox's documents: exactly the scenario's, each made as Kladana's JSON when the
    enricher asks for it (a long run plans tens of thousands: they are not kept)."""

    def __init__(self, documents: Mapping[str, PlannedDocument]) -> None:
        super().__init__(())
        self._planned = documents
        self._shapes = Synthesizer(SandboxDocuments.bundled())

    def find(self, entity: str, document_id: str) -> Mapping[str, Any] | None:
        planned = self._planned.get(document_id)
        if planned is None or planned.entity != entity:
            return None
        return kladana_document(planned, self._shapes)


def kladana_document(planned: PlannedDocument, shapes: Synthesizer) -> dict[str, Any]:
    """``planned`` as Kladana's JSON: a synthesized document of its entity (so positions,
    organization and the rest look real) with the planned facts written over it."""
    document = shapes.document(planned.entity, planned.id)
    assert document is not None, planned.id
    document["name"] = planned.number
    document["moment"] = planned.moment.strftime(KLADANA_TIME)
    document["updated"] = (planned.moment + timedelta(minutes=5)).strftime(KLADANA_TIME)
    document["sum"] = planned.sum_paise
    document["state"] = _kladana_state(planned.entity, planned.state)
    agent = document["agent"]
    agent.pop("phone", None)
    if planned.phone is not None:
        agent["phone"] = planned.phone
    attributes = agent.get("attributes") or []
    if planned.opt_out is not None:
        attributes = [*attributes, _opt_out_attribute(planned.opt_out)]
    agent["attributes"] = attributes
    return document


def _kladana_state(entity: str, name: str) -> dict[str, Any]:
    state_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{entity}/state/{name}"))
    return {
        "meta": {
            "href": f"/entity/{entity}/metadata/states/{state_id}",
            "metadataHref": f"/entity/{entity}/metadata",
            "type": "state",
            "mediaType": "application/json",
        },
        "id": state_id,
        "name": name,
        "stateType": "Regular",
        "entityType": entity,
    }


def _opt_out_attribute(value: bool | str) -> dict[str, Any]:
    attribute_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"counterparty/{OPT_OUT_ATTRIBUTE}"))
    return {
        "meta": {
            "href": f"/entity/counterparty/metadata/attributes/{attribute_id}",
            "type": "attributemetadata",
            "mediaType": "application/json",
        },
        "id": attribute_id,
        "name": OPT_OUT_ATTRIBUTE,
        "type": "boolean" if isinstance(value, bool) else "string",
        "value": value,
    }
