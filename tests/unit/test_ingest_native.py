"""The pure part of native API webhooks: a JSON body of events into raw events."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from ingest.errors import InvalidWebhook
from ingest.native import MAX_EVENTS, NativeWebhook, native_event_id, native_webhook
from ingest.webhooks import SOURCE, Query
from shared.contracts import validate_event
from shared.events import RAW_WEBHOOK, event_data, to_record
from shared.kladana_types import TRANSACTION_TYPES

REQUEST_ID = "cbb9a2e0-3e6f-4d1c-9f4e-2b1f8f2c7a10"
ACCOUNT_ID = "84e60e93-f7b2-11e5-7a69-971500188b19"
ORDER_ID = "34efe2ee-015e-11e6-9464-e4de0000006b"
DEMAND_ID = "5427bc76-b95f-11eb-0a80-04bb000cd583"
API = "https://api.kladana.com/api/remap/1.2"
RECEIVED_AT = datetime(2024, 6, 10, 9, 57, 1, tzinfo=UTC)


def event(entity: str, document_id: str, action: str = "UPDATE", **extra: Any) -> dict[str, Any]:
    return {
        "meta": {"type": entity, "href": f"{API}/entity/{entity}/{document_id}"},
        "action": action,
        "accountId": ACCOUNT_ID,
        **extra,
    }


def body(*events: Any, **extra: Any) -> bytes:
    return json.dumps({"events": list(events), **extra}).encode()


def build(payload: bytes, query: Query | None = None) -> NativeWebhook:
    if query is None:
        query = {"requestId": [REQUEST_ID]}
    return native_webhook(payload, query, RECEIVED_AT, TRANSACTION_TYPES)


def refusal(payload: bytes, query: Query | None = None) -> InvalidWebhook:
    with pytest.raises(InvalidWebhook) as caught:
        build(payload, query)
    return caught.value


AUDIT = {
    "meta": {"type": "audit", "href": f"{API}/audit/0d8a3e6b-ea2d-11eb-0a80-0d5a00000001"},
    "moment": "2021-07-21 15:51:16",
    "uid": "admin@example",
}


def test_the_reference_example_becomes_one_raw_event_with_every_field() -> None:
    delivery = build(
        body(event("customerorder", ORDER_ID, updatedFields=["sum", "state"]), auditContext=AUDIT)
    )

    assert delivery.request_id == REQUEST_ID
    [raw] = delivery.events
    validate_event(raw)
    assert raw.get_type() == RAW_WEBHOOK.type
    assert raw.get_source() == SOURCE
    assert raw.get_subject() == ORDER_ID
    assert raw.get_time() == RECEIVED_AT
    assert raw.get_id() == native_event_id(REQUEST_ID, 0)
    assert to_record(raw).key == ORDER_ID.encode()
    assert event_data(raw, RAW_WEBHOOK) == {
        "kind": "native",
        "document_id": ORDER_ID,
        "type": "CustomerOrder",
        "entity": "customerorder",
        "received_at": "2024-06-10T09:57:01Z",
        "method": "POST",
        "query": {"requestId": REQUEST_ID},
        "request_id": REQUEST_ID,
        "action": "UPDATE",
        "account_id": ACCOUNT_ID,
        "updated_fields": ["sum", "state"],
        "audit_moment": "2021-07-21 15:51:16",
        "audit_uid": "admin@example",
    }


def test_each_event_of_a_delivery_becomes_a_raw_event_in_order() -> None:
    delivery = build(
        body(
            event("customerorder", ORDER_ID, "CREATE"),
            event("demand", DEMAND_ID, "UPDATE"),
            event("customerorder", ORDER_ID, "DELETE"),
        )
    )
    for raw in delivery.events:
        validate_event(raw)
    data = [event_data(raw, RAW_WEBHOOK) for raw in delivery.events]
    assert [(d["type"], d["document_id"], d["action"]) for d in data] == [
        ("CustomerOrder", ORDER_ID, "CREATE"),
        ("Demand", DEMAND_ID, "UPDATE"),
        ("CustomerOrder", ORDER_ID, "DELETE"),
    ]
    assert all("updated_fields" not in d and "audit_moment" not in d for d in data)


def test_event_ids_are_the_same_for_a_repeat_and_differ_between_events() -> None:
    payload = body(event("move", ORDER_ID), event("move", DEMAND_ID))
    first = [raw.get_id() for raw in build(payload).events]
    again = [raw.get_id() for raw in build(payload).events]
    other = [raw.get_id() for raw in build(payload, {"requestId": ["another-request"]}).events]
    assert first == again == [native_event_id(REQUEST_ID, 0), native_event_id(REQUEST_ID, 1)]
    assert len(set(first)) == 2
    assert not set(first) & set(other)


@pytest.mark.parametrize("type_name", TRANSACTION_TYPES.names)
def test_every_transaction_type_entity_is_accepted(type_name: str) -> None:
    transaction_type = TRANSACTION_TYPES.by_name(type_name)
    assert transaction_type is not None
    [raw] = build(body(event(transaction_type.entity, ORDER_ID))).events
    validate_event(raw)
    assert event_data(raw, RAW_WEBHOOK)["type"] == type_name


def test_the_token_is_never_recorded_and_other_parameters_are() -> None:
    query = {"requestId": [REQUEST_ID], "token": ["s3cret"], "from": ["kladana"]}
    [raw] = build(body(event("move", ORDER_ID)), query).events
    assert event_data(raw, RAW_WEBHOOK)["query"] == {"requestId": REQUEST_ID, "from": "kladana"}
    assert b"s3cret" not in to_record(raw).value


def test_an_href_with_a_query_or_another_host_is_read_by_its_path() -> None:
    entry = event("move", ORDER_ID)
    entry["meta"]["href"] = f"https://other.example/api/remap/1.2/entity/move/{ORDER_ID}?expand=x"
    [raw] = build(body(entry)).events
    assert raw.get_subject() == ORDER_ID


def test_events_of_other_entities_are_skipped_and_the_others_keep_their_ids() -> None:
    delivery = build(
        body(
            event("counterparty", ORDER_ID),
            event("move", ORDER_ID),
            event("product", DEMAND_ID),
            event("demand", DEMAND_ID),
            event("counterparty", DEMAND_ID),
        )
    )
    assert [raw.get_id() for raw in delivery.events] == [
        native_event_id(REQUEST_ID, 1),
        native_event_id(REQUEST_ID, 3),
    ]
    assert [event_data(raw, RAW_WEBHOOK)["type"] for raw in delivery.events] == ["Move", "Demand"]
    assert delivery.ignored == {"counterparty": 2, "product": 1}


def test_a_delivery_of_other_entities_only_holds_no_event() -> None:
    delivery = build(body(event("product", ORDER_ID)))
    assert delivery.events == ()
    assert delivery.ignored == {"product": 1}


@pytest.mark.parametrize(
    "entry",
    [
        event("Product", ORDER_ID),
        event("product-folder", ORDER_ID),
        event("product", ORDER_ID, accountId="../x"),
        event("product", ORDER_ID, updatedFields="name"),
    ],
)
def test_an_event_of_another_entity_is_checked_like_the_others(entry: dict[str, Any]) -> None:
    refused = refusal(body(event("move", ORDER_ID), entry))
    assert refused.code == "malformed_body"
    assert "events[1]" in refused.message


@pytest.mark.parametrize(
    "href",
    [
        "",
        "not a url",
        f"{API}/entity/demand/{ORDER_ID}",  # another entity than meta.type
        f"{API}/entity/move/",
        f"{API}/entity/move/{ORDER_ID}/",
        f"{API}/entity/move/{ORDER_ID}/positions",
        f"{API}/move/{ORDER_ID}",
        f"{API}/entity/move/../../etc",
        f"{API}/entity/move/{'a' * 65}",
        f"{API}/entity/move/abc_def",
        "/move/" + ORDER_ID,
    ],
)
def test_an_href_that_does_not_name_the_document_is_refused(href: str) -> None:
    entry = event("move", ORDER_ID)
    entry["meta"]["href"] = href
    refused = refusal(body(entry))
    assert refused.code == ("malformed_body" if href == "" else "invalid_href")


MALFORMED: list[tuple[bytes, str]] = [
    (b"", "the body"),
    (b"not json", "the body"),
    (b"\xff\xfe\x00", "the body"),
    (b"[]", "the body"),
    (b'"events"', "the body"),
    (b"null", "the body"),
    (b"[" * 100_000, "the body"),
    (b"{}", "events"),
    (body(), "events"),
    (b'{"events": {}}', "events"),
    (b'{"events": null}', "events"),
    (body("x"), "events[0] must be an object"),
    (body({}), "events[0].meta"),
    (body({"meta": "x"}), "events[0].meta"),
    (body({"meta": {"href": f"{API}/entity/move/{ORDER_ID}"}}), "events[0].meta.type"),
    (body({"meta": {"type": "move"}}), "events[0].meta.href"),
    (body({"meta": {"type": 1, "href": "x"}}), "events[0].meta.type"),
    (body(event("move", ORDER_ID, action=None)), "events[0].action"),
    (body(event("move", ORDER_ID, action="update")), "events[0].action"),
    (body(event("move", ORDER_ID, action="A" * 33)), "events[0].action"),
    (body(event("move", ORDER_ID), {**event("move", ORDER_ID), "accountId": None}), "events[1]"),
    (body({**event("move", ORDER_ID), "accountId": "a b"}), "events[0].accountId"),
    (body(event("move", ORDER_ID, updatedFields="sum")), "updatedFields"),
    (body(event("move", ORDER_ID, updatedFields=["sum", 1])), "updatedFields[1]"),
    (body(event("move", ORDER_ID, updatedFields=["x" * 256])), "updatedFields[0]"),
    (body(event("move", ORDER_ID), auditContext="x"), "auditContext"),
    (body(event("move", ORDER_ID), auditContext={"moment": 1}), "auditContext.moment"),
    (body(event("move", ORDER_ID), auditContext={"uid": ""}), "auditContext.uid"),
    (b'{"events": [{"meta": {"type": "move", "href": "\\ud800"}}]}', "events[0].meta.href"),
]


@pytest.mark.parametrize(("payload", "where"), MALFORMED)
def test_a_malformed_body_is_refused_naming_where(payload: bytes, where: str) -> None:
    refused = refusal(payload)
    assert refused.code == "malformed_body"
    assert where in refused.message
    json.dumps(refused.body())


def test_a_lone_surrogate_in_a_recorded_text_is_refused() -> None:
    payload = body(event("move", ORDER_ID), auditContext={"uid": "x"}).replace(
        b'"uid": "x"', b'"uid": "\\udc80"'
    )
    assert refusal(payload).code == "malformed_body"


def test_absent_optional_parts_are_not_recorded_and_an_empty_list_is() -> None:
    [raw] = build(body(event("move", ORDER_ID, updatedFields=[]), auditContext={})).events
    data = event_data(raw, RAW_WEBHOOK)
    assert data["updated_fields"] == []
    assert "audit_moment" not in data
    assert "audit_uid" not in data
    validate_event(raw)


def test_unknown_fields_are_ignored() -> None:
    [raw] = build(body(event("move", ORDER_ID, extra={"x": 1}), future=True)).events
    validate_event(raw)


def test_too_many_events_are_refused() -> None:
    entries = [event("move", ORDER_ID)] * (MAX_EVENTS + 1)
    assert refusal(body(*entries)).code == "too_many_events"
    assert len(build(body(*entries[:MAX_EVENTS])).events) == MAX_EVENTS


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"requestId": [""]}, "invalid_request_id"),
        ({"requestId": ["a b"]}, "invalid_request_id"),
        ({"requestId": ["r" * 65]}, "invalid_request_id"),
        ({"requestId": [REQUEST_ID, REQUEST_ID]}, "repeated_parameter"),
        ({"requestId": [REQUEST_ID], "x": ["y" * 5000]}, "query_too_large"),
        ({}, "missing_parameter"),
    ],
)
def test_a_bad_request_id_is_refused_before_the_body_is_read(query: Query, code: str) -> None:
    assert refusal(b"not even json", query).code == code
