"""The Kladana sandbox through Flask's test client: what the enricher relies on."""

import gzip
import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from sandbox.app import create_app
from sandbox.documents import SEED_ORDER_ID
from tests.helpers import expand_of

TOKEN = "test-token"
BASE = "http://sandbox.test"
SEED_PATH = f"/api/remap/1.2/entity/customerorder/{SEED_ORDER_ID}"
GOOD = {"Authorization": f"Bearer {TOKEN}", "Accept-Encoding": "gzip, deflate"}


@pytest.fixture(scope="module")
def client() -> FlaskClient:
    return create_app(token=TOKEN).test_client()


def _get(client: FlaskClient, path: str, headers: dict[str, str], **query: str) -> Any:
    return client.get(path, headers=headers, query_string=query, base_url=BASE)


def _json(response: Any) -> Any:
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Content-Type"] == "application/json;charset=utf-8"
    return json.loads(gzip.decompress(response.data))


@pytest.mark.parametrize(
    "encoding", [None, "identity", "deflate, br", "gzip;q=0", "gzip;q=0, identity"]
)
def test_without_gzip_the_answer_is_415_with_no_body(
    client: FlaskClient, encoding: str | None
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if encoding is not None:
        headers["Accept-Encoding"] = encoding
    response = _get(client, SEED_PATH, headers)
    assert response.status_code == 415
    assert response.data == b""


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN}x"]
)
def test_without_the_right_bearer_token_the_answer_is_401(
    client: FlaskClient, authorization: str | None
) -> None:
    headers = {"Accept-Encoding": "gzip"}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = _get(client, SEED_PATH, headers)
    assert response.status_code == 401
    [error] = _json(response)["errors"]
    assert error["error"] == "Authentication error"
    assert error["code"] == 1056
    assert error["moreInfo"]


@pytest.mark.parametrize(
    ("entity", "document_id", "named"),
    [
        ("customerorder", "00000000-0000-0000-0000-000000000000", "00000000-0000"),
        ("invoiceout", SEED_ORDER_ID, SEED_ORDER_ID),
        ("processingorder", SEED_ORDER_ID, SEED_ORDER_ID),
        ("nosuchentity", SEED_ORDER_ID, "nosuchentity"),
    ],
)
def test_an_unknown_entity_or_id_is_404_with_an_error_body(
    client: FlaskClient, entity: str, document_id: str, named: str
) -> None:
    response = _get(client, f"/api/remap/1.2/entity/{entity}/{document_id}", GOOD)
    assert response.status_code == 404
    [error] = _json(response)["errors"]
    assert error["code"] == 1021
    assert named in error["error"]


def test_the_seed_order_with_everything_expanded(client: FlaskClient) -> None:
    response = _get(client, SEED_PATH, GOOD, expand="agent,state,organization,rate.currency")
    assert response.status_code == 200
    order = _json(response)
    assert order["id"] == SEED_ORDER_ID
    assert order["meta"]["href"] == f"{BASE}{SEED_PATH}"
    assert order["meta"]["type"] == "customerorder"
    assert order["meta"]["mediaType"] == "application/json"
    assert order["name"] == "5643"
    assert order["moment"] == "2024-06-10 12:57:00.000"
    assert order["sum"] == 5000000
    assert order["state"]["name"] == "Shipped"
    assert order["agent"]["phone"] == "+91 98765 43210"
    assert order["agent"]["name"]
    assert order["organization"]["name"]
    assert order["rate"]["currency"]["isoCode"] == "INR"
    assert order["agent"]["meta"]["href"].startswith(f"{BASE}/api/remap/1.2/entity/counterparty/")


def test_the_enrichers_expand_answers_positions_and_contacts_in_one_request(
    client: FlaskClient,
) -> None:
    demand = "/api/remap/1.2/entity/demand/a5fcb648-eb25-11f1-b795-02fc00000001"
    shipment = _json(_get(client, demand, GOOD, expand=expand_of("Demand")))
    [first, *_] = shipment["positions"]["rows"]
    assert first["assortment"]["name"] == "Stanley 16 oz claw hammer"
    assert first["quantity"] == 4.0
    assert len(shipment["positions"]["rows"]) == shipment["positions"]["meta"]["size"] == 4
    contacts = shipment["agent"]["contactpersons"]["rows"]
    assert [person["name"] for person in contacts] == ["Suresh Patil", "Accounts desk"]
    assert shipment["agent"]["tags"] == ["wholesale"]
    assert shipment["state"]["name"] == "Shipped"


def test_without_expand_references_are_only_their_meta(client: FlaskClient) -> None:
    order = _json(_get(client, SEED_PATH, GOOD))
    for reference in (
        order["agent"],
        order["state"],
        order["organization"],
        order["rate"]["currency"],
    ):
        assert list(reference) == ["meta"]
        assert reference["meta"]["href"].startswith(f"{BASE}/api/remap/1.2/entity/")
    # Plain fields and lists of full objects are untouched.
    assert order["sum"] == 5000000
    assert order["attributes"][0]["value"] == "BlueDart"
    assert order["positions"]["meta"]["size"] == 2


def test_expand_inlines_only_what_it_names(client: FlaskClient) -> None:
    order = _json(_get(client, SEED_PATH, GOOD, expand="agent"))
    assert order["agent"]["phone"] == "+91 98765 43210"
    assert list(order["state"]) == ["meta"]
    assert list(order["rate"]["currency"]) == ["meta"]

    order = _json(_get(client, SEED_PATH, GOOD, expand="rate.currency, state"))
    assert order["rate"]["currency"]["isoCode"] == "INR"
    assert order["state"]["name"] == "Shipped"
    assert list(order["agent"]) == ["meta"]


def test_answers_are_rendered_afresh_each_time(client: FlaskClient) -> None:
    expanded = _json(_get(client, SEED_PATH, GOOD, expand="agent"))
    reduced = _json(_get(client, SEED_PATH, GOOD))
    again = _json(_get(client, SEED_PATH, GOOD, expand="agent"))
    assert list(reduced["agent"]) == ["meta"]
    assert again == expanded


def test_hrefs_follow_the_host_the_client_called(client: FlaskClient) -> None:
    response = client.get(SEED_PATH, headers=GOOD, base_url="http://127.0.0.1:9999")
    assert _json(response)["meta"]["href"] == f"http://127.0.0.1:9999{SEED_PATH}"
