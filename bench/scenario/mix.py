"""The webhooks a scenario sends: a seeded, realistic mix planned before the run starts.

Planning everything up front (pure, no I/O) makes a run reproducible from its seed and
lets the unit tests check the mix without a pipeline. What Kladana really sends: workflow
webhooks (``?id=&type=``, GET or POST) for all 14 transaction types, the same webhook
again, bursts on one document (a document edited several times in a row), native API
webhooks (``POST ?requestId=`` with an ``events`` body, some also about an entity that is
none of the 14 types, which ingest skips) including Kladana's own retries with the same
``requestId``, ids Kladana cannot find, and garbage.

Every document the mix names is one it made up (``documents.py``): the sandbox serves
exactly those, and the plan declares, for each, the SMS it must cause
(``expectations.py``), which the reconciliation holds the provider's record to.
"""

import json
import random
import uuid
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from bench.scenario.documents import PlannedDocument, random_document
from bench.scenario.expectations import ExpectedSms, expected_sms, rule_states
from shared.kladana_types import TRANSACTION_TYPES

API_BASE = "https://api.kladana.com/api/remap/1.2"
BURST_SIZE = 5
BURST_SPACING_S = 0.02
MIXED_SHARE = 0.3
"""Of native webhooks, those that also hold an event about another entity."""
OTHER_ENTITY = "counterparty"
"""An entity a native webhook may watch that is none of the 14 types."""


class Expect(Enum):
    ACCEPT = "accept"
    REJECT = "reject"


@dataclass(frozen=True)
class PlannedRequest:
    """One HTTP request to ingest, ``at_s`` seconds after the drive started."""

    at_s: float
    label: str
    """What it stands for: new, repeat, burst, native, native-repeat, gone, malformed:..."""
    method: str
    params: dict[str, str]
    body: bytes | None
    expect: Expect
    documents: tuple[str, ...] = field(default=())
    """The document ids it names (empty for malformed requests)."""

    @property
    def native(self) -> bool:
        return "requestId" in self.params


# Relative weights of the kinds of step; a burst step sends BURST_SIZE requests.
WEIGHTS: dict[str, int] = {
    "new": 50,
    "repeat": 10,
    "burst": 4,
    "native": 14,
    "native-repeat": 4,
    "gone": 3,
    "malformed": 10,
}

MALFORMED = (
    "missing_id",
    "invalid_type",
    "invalid_id",
    "wrong_token",
    "no_token",
    "bad_json",
    "invalid_href",
    "method",
)


