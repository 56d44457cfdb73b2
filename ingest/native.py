"""A native API webhook (``POST /webhook?requestId=<uuid>`` with a JSON body of ``events``),
checked and turned into one raw event per event it holds.

Kladana repeats a delivery with the same ``requestId``; each raw event's id is derived
from the ``requestId`` and the event's position, so a repeat that gets through (e.g. to
another host) carries the same CloudEvents ids and a subscriber can drop it by id.
"""

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from cloudevents.core.v1.event import CloudEvent

from ingest.errors import InvalidWebhook
from ingest.webhooks import (
    DOCUMENT_ID,
    REQUEST_ID_PARAMETER,
    SOURCE,
    Query,
    WebhookKind,
    check_query,
    recorded_query,
    utc_timestamp,
)
from shared.events import RAW_WEBHOOK, new_event
from shared.kladana_types import TypeTable

MAX_EVENTS = 1000
"""Far above what one delivery holds; bounds the records one request may write."""
MAX_TEXT_CHARACTERS = 255
"""For the short texts recorded as they are: field names, the audit's moment and user."""

EVENT_ID_NAMESPACE = uuid.UUID("6f1b7c2e-3d4a-5b6c-8d9e-0a1b2c3d4e5f")
"""uuid5 namespace of native raw event ids; changing it changes every id."""

_ACTION = re.compile(r"[A-Z_]{1,32}")


@dataclass(frozen=True)
class NativeWebhook:
    """One delivery: its ``requestId`` and the raw events of its ``events``, in order."""

    request_id: str
    events: tuple[CloudEvent, ...]


def native_event_id(request_id: str, index: int) -> str:
    """The raw event id of the ``index``-th event of the delivery ``request_id``."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{request_id}/{index}"))


def native_webhook(
    body: bytes, query: Query, received_at: datetime, types: TypeTable
) -> NativeWebhook:
    """The raw events of one native webhook (``received_at`` aware).

    Raises :class:`InvalidWebhook` with the first problem found; then no event is made.
    """
    check_query(query, (REQUEST_ID_PARAMETER,))
    request_id = query[REQUEST_ID_PARAMETER][0]
    if not DOCUMENT_ID.fullmatch(request_id):
        raise InvalidWebhook(
            "invalid_request_id", "requestId must be 1 to 64 letters, digits or '-'"
        )
    payload = _json_object(body)
    events = payload.get("events")
    if not isinstance(events, list) or not events:
        raise _malformed("events must be a non-empty array")
    if len(events) > MAX_EVENTS:
        raise InvalidWebhook("too_many_events", f"a webhook may hold at most {MAX_EVENTS} events")
    common = {
        "kind": WebhookKind.NATIVE.value,
        "received_at": utc_timestamp(received_at),
        "method": "POST",
        "query": recorded_query(query),
        "request_id": request_id,
        **_audit(payload.get("auditContext")),
    }
    raw_events = tuple(
        _raw_event(event, index, common, types, received_at, request_id)
        for index, event in enumerate(events)
    )
    return NativeWebhook(request_id, raw_events)


def _raw_event(
    event: Any,
    index: int,
    common: Mapping[str, Any],
    types: TypeTable,
    received_at: datetime,
    request_id: str,
) -> CloudEvent:
    where = f"events[{index}]"
    if not isinstance(event, dict):
        raise _malformed(f"{where} must be an object")
    meta = event.get("meta")
    if not isinstance(meta, dict):
        raise _malformed(f"{where}.meta must be an object")
    entity = _string(meta.get("type"), f"{where}.meta.type")
    href = _string(meta.get("href"), f"{where}.meta.href")
    transaction_type = types.by_entity(entity)
    if transaction_type is None:
        raise InvalidWebhook(
            "unknown_entity",
            f"{where}.meta.type must be the entity of one of Kladana's transaction types",
            valid_entities=[known.entity for name in types.names if (known := types.by_name(name))],
        )
    document_id = _document_id(href, entity, where)
    action = _string(event.get("action"), f"{where}.action")
    if not _ACTION.fullmatch(action):
        raise _malformed(f"{where}.action must be an action such as CREATE, UPDATE or DELETE")
    account_id = _string(event.get("accountId"), f"{where}.accountId")
    if not DOCUMENT_ID.fullmatch(account_id):
        raise _malformed(f"{where}.accountId must be 1 to 64 letters, digits or '-'")
    data: dict[str, Any] = {
        **common,
        "document_id": document_id,
        "type": transaction_type.name,
        "entity": transaction_type.entity,
        "action": action,
        "account_id": account_id,
    }
    if "updatedFields" in event:
        data["updated_fields"] = _texts(event["updatedFields"], f"{where}.updatedFields")
    return new_event(
        RAW_WEBHOOK,
        source=SOURCE,
        document_id=document_id,
        data=data,
        time=received_at,
        event_id=native_event_id(request_id, index),
    )


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        # ValueError covers undecodable bytes too; RecursionError, absurd nesting.
        raise _malformed("the body must be a JSON object") from None
    if not isinstance(payload, dict):
        raise _malformed("the body must be a JSON object")
    return payload


def _document_id(href: str, entity: str, where: str) -> str:
    """The id in ``.../entity/<entity>/<id>``, where ``<entity>`` is ``meta.type``."""
    segments = urlsplit(href).path.split("/")
    if len(segments) < 3 or segments[-3] != "entity" or segments[-2] != entity:
        raise InvalidWebhook(
            "invalid_href",
            f"{where}.meta.href must end in /entity/{{meta.type}}/{{id}}",
        )
    if not DOCUMENT_ID.fullmatch(segments[-1]):
        raise InvalidWebhook(
            "invalid_href", f"the id in {where}.meta.href must be 1 to 64 letters, digits or '-'"
        )
    return segments[-1]


def _audit(context: Any) -> dict[str, str]:
    """The audit's moment (as Kladana writes it, in the account's time zone) and user."""
    if context is None:
        return {}
    if not isinstance(context, dict):
        raise _malformed("auditContext must be an object")
    recorded = {}
    for name, field in (("moment", "audit_moment"), ("uid", "audit_uid")):
        if name in context:
            recorded[field] = _text(context[name], f"auditContext.{name}")
    return recorded


def _texts(values: Any, where: str) -> list[str]:
    if not isinstance(values, list):
        raise _malformed(f"{where} must be an array of strings")
    return [_text(value, f"{where}[{index}]") for index, value in enumerate(values)]


def _text(value: Any, where: str) -> str:
    """A short string recorded as it is."""
    text = _string(value, where)
    if len(text) > MAX_TEXT_CHARACTERS:
        raise _malformed(f"{where} may hold at most {MAX_TEXT_CHARACTERS} characters")
    return text


def _string(value: Any, where: str) -> str:
    """A non-empty string that can be written as UTF-8 (JSON allows lone surrogates)."""
    if not isinstance(value, str) or not value:
        raise _malformed(f"{where} must be a non-empty string")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise _malformed(f"{where} must be valid Unicode text") from None
    return value


def _malformed(message: str) -> InvalidWebhook:
    return InvalidWebhook("malformed_body", message)
