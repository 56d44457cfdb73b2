"""A webhook request's query, checked and turned into the raw event ingest publishes."""

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.v1.event import CloudEvent

from ingest.auth import TOKEN_PARAMETER
from ingest.errors import InvalidWebhook
from shared.events import RAW_WEBHOOK, new_event
from shared.kladana_types import TypeTable

SOURCE = "/kladana-pipeline/ingest"
REQUIRED_PARAMETERS = ("id", "type")
MAX_QUERY_CHARACTERS = 4096
"""Far above what Kladana sends; keeps every raw event well under Kafka's record limit."""

_DOCUMENT_ID = re.compile(r"[A-Za-z0-9-]{1,64}")

Query = Mapping[str, Sequence[str]]
"""Each query parameter's name and all its values (at least one), in order."""


def raw_event(method: str, query: Query, received_at: datetime, types: TypeTable) -> CloudEvent:
    """The raw event of one webhook (``method`` is GET or POST, ``received_at`` aware).

    Raises :class:`InvalidWebhook` with the first problem found. The ``token``
    parameter is never recorded.
    """
    _check_shape(query)
    document_id = query["id"][0]
    if not _DOCUMENT_ID.fullmatch(document_id):
        raise InvalidWebhook("invalid_id", "id must be 1 to 64 letters, digits or '-'")
    transaction_type = types.by_name(query["type"][0])
    if transaction_type is None:
        raise InvalidWebhook(
            "invalid_type",
            "type must be one of Kladana's transaction types",
            valid_types=list(types.names),
        )
    data: dict[str, Any] = {
        "document_id": document_id,
        "type": transaction_type.name,
        "entity": transaction_type.entity,
        "received_at": _utc_timestamp(received_at),
        "method": method,
        "query": {name: values[0] for name, values in query.items() if name != TOKEN_PARAMETER},
    }
    return new_event(
        RAW_WEBHOOK, source=SOURCE, document_id=document_id, data=data, time=received_at
    )


def _check_shape(query: Query) -> None:
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
    missing = [name for name in REQUIRED_PARAMETERS if name not in query]
    if missing:
        raise InvalidWebhook(
            "missing_parameter",
            f"missing query parameters: {', '.join(missing)}",
            parameters=missing,
        )


def _utc_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, as the envelope's ``time`` is written."""
    if moment.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
