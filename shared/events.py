"""The CloudEvents 1.0 envelope of every record the pipeline writes.

Records are in structured mode: the value is the whole event as JSON, the
``content-type`` header is ``application/cloudevents+json`` and the key is the
``partitionkey`` extension (the Kladana document id), so all events of one document
land in one partition, in order.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cloudevents.core.bindings import kafka as kafka_binding
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from shared.errors import MalformedEvent

_FORMAT = JSONFormat()


@dataclass(frozen=True)
class EventSpec:
    """An event type and the versioned JSON Schema its records follow."""

    type: str
    schema_name: str

    @property
    def dataschema(self) -> str:
        return f"urn:kladana-pipeline:schema:{self.schema_name}"


RAW_WEBHOOK = EventSpec("com.kladana.webhook.received.v1", "raw-webhook.v1")
ENRICHED_DOCUMENT = EventSpec("com.kladana.document.enriched.v1", "enriched-document.v1")
DOCUMENT_UNAVAILABLE = EventSpec("com.kladana.document.unavailable.v1", "document-unavailable.v1")
DOCUMENT_DELETED = EventSpec("com.kladana.document.deleted.v1", "document-deleted.v1")
EVENT_SPECS = {
    spec.type: spec
    for spec in (RAW_WEBHOOK, ENRICHED_DOCUMENT, DOCUMENT_UNAVAILABLE, DOCUMENT_DELETED)
}


@dataclass(frozen=True)
class Record:
    """A record as it travels over Kafka: what a producer sends, what a consumer reads."""

    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def document_id(self) -> str | None:
        """The key as text: the Kladana document id, known even when the value is garbage."""
        return None if self.key is None else self.key.decode(errors="replace")


def new_event(
    spec: EventSpec,
    *,
    source: str,
    document_id: str,
    data: dict[str, Any],
    time: datetime | None = None,
    event_id: str | None = None,
) -> CloudEvent:
    """A new event about one Kladana document, with ``event_id`` or else a fresh id.

    A given ``event_id`` lets the same input always produce the same event id, so that a
    subscriber can drop repeats by id.
    """
    attributes: dict[str, Any] = {
        "type": spec.type,
        "source": source,
        "subject": document_id,
        "partitionkey": document_id,
        "datacontenttype": "application/json",
        "dataschema": spec.dataschema,
    }
    if time is not None:
        attributes["time"] = time
    if event_id is not None:
        attributes["id"] = event_id
    return CloudEvent(attributes=attributes, data=data)


def to_record(event: CloudEvent) -> Record:
    message = kafka_binding.to_structured(event, _FORMAT)
    key = message.key.encode() if isinstance(message.key, str) else message.key
    return Record(key=key, value=message.value, headers=tuple(message.headers.items()))


def from_record(record: Record) -> CloudEvent:
    """Parse a structured-mode record; anything else is a :class:`MalformedEvent`."""
    message = kafka_binding.KafkaMessage(
        headers=dict(record.headers), key=record.key, value=record.value
    )
    try:
        event = kafka_binding.from_structured(message, _FORMAT, CloudEvent)
    except (
        BaseCloudEventException,
        ValueError,
        TypeError,
        AttributeError,
        RecursionError,
    ) as error:
        # RecursionError: JSON nested too deeply for Python's parser.
        raise MalformedEvent(f"not a structured CloudEvent: {error}") from error
    if not isinstance(event, CloudEvent):
        raise MalformedEvent("not a CloudEvents 1.0 event")
    return event


def event_data(event: CloudEvent, spec: EventSpec) -> dict[str, Any]:
    """The event's ``data`` object, after checking the event is of type ``spec``."""
    if event.get_type() != spec.type:
        raise MalformedEvent(f"expected an event of type {spec.type}, got {event.get_type()}")
    data = event.get_data()
    if not isinstance(data, dict):
        raise MalformedEvent("event data is not a JSON object")
    return data