@dataclass(frozen=True)
class Plan:
    requests: list[PlannedRequest]
    """Sorted by time."""
    documents: dict[str, PlannedDocument]
    """Every document the requests name that Kladana has, by id."""
    sms: dict[str, tuple[ExpectedSms, ...]]
    """The SMS each of those documents must cause, by document id."""


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class _Planner:
    def __init__(self, rng: random.Random, token: str) -> None:
        self.rng = rng
        self.token = token
        self.documents: list[PlannedDocument] = []
        """Every document named so far: targets of repeats and bursts."""
        self.numbers: set[str] = set()
        """Their mobile numbers: one each, so an SMS tells which document it is about."""
        self.workflow: list[PlannedRequest] = []
        self.natives: list[PlannedRequest] = []

    def new_document(self) -> PlannedDocument:
        type_name = self.rng.choice(TRANSACTION_TYPES.names)
        document = random_document(
            self.rng,
            _uuid(self.rng),
            type_name,
            rule_states=rule_states(type_name),
            taken_numbers=self.numbers,
        )
        self.documents.append(document)
        return document

    def known_document(self) -> PlannedDocument:
        return self.rng.choice(self.documents) if self.documents else self.new_document()

    def workflow_request(
        self, at_s: float, label: str, document_id: str, type_name: str
    ) -> PlannedRequest:
        method = self.rng.choice(("GET", "POST"))
        params = {"id": document_id, "type": type_name, "token": self.token}
        request = PlannedRequest(at_s, label, method, params, None, Expect.ACCEPT, (document_id,))
        self.workflow.append(request)
        return request

    def native_request(self, at_s: float) -> PlannedRequest:
        documents = [
            self.new_document() if self.rng.random() < 0.7 else self.known_document()
            for _ in range(self.rng.randint(1, 3))
        ]
        events = [_native_event(document.id, _entity(document.type)) for document in documents]
        if self.rng.random() < MIXED_SHARE:
            # Anywhere among them: the known events' ids must not depend on its place.
            other = _native_event(_uuid(self.rng), OTHER_ENTITY)
            events.insert(self.rng.randint(0, len(events)), other)
        body = json.dumps({"events": events}).encode()
        params = {"requestId": _uuid(self.rng), "token": self.token}
        request = PlannedRequest(
            at_s, "native", "POST", params, body, Expect.ACCEPT, tuple(d.id for d in documents)
        )
        self.natives.append(request)
        return request

    def step(self, at_s: float) -> list[PlannedRequest]:
        kind = self.rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        if kind == "repeat" and self.workflow:
            earlier = self.rng.choice(self.workflow)
            return [
                PlannedRequest(
                    at_s,
                    "repeat",
                    earlier.method,
                    dict(earlier.params),
                    None,
                    Expect.ACCEPT,
                    earlier.documents,
                )
            ]
        if kind == "burst":
            document = self.known_document()
            return [
                self.workflow_request(
                    at_s + n * BURST_SPACING_S, "burst", document.id, document.type
                )
                for n in range(BURST_SIZE)
            ]
        if kind == "native":
            return [self.native_request(at_s)]
        if kind == "native-repeat" and self.natives:
            earlier = self.rng.choice(self.natives)
            return [
                PlannedRequest(
                    at_s,
                    "native-repeat",
                    "POST",
                    dict(earlier.params),
                    earlier.body,
                    Expect.ACCEPT,
                    earlier.documents,
                )
            ]
        if kind == "gone":
            # Not a UUID: the sandbox knows no such document (404), as for a deleted one.
            gone = f"gone-{self.rng.getrandbits(64):016x}"
            type_name = self.rng.choice(TRANSACTION_TYPES.names)
            return [self.workflow_request(at_s, "gone", gone, type_name)]
        if kind == "malformed":
            return [self.malformed(at_s, self.rng.choice(MALFORMED))]
        document = self.new_document()
        return [self.workflow_request(at_s, "new", document.id, document.type)]

    def malformed(self, at_s: float, kind: str) -> PlannedRequest:
        document_id, type_name = _uuid(self.rng), self.rng.choice(TRANSACTION_TYPES.names)
        token = {"token": self.token}
        params: dict[str, str] = {"id": document_id, "type": type_name, **token}
        method, body = "POST", None
        if kind == "missing_id":
            params = {"type": type_name, **token}
        elif kind == "invalid_type":
            params["type"] = "Invoice"
        elif kind == "invalid_id":
            params["id"] = "../../etc/passwd"
        elif kind == "wrong_token":
            params["token"] = "not-the-token"  # noqa: S105 - a wrong token on purpose
        elif kind == "no_token":
            del params["token"]
        elif kind == "method":
            method = "PUT"
        else:
            event = _native_event(document_id, _entity(type_name))
            if kind == "invalid_href":
                event["meta"]["href"] = "https://api.kladana.com/not/an/entity"
            body = b"{not json" if kind == "bad_json" else json.dumps({"events": [event]}).encode()
            params = {"requestId": _uuid(self.rng), **token}
        return PlannedRequest(at_s, f"malformed:{kind}", method, params, body, Expect.REJECT)


def _entity(type_name: str) -> str:
    known = TRANSACTION_TYPES.by_name(type_name)
    assert known is not None
    return known.entity


def _native_event(document_id: str, entity: str) -> dict[str, Any]:
    return {
        "meta": {"type": entity, "href": f"{API_BASE}/entity/{entity}/{document_id}"},
        "action": "UPDATE",
        "accountId": "84e60e93-f15f-11e5-7a69-97110003c5a1",
        "updatedFields": ["state"],
    }


def plan_webhooks(*, seed: int, rate: float, duration_s: float, token: str) -> Plan:
    """About ``rate`` requests per second for ``duration_s``, and their documents."""
    rng = random.Random(seed)
    planner = _Planner(rng, token)
    requests: list[PlannedRequest] = []
    at_s = 0.0
    while at_s < duration_s:
        step = planner.step(at_s)
        requests.extend(r for r in step if r.at_s < duration_s)
        at_s += len(step) / rate
    named = {document_id for request in requests for document_id in request.documents}
    documents = {d.id: d for d in planner.documents if d.id in named}
    return Plan(
        sorted(requests, key=lambda r: r.at_s),
        documents,
        {document_id: expected_sms(document) for document_id, document in documents.items()},
    )
