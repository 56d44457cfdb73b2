"""The Kladana client per type over HTTP: the type's expand, a refused expand fetched again
without it, a forbidden type (403, code 1016) told from a refused token.

A small fake Kladana of its own, served over HTTP, answers as the API docs describe
(_errors.md: 1016 "Access Denied", 1089 "Expand field ... is not supported").
"""

import json
from collections.abc import Iterator

import pytest
import requests
from flask import Flask, Response, request
from kafka.structs import TopicPartition
from prometheus_client import CollectorRegistry

from devstack.http_server import BackgroundServer
from enricher.errors import KladanaAuthFailed, TypeForbidden
from enricher.metrics import EnricherMetrics
from shared.batch import Polled
from shared.errors import PermanentError
from shared.events import to_record
from shared.kladana_types import TRANSACTION_TYPES
from shared.settling import Settled
from tests.enricher_fakes import raw_event, settling_processor
from tests.integration.test_enricher_kladana import make_client

MOVE = TRANSACTION_TYPES.by_name("Move")
assert MOVE is not None
ACCESS_DENIED = {
    "errors": [
        {"error": "Access Denied: You do not have permission to view this item", "code": 1016}
    ]
}


class FakeKladana:
    """Refuses any expand of the entities in ``refuses_expand``, forbids those in
    ``forbidden``, answers every request with ``refused_token`` when that is set."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.refuses_expand: set[str] = set()
        self.forbidden: set[str] = set()
        self.refused_token: tuple[int, dict[str, object]] | None = None
        self.seen: list[str] = []

    def app(self) -> Flask:
        app = Flask("fake-kladana")

        @app.get("/api/remap/1.2/entity/<entity>/<document_id>")
        def document(entity: str, document_id: str) -> Response:
            self.seen.append(request.environ["REQUEST_URI"])
            expand = request.args.get("expand")
            if self.refused_token is not None:
                return _json(*self.refused_token)
            if entity in self.forbidden:
                return _json(403, ACCESS_DENIED)
            if expand and entity in self.refuses_expand:
                first = expand.split(",")[0]
                error = {"error": f"Expand field {first} is not supported", "code": 1089}
                return _json(400, {"errors": [error]})
            return _json(200, {"id": document_id, "name": "00003", "expand": expand})

        return app


def _json(status: int, payload: dict[str, object]) -> Response:
    return Response(json.dumps(payload), status=status, content_type="application/json")


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeKladana, str]]:
    fake = FakeKladana()
    with BackgroundServer(fake.app()) as server:
        yield fake, server.url


@pytest.fixture
def fake(served: tuple[FakeKladana, str]) -> FakeKladana:
    kladana, _ = served
    kladana.reset()
    return kladana


def test_a_type_is_fetched_with_its_own_expand(
    served: tuple[FakeKladana, str], fake: FakeKladana
) -> None:
    with requests.Session() as session:
        client = make_client(session, served[1])
        client.fetch_document("move", "m1", MOVE.expand)
    assert fake.seen == [
        "/api/remap/1.2/entity/move/m1?expand=state,organization,rate.currency,positions,"
        "positions.assortment,sourceStore,targetStore"
    ]


def test_a_refused_expand_is_fetched_again_without_it(
    served: tuple[FakeKladana, str], fake: FakeKladana
) -> None:
    fake.refuses_expand = {"move"}
    registry = CollectorRegistry()
    with requests.Session() as session:
        client = make_client(session, served[1], metrics=EnricherMetrics.on(registry).kladana)
        document = client.fetch_document("move", "m1", MOVE.expand)
    assert document == {"id": "m1", "name": "00003", "expand": None}
    assert len(fake.seen) == 2
    assert "expand=" in fake.seen[0]
    assert fake.seen[1] == "/api/remap/1.2/entity/move/m1"
    refused = registry.get_sample_value("kladana_expand_refused_total", {"entity": "move"})
    assert refused == 1


def test_a_forbidden_type_is_a_permanent_error_of_its_own(
    served: tuple[FakeKladana, str], fake: FakeKladana
) -> None:
    fake.forbidden = {"cashout"}
    with requests.Session() as session:
        client = make_client(session, served[1])
        with pytest.raises(TypeForbidden) as raised:
            client.fetch_document("cashout", "c1", ("agent",))
        # Other types are not affected.
        assert client.fetch_document("paymentin", "p1", ("agent",))["id"] == "p1"
    error = raised.value
    assert isinstance(error, PermanentError)
    assert not error.retriable
    assert str(error).startswith("forbidden: Kladana answered 403 for cashout/c1: Access Denied")
    assert (error.status, json.loads(error.body)) == (403, ACCESS_DENIED)
    # Not fetched again without expand: a 403 is not about expand.
    assert len(fake.seen) == 2


@pytest.mark.parametrize(
    "refusal",
    [
        (401, {"errors": [{"error": "Authentication error", "code": 1056}]}),
        (403, {"errors": [{"error": "Access to the API is forbidden", "code": 1062}]}),
    ],
)
def test_a_refused_token_still_halts(
    served: tuple[FakeKladana, str], fake: FakeKladana, refusal: tuple[int, dict[str, object]]
) -> None:
    fake.refused_token = refusal
    with requests.Session() as session:
        client = make_client(session, served[1])
        with pytest.raises(KladanaAuthFailed) as raised:
            client.fetch_document("cashout", "c1", ("agent",))
    assert raised.value.retriable
    assert raised.value.status == refusal[0]


def test_through_the_handler_a_forbidden_type_dead_letters_and_a_refused_expand_enriches(
    served: tuple[FakeKladana, str], fake: FakeKladana
) -> None:
    fake.forbidden = {"cashout"}
    fake.refuses_expand = {"productiontask"}
    records = [
        to_record(raw_event("cash-1", "CashOut")),
        to_record(raw_event("task-1", "ProductionTask")),
        to_record(raw_event("move-1", "Move")),
    ]
    group = [Polled(TopicPartition("raw", 0), offset, r) for offset, r in enumerate(records)]
    with requests.Session() as session:
        client = make_client(session, served[1])
        settled = list(settling_processor(client).process(group, lambda: False))
    assert all(isinstance(s, Settled) for s in settled)
    outputs = [s.outputs for s in settled if isinstance(s, Settled)]
    assert [[o.topic for o in out] for out in outputs] == [["dlq"], ["enriched"], ["enriched"]]
    reason = dict(outputs[0][0].record.headers)["dlq.reason"]
    assert reason.startswith(b"forbidden: Kladana answered 403 for cashout/cash-1")
    task = json.loads(outputs[1][0].record.value)["data"]["document"]
    assert (task["type"], task["number"], task["sum"], task["agent"]) == (
        "ProductionTask",
        "00003",
        None,
        None,
    )
    # The production order cost two requests (the second without expand); the rest one each.
    assert [uri.split("?")[0].rsplit("/", 2)[1] for uri in fake.seen] == [
        "cashout",
        "productiontask",
        "productiontask",
        "move",
    ]
