"""Synthesized documents for load tests, and removed documents for 404s."""

import re
import uuid
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient

from enricher.documents import to_document
from sandbox.app import create_app
from sandbox.catalog import TRANSACTION_ENTITIES
from sandbox.documents import SEED_ORDER_ID
from sandbox.faults import Faults
from sandbox.limits import RateLimits
from shared.kladana_types import TRANSACTION_TYPES
from tests.helpers import expand_of
from tests.unit.sandbox_client import (
    BASE,
    CONTROL,
    TOKEN,
    body_of,
    error_code,
    get_document,
    set_knobs,
)

INDIAN_MOBILE = re.compile(r"^\+91 [6-9]\d{4} \d{5}$")
KLADANA_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.000$")
ROOMY = RateLimits(units=100_000, max_parallel=100)
# processingorder is Production Order's other name; the type table says productiontask.
ENRICHABLE = sorted(TRANSACTION_ENTITIES - {"processingorder"})


def _expand_of(entity: str) -> str:
    """What the enricher expands for the entity (Kladana refuses what a type lacks);
    Production Order's other name is asked for a Sales Order's."""
    transaction_type = TRANSACTION_TYPES.by_entity(entity)
    return expand_of("CustomerOrder" if transaction_type is None else transaction_type.name)


@pytest.fixture
def client() -> FlaskClient:
    return create_app(token=TOKEN, limits=ROOMY, faults=Faults(synthesize=True)).test_client()


def _new_id() -> str:
    return str(uuid.uuid4())


def test_without_the_knob_an_unknown_id_is_404() -> None:
    client = create_app(token=TOKEN).test_client()
    document_id = _new_id()
    assert get_document(client, "customerorder", document_id).status_code == 404
    set_knobs(client, synthesize=True)
    assert get_document(client, "customerorder", document_id).status_code == 200


@pytest.mark.parametrize("entity", sorted(TRANSACTION_ENTITIES))
def test_any_uuid_of_a_transaction_entity_is_a_whole_document(
    client: FlaskClient, entity: str
) -> None:
    document_id = _new_id()
    response = get_document(client, entity, document_id, expand=_expand_of(entity))
    assert response.status_code == 200
    document = body_of(response)
    assert document["id"] == document_id
    assert document["meta"]["type"] == entity
    assert document["meta"]["href"] == f"{BASE}/api/remap/1.2/entity/{entity}/{document_id}"
    assert document["name"]
    assert KLADANA_TIME.match(document["moment"])
    assert KLADANA_TIME.match(document["updated"])
    assert isinstance(document["sum"], int)
    assert document["sum"] > 0
    assert document["state"]["name"]
    assert document["state"]["meta"]["href"].startswith(f"{BASE}/api/remap/1.2/entity/{entity}/")
    assert document["organization"]["name"]
    expand = _expand_of(entity).split(",")
    if "rate.currency" in expand:  # a Production Task has no currency to expand
        assert document["rate"]["currency"]["isoCode"] == "INR"
    if "positions" in expand:
        positions = document["positions"]["meta"]
        assert positions["type"].endswith("position")  # invoiceout's are "invoiceposition"
        assert positions["href"].endswith(f"/entity/{entity}/{document_id}/positions")
        assert 1 <= positions["size"] <= 5
        rows = document["positions"]["rows"]
        assert len(rows) == positions["size"]
        assert len({row["id"] for row in rows}) == len(rows)
        for row in rows:
            assert row["meta"]["href"].endswith(f"/{document_id}/positions/{row['id']}")
            assert row["assortment"]["name"]
    # A Move and a Production Task are made from the seed order's shape, but Kladana
    # refuses to expand a counterparty they lack: theirs stays a bare reference.
    if "agent" not in expand:
        assert list(document["agent"]) == ["meta"]
        return
    assert INDIAN_MOBILE.match(document["agent"]["phone"])
    assert document["agent"]["name"]
    agent_href = document["agent"]["meta"]["href"]
    contacts = document["agent"]["contactpersons"]
    assert contacts["meta"]["href"] == f"{agent_href}/contactpersons"
    for person in contacts["rows"]:
        assert person["meta"]["href"].startswith(f"{agent_href}/contactpersons/")
        assert person["agent"]["meta"]["href"] == agent_href


