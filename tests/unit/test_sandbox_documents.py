"""The bundled sample documents: the seed example and the variety the tests rely on."""

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from enricher.documents import to_document
from sandbox.documents import SEED_ORDER_ID, SandboxDocuments, expand_paths, render
from shared.kladana_types import TRANSACTION_TYPES

EVERYTHING = expand_paths("agent,state,organization,rate.currency")
API = "http://sandbox.test/api/remap/1.2"


@pytest.fixture(scope="module")
def documents() -> SandboxDocuments:
    return SandboxDocuments.bundled()


def _all(documents: SandboxDocuments) -> list[Any]:
    return [render(document, api_url=API, expand=EVERYTHING) for document in documents]


def test_the_seed_order_is_exactly_the_seed_example(documents: SandboxDocuments) -> None:
    seed = documents.find("customerorder", SEED_ORDER_ID)
    assert seed is not None
    assert seed["name"] == "5643"
    assert seed["moment"] == "2024-06-10 12:57:00.000"
    assert seed["sum"] == 5000000
    assert seed["state"]["name"] == "Shipped"
    assert seed["agent"]["phone"] == "+91 98765 43210"
    assert seed["rate"]["currency"]["isoCode"] == "INR"


def test_there_is_one_document_of_each_kind_the_tests_need(documents: SandboxDocuments) -> None:
    rendered = _all(documents)
    kinds = {(d["meta"]["type"], d["state"]["name"]) for d in rendered}
    assert {("customerorder", "Shipped"), ("customerorder", "New")} <= kinds
    assert {"invoiceout", "paymentin", "demand", "salesreturn"} <= documents.entities
    phones = [d["agent"]["phone"] for d in rendered]
    assert len(set(phones)) == len(phones)
    assert "call the office" in phones
    agents = {d["agent"]["id"] for d in rendered}
    assert len(agents) == len(rendered)


def test_every_document_enriches_cleanly(documents: SandboxDocuments) -> None:
    for document in _all(documents):
        entity = document["meta"]["type"]
        transaction_type = TRANSACTION_TYPES.by_entity(entity)
        assert transaction_type is not None
        enriched = to_document(
            document, transaction_type=transaction_type, timezone=ZoneInfo("Europe/Moscow")
        )
        assert enriched["sum"]["currency"] == "INR"
        assert enriched["href"] == f"{API}/entity/{entity}/{document['id']}"


@pytest.mark.parametrize(
    ("expand", "paths"),
    [
        ("", set()),
        ("agent", {"agent"}),
        ("agent, state", {"agent", "state"}),
        ("rate.currency", {"rate", "rate.currency"}),
        ("agent.state,,", {"agent", "agent.state"}),
    ],
)
def test_expand_names_every_path_it_opens(expand: str, paths: set[str]) -> None:
    assert expand_paths(expand) == paths
