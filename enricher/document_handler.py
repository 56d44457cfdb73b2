"""The enricher as a handler on the consumer runtime: one raw event in, the events that
answer it out.

A key's records share one Kladana call per document (:meth:`EnrichHandler.for_key`):
several webhooks for a document waiting in one batch cost one fetch, and each still gets
its own enriched event. What a failure costs is decided by the runtime from the error's
class (``enricher/errors.py``): a 5xx, 429 or timeout is retried, a refused token halts,
anything permanent (a type this user may not see included) is dead-lettered. The one
outcome decided here is a 404: the dead letter goes out together with a "document
unavailable" event for subscribers.
"""

import logging
from typing import Any
from zoneinfo import ZoneInfo

from enricher.errors import DocumentNotFound
from enricher.handlers import (
    DocumentRequest,
    DocumentSource,
    deleted_record,
    enriched_event_id,
    enriched_record,
    read_request,
    unavailable_record,
)
from enricher.metrics import EnricherMetrics
from shared.batch import Polled
from shared.dead_letters import dead_letter_of
from shared.errors import PermanentError
from shared.kladana_types import TypeTable
from shared.logs import event_context
from shared.settling import Handled, Output, RecordHandler

log = logging.getLogger(__name__)

Fetched = dict[str, Any] | PermanentError
"""A document, or the permanent answer Kladana gave for it (transient ones are not kept)."""


class EnrichHandler:
    """Turns raw events into enriched ones; safe to run for many documents at once."""

    def __init__(
        self,
        client: DocumentSource,
        types: TypeTable,
        *,
        enriched_topic: str,
        dead_letter_topic: str,
        group_id: str,
        timezone: ZoneInfo,
        metrics: EnricherMetrics,
    ) -> None:
        self._client = client
        self._types = types
        self._enriched_topic = enriched_topic
        self._dead_letter_topic = dead_letter_topic
        self._group_id = group_id
        self._timezone = timezone
        self._metrics = metrics

    def for_key(self) -> RecordHandler:
        fetched: dict[tuple[str, str], Fetched] = {}
        return lambda polled: self._handle(polled, fetched)

    def _handle(self, polled: Polled, fetched: dict[tuple[str, str], Fetched]) -> Handled:
        request = read_request(polled.record, self._types)
        with event_context(event_id=request.raw_event_id, raw_event_id=request.raw_event_id):
            if request.deletion is not None:
                log.info("deleted in Kladana: not fetched")
                deleted = deleted_record(request, request.deletion)
                return Handled((Output(self._enriched_topic, deleted),), "deleted")
            outcome = self._document(request, fetched)
            if isinstance(outcome, DocumentNotFound):
                self._metrics.consumer.failed(outcome)
                letter = dead_letter_of(polled, outcome, str(outcome), self._group_id)
                return Handled(
                    (
                        Output(self._dead_letter_topic, letter),
                        Output(self._enriched_topic, unavailable_record(request, outcome)),
                    ),
                    "unavailable",
                )
            if isinstance(outcome, PermanentError):
                raise outcome
            record = enriched_record(request, outcome, timezone=self._timezone)
            log.info(
                "enriched", extra={"enriched_event_id": enriched_event_id(request.raw_event_id)}
            )
            return Handled((Output(self._enriched_topic, record),), "enriched")

    def _document(
        self, request: DocumentRequest, fetched: dict[tuple[str, str], Fetched]
    ) -> Fetched:
        """Kladana's document or its permanent refusal, fetched once per key and batch.

        A transient failure is raised, not kept: the runtime's retry calls this again.
        """
        if request.fetch_key in fetched:
            self._metrics.kladana.fetches_saved.inc()
            return fetched[request.fetch_key]
        entity, document_id = request.fetch_key
        outcome: Fetched
        try:
            outcome = self._client.fetch_document(
                entity, document_id, request.transaction_type.expand
            )
        except PermanentError as error:
            outcome = error
        fetched[request.fetch_key] = outcome
        return outcome