@pytest.mark.parametrize("entity", ENRICHABLE)
def test_synthesized_documents_enrich_cleanly(client: FlaskClient, entity: str) -> None:
    transaction_type = TRANSACTION_TYPES.by_entity(entity)
    assert transaction_type is not None
    document = body_of(get_document(client, entity, _new_id(), expand=_expand_of(entity)))
    enriched = to_document(
        document, transaction_type=transaction_type, timezone=ZoneInfo("Europe/Moscow")
    )
    assert enriched["number"] == document["name"]
    assert enriched["state"] == document["state"]["name"]
    if "rate.currency" in transaction_type.expand:
        assert enriched["sum"]["currency"] == "INR"
    if enriched["positions"] is not None:
        assert enriched["positions_complete"] is True
        assert all(position["name"] for position in enriched["positions"])


def test_the_same_id_is_the_same_document_and_ids_differ(client: FlaskClient) -> None:
    document_id = _new_id()
    first = body_of(
        get_document(client, "customerorder", document_id, expand=_expand_of("customerorder"))
    )
    again = create_app(token=TOKEN, faults=Faults(synthesize=True)).test_client()
    assert (
        body_of(
            get_document(again, "customerorder", document_id, expand=_expand_of("customerorder"))
        )
        == first
    )
    others = [
        body_of(get_document(client, "customerorder", _new_id(), expand="agent")) for _ in range(50)
    ]
    assert len({other["agent"]["id"] for other in others}) == 50
    assert len({other["agent"]["phone"] for other in others}) == 50
    assert len({other["sum"] for other in others}) > 40
    # The bundled order has two states; synthesized orders get both.
    assert {other["state"]["meta"]["href"] for other in others} == {
        body_of(get_document(client, "customerorder", known, expand="state"))["state"]["meta"][
            "href"
        ]
        for known in (SEED_ORDER_ID, "a5f2022a-eb25-11f1-a1e8-02fc00000001")
    }


def test_expand_applies_to_synthesized_documents(client: FlaskClient) -> None:
    document = body_of(get_document(client, "demand", _new_id()))
    assert list(document["agent"]) == ["meta"]
    assert list(document["state"]) == ["meta"]


def test_bundled_documents_win_over_synthesized_ones(client: FlaskClient) -> None:
    seed = body_of(get_document(client, "customerorder", SEED_ORDER_ID, expand="agent"))
    assert seed["name"] == "5643"
    assert seed["agent"]["phone"] == "+91 98765 43210"


@pytest.mark.parametrize(
    ("entity", "document_id"),
    [
        ("customerorder", "not-a-uuid"),
        ("customerorder", "34EFE2EE-015E-11E6-9464-E4DE0000006B"),
        ("customerorder", "34efe2ee015e11e69464e4de0000006b"),
        ("counterparty", "a5dbd202-eb25-11f1-8ee2-02fc00000001"),
        ("nosuchentity", "a5dbd202-eb25-11f1-8ee2-02fc00000001"),
    ],
)
def test_only_uuids_of_transaction_entities_are_synthesized(
    client: FlaskClient, entity: str, document_id: str
) -> None:
    response = get_document(client, entity, document_id)
    assert (response.status_code, error_code(response)) == (404, 1021)


def test_a_removed_document_is_404_until_restored(client: FlaskClient) -> None:
    synthesized = _new_id()
    for entity, document_id in (("customerorder", SEED_ORDER_ID), ("invoiceout", synthesized)):
        path = f"/__sandbox/documents/{entity}/{document_id}"
        assert client.delete(path, headers=CONTROL).status_code == 204
        gone = get_document(client, entity, document_id)
        assert (gone.status_code, error_code(gone)) == (404, 1021)
        assert document_id in body_of(gone)["errors"][0]["error"]
        assert client.put(path, headers=CONTROL).status_code == 204
        assert get_document(client, entity, document_id).status_code == 200
    other = "a5f2022a-eb25-11f1-a1e8-02fc00000001"
    client.delete(f"/__sandbox/documents/customerorder/{SEED_ORDER_ID}", headers=CONTROL)
    assert get_document(client, "customerorder", other).status_code == 200
    # Removing is per entity: the same id of another entity is untouched.
    assert get_document(client, "invoiceout", SEED_ORDER_ID).status_code == 200
