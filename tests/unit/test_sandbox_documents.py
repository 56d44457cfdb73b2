"""The bundled sample documents: the seed example and the variety the tests rely on."""

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from enricher.documents import to_document
from sandbox.documents import (
    EXPANDED_ROWS_LIMIT,
    SEED_ORDER_ID,
    SandboxDocuments,
    expand_paths,
    render,
)
from shared.kladana_types import TRANSACTION_TYPES
from tests.helpers import expand_of

EVERYTHING = expand_paths(expand_of("CustomerOrder"))
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
    # Documents that ship, pay or return the seed order share its customer; every other
    # counterparty is someone else, with a phone of their own.
    phones = {d["agent"]["id"]: d["agent"]["phone"] for d in rendered if "agent" in d}
    assert len(set(phones.values())) == len(phones) == 10
    assert "call the office" in phones.values()


def test_every_document_enriches_cleanly(documents: SandboxDocuments) -> None:
    for document in _all(documents):
        entity = document["meta"]["type"]
        transaction_type = TRANSACTION_TYPES.by_entity(entity)
        assert transaction_type is not None
        enriched = to_document(
            document, transaction_type=transaction_type, timezone=ZoneInfo("Europe/Moscow")
        )
        if entity != "productiontask":  # it has no sum
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


def test_the_enrichers_expand_inlines_positions_contacts_and_references(
    documents: SandboxDocuments,
) -> None:
    with_positions = 0
    for document in _all(documents):
        positions = document.get("positions")
        if positions is not None:
            with_positions += 1
            assert len(positions["rows"]) == positions["meta"]["size"] >= 1
            for row in positions["rows"]:
                assert row["assortment"]["name"]
                assert row["assortment"]["meta"]["type"] in ("product", "service")
                assert row["meta"]["href"].startswith(f"{API}/entity/")
        if "agent" not in document:  # a Move or a Production Task
            continue
        agent = document["agent"]
        contacts = agent["contactpersons"]
        assert len(contacts["rows"]) == contacts["meta"]["size"]
        for person in contacts["rows"]:
            assert person["name"]
            # A reference inside an expanded row is expanded only when named itself.
            assert list(person["agent"]) == ["meta"]
        assert isinstance(agent["tags"], list)
    assert with_positions == 12


def test_without_expand_collections_are_only_their_meta(documents: SandboxDocuments) -> None:
    seed = documents.find("customerorder", SEED_ORDER_ID)
    assert seed is not None
    order = render(seed, api_url=API, expand=expand_paths("agent"))
    assert list(order["positions"]) == ["meta"]
    assert order["positions"]["meta"]["size"] == 2
    assert list(order["agent"]["contactpersons"]) == ["meta"]
    order = render(seed, api_url=API, expand=expand_paths("positions"))
    assert list(order["positions"]["rows"][0]["assortment"]) == ["meta"]


def test_a_reference_value_of_an_additional_field_keeps_its_name(
    documents: SandboxDocuments,
) -> None:
    # The counterparty's additional fields travel with it: only when it is expanded.
    for expand, names in ((frozenset(), ["High"]), (expand_paths("agent"), ["High", "West"])):
        rendered = [render(document, api_url=API, expand=expand) for document in documents]
        values = [
            attribute["value"]
            for document in rendered
            for owner in (document, document.get("agent", {}))
            for attribute in owner.get("attributes") or []
            if isinstance(attribute["value"], dict)
        ]
        assert sorted(value["name"] for value in values) == names
        assert all(value["meta"]["href"].startswith(API) for value in values)


def test_an_expanded_collection_holds_at_most_the_limit_of_rows() -> None:
    rows = [{"meta": {"href": f"/entity/x/{index}"}, "id": str(index)} for index in range(150)]
    document: dict[str, Any] = {
        "meta": {"type": "customerorder", "href": "/entity/customerorder/1"},
        "id": "1",
        "positions": {"meta": {"size": 150}, "rows": rows},
    }
    rendered = render(document, api_url=API, expand=expand_paths("positions"))
    assert len(rendered["positions"]["rows"]) == EXPANDED_ROWS_LIMIT == 100
    assert rendered["positions"]["rows"][0]["meta"]["href"] == f"{API}/entity/x/0"
    assert rendered["positions"]["meta"]["size"] == 150
    assert len(document["positions"]["rows"]) == 150  # the stored document is untouched


def test_bundled_positions_add_up_to_the_document_sum(documents: SandboxDocuments) -> None:
    for document in _all(documents):
        kind = TRANSACTION_TYPES.by_entity(document["meta"]["type"])
        assert kind is not None
        enriched = to_document(document, transaction_type=kind, timezone=ZoneInfo("UTC"))
        if enriched["positions"] is None:
            assert enriched["positions_complete"] is None
            continue
        assert enriched["positions_complete"] is True
        lines = sum(position["sum"]["minor"] for position in enriched["positions"])
        assert lines == enriched["sum"]["minor"]
