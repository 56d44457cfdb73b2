"""A webhook request's query, checked and turned into the raw event ingest publishes.

Two kinds of webhook reach ``/webhook``: a workflow's "Send webhook" action
(``?id=&type=``, GET or POST, handled here) and a native API webhook
(``POST ?requestId=`` with a JSON body, handled in :mod:`ingest.native`).
"""

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from cloudevents.core.v1.event import CloudEvent

from ingest.access import TOKEN_PARAMETER
from ingest.errors import InvalidWebhook
from shared.events import RAW_WEBHOOK, new_event
from shared.kladana_types import TypeTable

SOURCE = "/kladana-pipeline/ingest"
REQUIRED_PARAMETERS = ("id", "type")
REQUEST_ID_PARAMETER = "requestId"
MAX_QUERY_CHARACTERS = 4096
"""Far above what Kladana sends; keeps every raw event well under Kafka's record limit."""

DOCUMENT_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
"""What Kladana's ids look like (UUIDs, or the help center's ``1111-22dddw-...``)."""

Query = Mapping[str, Sequence[str]]
"""Each query parameter's name and all its values (at least one), in order."""


class WebhookKind(Enum):
    WORKFLOW = "workflow"
    NATIVE = "native"


def webhook_kind(method: str, query: Query) -> WebhookKind:
    """Native when POSTed with ``requestId``; workflow when it has ``id`` or ``type``.

    Raises :class:`InvalidWebhook` for a request that is neither, naming what is missing.
    """
    if method == "POST" and REQUEST_ID_PARAMETER in query:
        return WebhookKind.NATIVE
    if method == "POST" and not any(name in query for name in REQUIRED_PARAMETERS):
        raise InvalidWebhook(
            "missing_parameter",
            "missing query parameters: requestId (a native API webhook)"
            " or id and type (a workflow webhook)",
            parameters=[REQUEST_ID_PARAMETER, *REQUIRED_PARAMETERS],
        )
    return WebhookKind.WORKFLOW


def raw_event(method: str, query: Query, received_at: datetime, types: TypeTable) -> CloudEvent:
    """The raw event of one workflow webhook (``method`` is GET or POST, ``received_at``
    aware).

    Raises :class:`InvalidWebhook` with the first problem found. The ``token``
    parameter is never recorded.
    """
    check_query(query, REQUIRED_PARAMETERS)
    document_id = query["id"][0]
    if not DOCUMENT_ID.fullmatch(document_id):
        raise InvalidWebhook("invalid_id", "id must be 1 to 64 letters, digits or '-'")
    transaction_type = types.by_name(query["type"][0])
    if transaction_type is None:
        raise InvalidWebhook(
            "invalid_type",
            "type must be one of Kladana's transaction types",
            valid_types=list(types.names),
        )
    data: dict[str, Any] = {
        "kind": WebhookKind.WORKFLOW.value,
        "document_id": document_id,
        "type": transaction_type.name,
        "entity": transaction_type.entity,
        "received_at": utc_timestamp(received_at),
        "method": method,
        "query": recorded_query(query),
    }
    return new_event(
        RAW_WEBHOOK, source=SOURCE, document_id=document_id, data=data, time=received_at
    )


def check_query(query: Query, required: Sequence[str]) -> None:
    """Size, repetition and presence: what must hold before any value is looked at."""
    size = sum(len(name) + sum(len(value) for value in values) for name, values in query.items())
    if size > MAX_QUERY_CHARACTERS:
        raise InvalidWebhook(
            "query_too_large",
            f"the query parameters may hold at most {MAX_QUERY_CHARACTERS} characters",
        )
    # Which of several ids would be the document? Refuse rather than guess or drop values.
    repeated = sorted(name for name, values in query.items() if len(values) > 1)
    if repeated:
        raise InvalidWebhook(
            "repeated_parameter",
            "each query parameter may appear only once",
            parameters=repeated,
        )
    missing = [name for name in required if name not in query]
    if missing:
        raise InvalidWebhook(
            "missing_parameter",
            f"missing query parameters: {', '.join(missing)}",
            parameters=missing,
        )


def recorded_query(query: Query) -> dict[str, str]:
    """The query as the raw event records it: one value each, the secret left out."""
    return {name: values[0] for name, values in query.items() if name != TOKEN_PARAMETER}


def utc_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, as the envelope's ``time`` is written."""
    if moment.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
