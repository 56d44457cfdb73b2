"""The pure part of workflow webhooks: turning a webhook's query into a raw event."""

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from ingest.errors import InvalidWebhook
from ingest.webhooks import (
    MAX_QUERY_CHARACTERS,
    SOURCE,
    Query,
    WebhookKind,
    raw_event,
    webhook_kind,
)
from shared.contracts import validate_event
from shared.errors import PermanentError
from shared.events import RAW_WEBHOOK, event_data, to_record
from shared.kladana_types import TRANSACTION_TYPES

DOCUMENT_ID = "34efe2ee-015e-11e6-9464-e4de0000006b"
RECEIVED_AT = datetime(2024, 6, 10, 9, 57, 1, 123456, tzinfo=UTC)


def build(query: dict[str, str | list[str]], method: str = "POST") -> Any:
    lists: Query = {name: [v] if isinstance(v, str) else v for name, v in query.items()}
    return raw_event(method, lists, RECEIVED_AT, TRANSACTION_TYPES)


def refusal(query: dict[str, str | list[str]]) -> InvalidWebhook:
    with pytest.raises(InvalidWebhook) as caught:
        build(query)
    return caught.value


def test_a_webhook_becomes_a_raw_event_with_every_field() -> None:
    event = build({"id": DOCUMENT_ID, "type": "CustomerOrder", "extra": "ü 1"}, method="GET")

    validate_event(event)
    assert event.get_type() == RAW_WEBHOOK.type
    assert event.get_source() == SOURCE
    assert event.get_subject() == DOCUMENT_ID
    assert event.get_time() == RECEIVED_AT
    assert event_data(event, RAW_WEBHOOK) == {
        "kind": "workflow",
        "document_id": DOCUMENT_ID,
        "type": "CustomerOrder",
        "entity": "customerorder",
        "received_at": "2024-06-10T09:57:01.123456Z",
        "method": "GET",
        "query": {"id": DOCUMENT_ID, "type": "CustomerOrder", "extra": "ü 1"},
    }
    assert to_record(event).key == DOCUMENT_ID.encode()


@pytest.mark.parametrize("type_name", TRANSACTION_TYPES.names)
def test_every_transaction_type_is_accepted_with_its_entity(type_name: str) -> None:
    event = build({"id": "1111-22dddw-2w3ed-222e30", "type": type_name})
    validate_event(event)
    transaction_type = TRANSACTION_TYPES.by_name(type_name)
    assert transaction_type is not None
    assert event_data(event, RAW_WEBHOOK)["entity"] == transaction_type.entity


def test_each_event_gets_its_own_id() -> None:
    query: dict[str, str | list[str]] = {"id": DOCUMENT_ID, "type": "Move"}
    assert build(query).get_id() != build(query).get_id()


def test_the_token_is_never_recorded() -> None:
    event = build({"id": DOCUMENT_ID, "type": "Move", "token": "s3cret"})
    assert event_data(event, RAW_WEBHOOK)["query"] == {"id": DOCUMENT_ID, "type": "Move"}
    assert b"s3cret" not in to_record(event).value


def test_received_at_is_written_in_utc() -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    event = raw_event(
        "GET",
        {"id": [DOCUMENT_ID], "type": ["Move"]},
        datetime(2024, 6, 10, 15, 27, tzinfo=india),
        TRANSACTION_TYPES,
    )
    assert event_data(event, RAW_WEBHOOK)["received_at"] == "2024-06-10T09:57:00Z"
    validate_event(event)


@pytest.mark.parametrize(
    ("query", "missing"),
    [
        ({"type": "CustomerOrder"}, ["id"]),
        ({"id": DOCUMENT_ID}, ["type"]),
        ({}, ["id", "type"]),
        ({"ID": DOCUMENT_ID, "Type": "Move"}, ["id", "type"]),
    ],
)
def test_missing_parameters_are_named(
    query: dict[str, str | list[str]], missing: list[str]
) -> None:
    refused = refusal(query)
    assert refused.body() == {
        "error": "missing_parameter",
        "message": f"missing query parameters: {', '.join(missing)}",
        "parameters": missing,
    }


