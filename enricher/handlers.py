"""Pure steps of enriching: read a raw event, build the events that answer it.

The handler (``enricher/document_handler.py``) calls Kladana between these steps and
publishes what they build; nothing here does I/O.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from enricher.documents import to_document
from enricher.errors import DocumentNotFound
from shared.contracts import validate_event
from shared.errors import MalformedEvent
from shared.events import (
    DOCUMENT_DELETED,
    DOCUMENT_UNAVAILABLE,
    ENRICHED_DOCUMENT,
    RAW_WEBHOOK,
    EventSpec,
    Record,
    event_data,
    from_record,
    new_event,
    to_record,
)
from shared.kladana_types import TransactionType, TypeTable

SOURCE = "/kladana-pipeline/enricher"

# The events answering one raw event always get the same ids, so that a subscriber can
# drop the repeats that at-least-once delivery and re-processing after a crash produce.
_ENRICHED_IDS = uuid.UUID("6f1c9a52-3d1e-4e0b-9a57-0b7f3f1f6a01")
_UNAVAILABLE_IDS = uuid.UUID("0c2a5d7e-8b4f-4c3a-b1d9-5e6f7a8b9c02")
_DELETED_IDS = uuid.UUID("9d3e6f10-2b7c-4e8a-a4d1-7c5b3a2f1e03")

DELETE_ACTION = "DELETE"
_DELETION_FACTS = ("received_at", "account_id", "audit_moment", "audit_uid")
"""What a native DELETE webhook says of the deletion, passed on in the deleted event."""


class DocumentSource(Protocol):
    def fetch_document(
        self, entity: str, document_id: str, expand: tuple[str, ...] = ()
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class DocumentRequest:
    """What one raw event asks for: which document, of which type."""

    raw_event_id: str
    document_id: str
    transaction_type: TransactionType
    deletion: dict[str, str] | None = None
    """For a native webhook whose action is DELETE: what it says of the deletion. Such a
    document is not fetched: Kladana no longer has it."""

    @property
    def fetch_key(self) -> tuple[str, str]:
        """Events with equal keys can share one Kladana call."""
        return (self.transaction_type.entity, self.document_id)


def read_request(record: Record, types: TypeTable) -> DocumentRequest:
    """The document a raw webhook record names, or :class:`MalformedEvent`."""
    raw = from_record(record)
    data = event_data(raw, RAW_WEBHOOK)
    type_name = data.get("type")
    transaction_type = types.by_name(type_name) if isinstance(type_name, str) else None
    if transaction_type is None:
        raise MalformedEvent(f"unknown transaction type {type_name!r}")
    document_id = data.get("document_id")
    if not isinstance(document_id, str) or not document_id:
        raise MalformedEvent("raw event has no document_id")
    deletion = None
    if data.get("action") == DELETE_ACTION:
        deletion = {
            name: value for name in _DELETION_FACTS if isinstance(value := data.get(name), str)
        }
    return DocumentRequest(raw.get_id(), document_id, transaction_type, deletion)


def enriched_event_id(raw_event_id: str) -> str:
    """The id of the enriched event answering raw event ``raw_event_id``: always the same."""
    return str(uuid.uuid5(_ENRICHED_IDS, raw_event_id))


def enriched_record(
    request: DocumentRequest, kladana: dict[str, Any], *, timezone: ZoneInfo
) -> Record:
    """The enriched event answering ``request``, checked against its published schema."""
    document = to_document(kladana, transaction_type=request.transaction_type, timezone=timezone)
    enriched = new_event(
        ENRICHED_DOCUMENT,
        source=SOURCE,
        document_id=request.document_id,
        event_id=enriched_event_id(request.raw_event_id),
        data={"raw_event_id": request.raw_event_id, "document": document, "kladana": kladana},
    )
    validate_event(enriched)
    return to_record(enriched)


def unavailable_record(request: DocumentRequest, error: DocumentNotFound) -> Record:
    """The event telling subscribers that Kladana no longer has the document."""
    status = getattr(error, "status", None)
    facts = {"status": status if isinstance(status, int) else 404, "reason": str(error)}
    return _gone_record(DOCUMENT_UNAVAILABLE, _UNAVAILABLE_IDS, request, facts)


def deleted_record(request: DocumentRequest, deletion: dict[str, str]) -> Record:
    """The event telling subscribers that Kladana deleted the document."""
    return _gone_record(DOCUMENT_DELETED, _DELETED_IDS, request, deletion)


def _gone_record(
    spec: EventSpec, ids: uuid.UUID, request: DocumentRequest, facts: Mapping[str, Any]
) -> Record:
    """An event about a document Kladana no longer has, with an id fixed by the raw event's."""
    gone = new_event(
        spec,
        source=SOURCE,
        document_id=request.document_id,
        event_id=str(uuid.uuid5(ids, request.raw_event_id)),
        data={
            "raw_event_id": request.raw_event_id,
            "document_id": request.document_id,
            "type": request.transaction_type.name,
            "entity": request.transaction_type.entity,
            **facts,
        },
    )
    validate_event(gone)
    return to_record(gone)
