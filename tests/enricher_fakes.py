"""Fakes and samples for the enricher's tests: a Kladana that records calls, raw events,
the handler under the runtime's settling rules."""

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from cloudevents.core.v1.event import CloudEvent
from prometheus_client import CollectorRegistry

from enricher.document_handler import EnrichHandler
from enricher.errors import DocumentNotFound
from enricher.handlers import DocumentSource
from enricher.metrics import EnricherMetrics
from shared.batch import Polled
from shared.events import RAW_WEBHOOK, new_event
from shared.kladana_types import TRANSACTION_TYPES, TypeTable
from shared.retry_topic import RetryPolicy
from shared.settling import Destinations, Held, Settled, Settler


def kladana_document(document_id: str, state: str = "Shipped") -> dict[str, Any]:
    """A Kladana document as its JSON API returns it, abridged."""
    return {
        "meta": {
            "href": f"https://api.kladana.com/api/remap/1.2/entity/customerorder/{document_id}"
        },
        "id": document_id,
        "name": "5643",
        "moment": "2024-06-10 12:57:00.000",
        "sum": 5000000,
        "rate": {"currency": {"isoCode": "INR"}},
        "state": {"name": state},
        "agent": {"id": "a1", "name": "Priya Sharma", "phone": "+91 98765 43210", "email": None},
        "organization": {"name": "Ganesh Traders Pvt Ltd"},
    }


def raw_event(document_id: str, type_name: str = "CustomerOrder") -> CloudEvent:
    transaction_type = TRANSACTION_TYPES.by_name(type_name)
    assert transaction_type is not None
    return new_event(
        RAW_WEBHOOK,
        source="/kladana-pipeline/ingest",
        document_id=document_id,
        data={
            "document_id": document_id,
            "type": type_name,
            "entity": transaction_type.entity,
            "received_at": datetime.now(UTC).isoformat(),
            "method": "GET",
            "query": {"id": document_id, "type": type_name},
        },
    )


def not_found(document_id: str) -> DocumentNotFound:
    """A 404 as the Kladana client raises it, with Kladana's status and body attached."""
    error = DocumentNotFound(f"Kladana answered 404 for customerorder/{document_id}: not found")
    error.status = 404  # type: ignore[attr-defined]
    error.body = '{"errors": [{"error": "not found", "code": 1021}]}'  # type: ignore[attr-defined]
    return error


Script = Callable[[str, str, int], Exception | None]
"""(entity, document_id, call number for this document from 1) -> an error to raise, or None."""


class RecordingSource:
    """A Kladana document source that records every call and fails as its script says."""

    def __init__(self, script: Script | None = None, *, delay_s: float = 0.0) -> None:
        self.script = script
        self.delay_s = delay_s
        self.calls: list[tuple[str, str, float]] = []
        self.expands: list[tuple[str, ...]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def fetch_document(
        self, entity: str, document_id: str, expand: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        with self._lock:
            self.calls.append((entity, document_id, time.time()))
            self.expands.append(expand)
            number = sum(1 for call in self.calls if call[1] == document_id)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.delay_s)
            error = self.script(entity, document_id, number) if self.script else None
            if error is not None:
                raise error
            return kladana_document(document_id)
        finally:
            with self._lock:
                self.in_flight -= 1

    def calls_for(self, document_id: str) -> int:
        with self._lock:
            return sum(1 for call in self.calls if call[1] == document_id)


class Waits:
    """Records the in-process waits; ``stopping`` says what wait() answers."""

    def __init__(self, stopping: bool = False) -> None:
        self.stopping = stopping
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> bool:
        self.delays.append(seconds)
        return self.stopping


class SettlingProcessor:
    """The enricher's handler and the settler as the runtime combines them for one key's
    records: what the runtime would publish for them, without a broker."""

    def __init__(self, handler: EnrichHandler, settler: Settler) -> None:
        self._handler = handler
        self._settler = settler

    def process(
        self, group: list[Polled], should_stop: Callable[[], bool]
    ) -> Iterator[Settled | Held]:
        return self._settler.settle(group, self._handler.for_key(), should_stop)


NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
"""The settler's clock in :func:`settling_processor`: parked records are due after it."""


def settling_processor(
    source: DocumentSource,
    waits: Waits | None = None,
    *,
    quick: int = 2,
    attempts: int = 3,
    types: TypeTable = TRANSACTION_TYPES,
    registry: CollectorRegistry | None = None,
) -> SettlingProcessor:
    policy = RetryPolicy(
        quick_retries=quick,
        max_attempts=attempts,
        quick_base_s=0.5,
        quick_cap_s=4,
        park_base_s=10,
        park_cap_s=60,
        retry_topic="retry",
    )
    metrics = EnricherMetrics.on(registry or CollectorRegistry())
    handler = EnrichHandler(
        source,
        types,
        enriched_topic="enriched",
        dead_letter_topic="dlq",
        group_id="enricher",
        timezone=ZoneInfo("Europe/Moscow"),
        metrics=metrics,
    )
    settler = Settler(
        policy,
        Destinations(dead_letter_topic="dlq", group_id="enricher"),
        metrics.consumer,
        wait=waits or Waits(),
        jitter=lambda: 1.0,
        clock=lambda: NOW,
    )
    return SettlingProcessor(handler, settler)