@pytest.mark.parametrize(
    "document_id",
    [
        "",
        "a" * 65,
        "../../etc/passwd",
        "abc def",
        "abc_def",
        "abc\n",
        "abc\x00",
        "абв",
        "١٢٣",  # Arabic-Indic digits: digits, but not the ASCII ones Kladana uses
        "34efe2ee-015e-11e6-9464-e4de0000006b;x",
    ],
)
def test_malformed_ids_are_refused(document_id: str) -> None:
    refused = refusal({"id": document_id, "type": "Move"})
    assert refused.code == "invalid_id"
    assert refused.body() == {
        "error": "invalid_id",
        "message": "id must be 1 to 64 letters, digits or '-'",
    }


@pytest.mark.parametrize("document_id", ["a", "A-1", "a" * 64, DOCUMENT_ID])
def test_well_formed_ids_are_accepted(document_id: str) -> None:
    validate_event(build({"id": document_id, "type": "Move"}))


@pytest.mark.parametrize("type_name", ["", "Invoice", "customerorder", "CUSTOMERORDER", " Move"])
def test_unknown_types_are_refused_listing_the_valid_ones(type_name: str) -> None:
    refused = refusal({"id": DOCUMENT_ID, "type": type_name})
    body = refused.body()
    assert body["error"] == "invalid_type"
    assert body["valid_types"] == list(TRANSACTION_TYPES.names)
    assert len(body["valid_types"]) == 14
    json.dumps(body)


@pytest.mark.parametrize("name", ["id", "type", "extra", "token"])
def test_a_repeated_parameter_is_refused_rather_than_guessed(name: str) -> None:
    query: dict[str, str | list[str]] = {"id": DOCUMENT_ID, "type": "Move", name: ["x", "y"]}
    refused = refusal(query)
    assert refused.code == "repeated_parameter"
    assert refused.body()["parameters"] == [name]


def test_an_oversized_query_is_refused() -> None:
    refused = refusal({"id": DOCUMENT_ID, "type": "Move", "x": "y" * MAX_QUERY_CHARACTERS})
    assert refused.code == "query_too_large"


def test_a_query_just_under_the_limit_is_accepted() -> None:
    used = len("id") + len(DOCUMENT_ID) + len("type") + len("Move") + len("x")
    validate_event(
        build({"id": DOCUMENT_ID, "type": "Move", "x": "y" * (MAX_QUERY_CHARACTERS - used)})
    )


def test_a_naive_received_at_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        raw_event("GET", {"id": ["a"], "type": ["Move"]}, datetime(2024, 1, 1), TRANSACTION_TYPES)


def test_invalid_webhook_is_permanent() -> None:
    refused = InvalidWebhook("invalid_id", "bad id", hint="x")
    assert isinstance(refused, PermanentError)
    assert not refused.retriable
    assert str(refused) == "bad id"
    assert refused.body() == {"error": "invalid_id", "message": "bad id", "hint": "x"}


@pytest.mark.parametrize(
    ("method", "query", "kind"),
    [
        ("POST", {"requestId": ["r-1"]}, WebhookKind.NATIVE),
        ("POST", {"requestId": ["r-1"], "id": [DOCUMENT_ID], "type": ["Move"]}, WebhookKind.NATIVE),
        ("POST", {"id": [DOCUMENT_ID], "type": ["Move"]}, WebhookKind.WORKFLOW),
        ("POST", {"id": [DOCUMENT_ID]}, WebhookKind.WORKFLOW),
        ("GET", {"id": [DOCUMENT_ID], "type": ["Move"]}, WebhookKind.WORKFLOW),
        # Native webhooks are only ever POSTed: a GET is a workflow webhook missing id and type.
        ("GET", {"requestId": ["r-1"]}, WebhookKind.WORKFLOW),
        ("GET", {}, WebhookKind.WORKFLOW),
    ],
)
def test_the_kind_of_webhook_follows_its_method_and_query(
    method: str, query: Query, kind: WebhookKind
) -> None:
    assert webhook_kind(method, query) is kind


@pytest.mark.parametrize("query", [{}, {"requestid": ["r-1"]}, {"token": ["x"]}])
def test_a_post_of_neither_kind_names_both_ways(query: Query) -> None:
    with pytest.raises(InvalidWebhook) as caught:
        webhook_kind("POST", query)
    assert caught.value.code == "missing_parameter"
    assert caught.value.details["parameters"] == ["requestId", "id", "type"]
    assert "requestId" in caught.value.message
