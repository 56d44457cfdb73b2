"""A native API webhook (``POST /webhook?requestId=<uuid>`` with a JSON body of ``events``),
checked and turned into one raw event per event it holds about one of the 14 transaction
types. Events about other entities (a webhook may also watch e.g. counterparties) are
checked as strictly, then only counted: refusing the delivery would make Kladana drop the
good events with them.

Kladana repeats a delivery with the same ``requestId``; each raw event's id is derived
from the ``requestId`` and the event's position, so a repeat that gets through (e.g. to
another host) carries the same CloudEvents ids and a subscriber can drop it by id.
"""

import json
import re
import uuid
from collections import Counter
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
_ENTITY = re.compile(r"[a-z]{1,64}")
"""What Kladana's entity names look like; bounds the entities an ignored event may name
(they become metric labels)."""


@dataclass(frozen=True)
class NativeWebhook:
    """One delivery: its ``requestId``, the raw events of its events about the 14 types,
    in order, and how many events it held about each other entity."""

    request_id: str
    events: tuple[CloudEvent, ...]
    ignored: Mapping[str, int]


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
    raw_events: list[CloudEvent] = []
    ignored: Counter[str] = Counter()
    for index, event in enumerate(events):
        # Each event keeps its index in the delivery, skipped ones included, so that its id
        # is the same whatever the delivery's other events are about.
        raw = _raw_event(event, index, common, types, received_at, request_id)
        if isinstance(raw, CloudEvent):
            raw_events.append(raw)
        else:
            ignored[raw] += 1
    return NativeWebhook(request_id, tuple(raw_events), dict(ignored))


def _raw_event(
    event: Any,
    index: int,
    common: Mapping[str, Any],
    types: TypeTable,
    received_at: datetime,
    request_id: str,
) -> CloudEvent | str:
    """The raw event of a known entity's event, or the entity of another one's."""
    where = f"events[{index}]"
    if not isinstance(event, dict):
        raise _malformed(f"{where} must be an object")
    meta = event.get("meta")
    if not isinstance(meta, dict):
        raise _malformed(f"{where}.meta must be an object")
    entity = _string(meta.get("type"), f"{where}.meta.type")
    href = _string(meta.get("href"), f"{where}.meta.href")
    if not _ENTITY.fullmatch(entity):
        raise _malformed(f"{where}.meta.type must be 1 to 64 lowercase letters")
    document_id = _document_id(href, entity, where)
    action = _string(event.get("action"), f"{where}.action")
    if not _ACTION.fullmatch(action):
        raise _malformed(f"{where}.action must be an action such as CREATE, UPDATE or DELETE")
    account_id = _string(event.get("accountId"), f"{where}.accountId")
    if not DOCUMENT_ID.fullmatch(account_id):
        raise _malformed(f"{where}.accountId must be 1 to 64 letters, digits or '-'")
    updated_fields = (
        _texts(event["updatedFields"], f"{where}.updatedFields")
        if "updatedFields" in event
        else None
    )
    transaction_type = types.by_entity(entity)
    if transaction_type is None:
        return entity
    data: dict[str, Any] = {
        **common,
        "document_id": document_id,
        "type": transaction_type.name,
        "entity": transaction_type.entity,
        "action": action,
        "account_id": account_id,
    }
    if updated_fields is not None:
        data["updated_fields"] = updated_fields
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
