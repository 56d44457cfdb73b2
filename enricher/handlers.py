"""One raw webhook event in, one enriched event out (or an error the loop acts on)."""

import logging
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from cloudevents.core.v1.event import CloudEvent

from enricher.documents import to_document
from shared.contracts import validate_event
from shared.errors import MalformedEvent
from shared.events import ENRICHED_DOCUMENT, RAW_WEBHOOK, Record, event_data, new_event, to_record
from shared.kladana_types import TypeTable

SOURCE = "/kladana-pipeline/enricher"

log = logging.getLogger(__name__)


class DocumentSource(Protocol):
    def fetch_document(self, entity: str, document_id: str) -> dict[str, Any]: ...


class RecordPublisher(Protocol):
    def publish(self, topic: str, record: Record) -> None: ...


class EnrichHandler:
    """Looks the raw event's document up in Kladana and publishes it, enriched.

    Returns only once the enriched event is acknowledged, so the consumer loop commits
    the raw event's offset only after its output is safe.
    """

    def __init__(
        self,
        client: DocumentSource,
        publisher: RecordPublisher,
        enriched_topic: str,
        types: TypeTable,
        *,
        timezone: ZoneInfo,
    ) -> None:
        self._client = client
        self._publisher = publisher
        self._enriched_topic = enriched_topic
        self._types = types
        self._timezone = timezone

    def __call__(self, raw: CloudEvent) -> None:
        data = event_data(raw, RAW_WEBHOOK)
        type_name = data.get("type")
        transaction_type = self._types.by_name(type_name) if isinstance(type_name, str) else None
        if transaction_type is None:
            raise MalformedEvent(f"unknown transaction type {type_name!r}")
        document_id = data.get("document_id")
        if not isinstance(document_id, str) or not document_id:
            raise MalformedEvent("raw event has no document_id")

        kladana = self._client.fetch_document(transaction_type.entity, document_id)
        document = to_document(kladana, transaction_type=transaction_type, timezone=self._timezone)
        enriched = new_event(
            ENRICHED_DOCUMENT,
            source=SOURCE,
            document_id=document_id,
            data={"raw_event_id": raw.get_id(), "document": document, "kladana": kladana},
        )
        validate_event(enriched)
        self._publisher.publish(self._enriched_topic, to_record(enriched))
        log.info(
            "enriched",
            extra={
                "raw_event_id": raw.get_id(),
                "event_id": enriched.get_id(),
                "document_id": document_id,
                "type": transaction_type.name,
                "state": document["state"],
            },
        )
