"""Property tests: whatever reaches ``/webhook``, ingest makes valid raw events or refuses
with :class:`InvalidWebhook` (a JSON 4xx over HTTP), never anything else.

The schemathesis test (``test_ingest_openapi.py``) generates requests from the OpenAPI
description; these generate what it does not: raw query strings with invalid UTF-8 and
repeated parameters, bodies of any bytes, nested and huge JSON, odd paths, methods and
``X-Forwarded-For`` headers.
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from ipaddress import ip_network
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from ingest.access import (
    MASK,
    client_address,
    masked_path,
    masked_query,
    masked_text,
    token_accepted,
)
from ingest.errors import InvalidWebhook
from ingest.native import native_webhook
from ingest.settings import IngestSettings
from ingest.webhooks import Query, raw_event, webhook_kind
from ingest.wiring import build_app
from shared.contracts import validate_envelope, validate_event
from shared.events import to_record
from shared.kladana_types import TRANSACTION_TYPES
from tests.unit.ingest_fakes import RecordingSink
from tests.unit.property_strategies import FAST, deeply_nested, json_values

RECEIVED_AT = datetime(2024, 6, 10, 9, 57, 1, tzinfo=UTC)
SECRET = "s3cret-token"
DOCUMENT_ID = "34efe2ee-015e-11e6-9464-e4de0000006b"
API = "https://api.kladana.com/api/remap/1.2"
NATIVE_QUERY = "requestId=cbb9a2e0-3e6f-4d1c-9f4e-2b1f8f2c7a10"

# Names and values that reach the checks beyond the first, mixed with anything at all.
names = st.one_of(st.sampled_from(["id", "type", "token", "requestId", "x"]), st.text(max_size=8))
values = st.one_of(
    st.sampled_from([DOCUMENT_ID, "abc", "", "CustomerOrder", "Move", "customerorder"]),
    st.text(max_size=20),
    st.integers(min_value=4000, max_value=5000).map(lambda size: "a" * size),
)
queries = st.dictionaries(names, st.lists(values, min_size=1, max_size=3), max_size=5)


def _refused_clearly(refused: InvalidWebhook) -> None:
    body = refused.body()
    assert body["error"]
    assert body["message"]
    json.dumps(body)


@FAST
@given(st.sampled_from(["GET", "POST"]), queries)
def test_any_workflow_query_is_a_valid_raw_event_or_refused(method: str, query: Query) -> None:
    try:
        webhook_kind(method, query)
        event = raw_event(method, query, RECEIVED_AT, TRANSACTION_TYPES)
    except InvalidWebhook as refused:
        _refused_clearly(refused)
        return
    validate_event(event)
    assert "token" not in json.loads(to_record(event).value)["data"]["query"]


def _href(entity: Any, document_id: Any) -> str:
    return f"{API}/entity/{entity}/{document_id}"


native_events = st.fixed_dictionaries(
    {},
    optional={
        "meta": st.one_of(
            st.builds(
                lambda entity, document_id: {"type": entity, "href": _href(entity, document_id)},
                st.sampled_from(["customerorder", "demand", "product", ""]),
                st.sampled_from([DOCUMENT_ID, "", "a/b", "x" * 65]),
            ),
            json_values,
        ),
        "action": st.one_of(st.sampled_from(["CREATE", "UPDATE", "DELETE", "create"]), json_values),
        "accountId": st.one_of(st.just(DOCUMENT_ID), json_values),
        "updatedFields": st.one_of(st.lists(st.text(max_size=300), max_size=3), json_values),
    },
)
native_payloads = st.fixed_dictionaries(
    {},
    optional={
        "events": st.one_of(
            st.lists(st.one_of(native_events, json_values), max_size=3), json_values
        ),
        "auditContext": st.one_of(
            st.fixed_dictionaries(
                {}, optional={"moment": json_values, "uid": json_values, "meta": json_values}
            ),
            json_values,
        ),
    },
)
native_bodies = st.one_of(
    native_payloads.map(lambda payload: json.dumps(payload).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=300),
    st.sampled_from(
        [
            deeply_nested(5_000).encode(),
            b'{"events": ' + deeply_nested(5_000).encode() + b"}",
            b'{"events": [' + b"{}," * 2_000 + b"{}]}",
            b'{"events": [{"meta": {"type": "customerorder"',
            b"\xff\xfe{}",
            json.dumps(
                {
                    "events": [
                        {
                            "meta": {"type": "demand", "href": _href("demand", DOCUMENT_ID)},
                            "action": "UPDATE",
                            "accountId": DOCUMENT_ID,
                        }
                    ]
                }
            ).encode(),
            '{"events": "\ud800"}'.encode("utf-8", "surrogatepass"),
        ]
    ),
)
request_ids = st.one_of(st.just("cbb9a2e0-3e6f-4d1c-9f4e-2b1f8f2c7a10"), values)


@FAST
@given(native_bodies, request_ids)
def test_any_native_body_is_valid_raw_events_or_refused(body: bytes, request_id: str) -> None:
    try:
        delivery = native_webhook(body, {"requestId": [request_id]}, RECEIVED_AT, TRANSACTION_TYPES)
    except InvalidWebhook as refused:
        _refused_clearly(refused)
        return
    assert delivery.events
    for event in delivery.events:
        validate_event(event)


addresses = st.one_of(
    st.ip_addresses().map(str),
    st.sampled_from(["::ffff:10.0.0.1", "10.0.0.1", "unknown", "", " 10.0.0.1", "fe80::1%eth0"]),
    st.text(max_size=20),
)
TRUSTED = (ip_network("10.0.0.0/8"), ip_network("::1/128"))


@FAST
@given(
    st.one_of(st.none(), addresses),
    st.lists(st.one_of(addresses, st.lists(addresses, max_size=4).map(", ".join)), max_size=3),
)
def test_any_forwarded_for_gives_an_address_or_none(
    remote_addr: str | None, forwarded_for: list[str]
) -> None:
    client = client_address(remote_addr, forwarded_for, TRUSTED)
    assert client is None or str(client)


@FAST
@given(st.lists(st.text(max_size=20), max_size=3))
def test_any_presented_token_is_accepted_or_not(presented: Sequence[str]) -> None:
    accepted = token_accepted((SecretStr(SECRET), SecretStr("другой-токен")), presented)
    assert accepted == (list(presented) in ([SECRET], ["другой-токен"]))


# Without "?": after one, "/webhook/<token>" is in the query, where it is no token.
path_noise = st.text(max_size=40).map(lambda text: text.replace("?", ""))


@FAST
@given(path_noise, st.sampled_from(["", "/webhook/", "/%77ebhook/", "//WEBHOOK/"]))
def test_a_token_in_any_path_or_query_is_masked(noise: str, prefix: str) -> None:
    path = f"{noise}{prefix}{SECRET}" if prefix else noise
    query = f"{quote(noise)}&token={SECRET}&{quote(noise)}"
    for masked in (masked_path(path), masked_query(query), masked_text(f"GET {path}?{query}")):
        assert isinstance(masked, str)
    if prefix:
        assert SECRET not in masked_path(path)
        assert MASK in masked_path(path)
    assert SECRET not in masked_query(query)
    assert SECRET not in masked_text(f"{noise} GET {path}?{query} {noise}")


@pytest.fixture(scope="module")
def app_and_sink(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[FlaskClient, RecordingSink]:
    settings = IngestSettings(
        ingest_spool_dir=Path(tmp_path_factory.mktemp("spool")),
        ingest_token=SecretStr(SECRET),
        ingest_trusted_proxies=(ip_network("127.0.0.0/8"),),
        ingest_max_body_bytes=65_536,
        ingest_request_id_wait_ms=0,
    )
    sink = RecordingSink()
    return build_app(settings, sink).test_client(), sink


query_parts = st.one_of(
    st.sampled_from(
        [
            f"token={SECRET}",
            f"id={DOCUMENT_ID}",
            "type=CustomerOrder",
            NATIVE_QUERY,
            f"id={DOCUMENT_ID}&type=CustomerOrder",
            "id=%ff%fe",
            "type=%ED%A0%80",
            "%zz=%",
            "id",
            "=",
            "",
            f"token={SECRET}&token={SECRET}",
        ]
    ),
    st.binary(max_size=12).map(lambda raw: raw.decode("latin-1")),
)
# Mostly with the token and to /webhook, so that most requests get past the token check.
raw_queries = st.builds(
    lambda with_token, parts: "&".join([f"token={SECRET}"] * with_token + parts),
    st.booleans(),
    st.lists(query_parts, max_size=6),
)
webhook_paths = st.sampled_from(
    ["/webhook", f"/webhook/{SECRET}", "/webhook/%ff", "/webhook/%ED%A0%80"]
)
paths = st.one_of(
    webhook_paths,
    webhook_paths,
    webhook_paths,
    st.sampled_from(["/healthz", "/readyz", "/metrics", "/%77ebhook", "/webhook/", "/webhook/x/y"]),
    st.text(max_size=15).map(lambda text: "/" + quote(text, safe="/")),
)
methods = st.sampled_from(["GET", "POST", "GET", "POST", "HEAD", "PUT", "OPTIONS", "PATCH"])
# A header line cannot hold a line break; anything else goes.
forwarded = st.lists(addresses, max_size=3).map(
    lambda hops: ", ".join(hops).replace("\r", " ").replace("\n", " ")
)


@FAST
@given(methods, paths, raw_queries, native_bodies, forwarded)
def test_any_request_gets_a_json_answer_and_never_a_server_error(
    app_and_sink: tuple[FlaskClient, RecordingSink],
    method: str,
    path: str,
    query: str,
    body: bytes,
    forwarded_for: str,
) -> None:
    _check_answer(app_and_sink, method, path, query, body, forwarded_for)


@FAST
@given(
    st.sampled_from(["GET", "POST"]),
    st.sampled_from(["/webhook", f"/webhook/{SECRET}"]),
    # Mostly a valid start, so that the body and the other parameters are looked at.
    st.builds(
        lambda start, parts: "&".join([start, *parts]),
        st.sampled_from([NATIVE_QUERY, NATIVE_QUERY, f"id={DOCUMENT_ID}&type=Move", ""]),
        st.lists(query_parts, max_size=3),
    ),
    native_bodies,
    forwarded,
)
def test_any_authenticated_webhook_gets_a_json_answer_and_never_a_server_error(
    app_and_sink: tuple[FlaskClient, RecordingSink],
    method: str,
    path: str,
    query: str,
    body: bytes,
    forwarded_for: str,
) -> None:
    if path == "/webhook":
        query = f"token={SECRET}&{query}"
    _check_answer(app_and_sink, method, path, query, body, forwarded_for)


def _check_answer(
    app_and_sink: tuple[FlaskClient, RecordingSink],
    method: str,
    path: str,
    query: str,
    body: bytes,
    forwarded_for: str,
) -> None:
    client, sink = app_and_sink
    sink.accepted.clear()
    response = client.open(
        path,
        method=method,
        query_string=query,
        data=body,
        headers={"X-Forwarded-For": forwarded_for, "Content-Type": "application/json"},
    )
    assert response.status_code < 500, response.get_data(as_text=True)
    # Werkzeug answers OPTIONS itself: 200 with the Allow header and no body.
    answered_by_werkzeug = method == "OPTIONS" and response.status_code == 200
    if answered_by_werkzeug:
        assert response.headers["Allow"]
        assert response.data == b""
    elif method != "HEAD" and not (path == "/metrics" and response.status_code == 200):
        assert response.content_type == "application/json"
        answer = response.get_json()
        assert isinstance(answer, dict)
        if response.status_code >= 400:
            assert answer["error"]
            assert answer["message"]
    if response.status_code >= 300:
        assert sink.accepted == []
    for record in sink.accepted:
        validate_envelope(json.loads(record.value))
        assert SECRET not in record.value.decode()
