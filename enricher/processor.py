"""The events of one document, in order: fetch (once per document), then decide each output.

Every record gets outputs that settle it: an enriched event, a parked copy on the retry
topic, or a dead letter (plus a "document unavailable" event after a 404). Only a
:class:`ConfigurationError` (a refused token: 401/403) settles nothing: it is raised,
for the loop to halt on.
"""

import logging
import random
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from enricher.batch import Polled
from enricher.errors import ConfigurationError, DocumentNotFound
from enricher.handlers import (
    DocumentRequest,
    DocumentSource,
    enriched_event_id,
    enriched_record,
    read_request,
    unavailable_record,
)
from enricher.metrics import EnricherMetrics, default_enricher_metrics
from enricher.retry import (
    RETRY_PREFIX,
    RetryBudget,
    attempts_made,
    park_until,
    parked_record,
    without_headers,
)
from shared.consumer_loop import dead_letter_record
from shared.errors import PipelineError, RetriableError
from shared.events import Record
from shared.kladana_types import TypeTable
from shared.logs import event_context

log = logging.getLogger(__name__)

BODY_HEADER_LIMIT = 4096
"""Kladana's error body is kept in ``dlq.body`` up to this many bytes."""

Fetched = dict[str, Any] | PipelineError


@dataclass(frozen=True)
class Output:
    topic: str
    record: Record


@dataclass(frozen=True)
class Settled:
    """A record and the outputs that settle it, to be published before it is committed."""

    polled: Polled
    outputs: tuple[Output, ...]


@dataclass(frozen=True)
class OutputTopics:
    enriched: str
    retry: str
    dead_letter: str


class DocumentProcessor:
    """Turns one document's records into outputs; safe to run for many documents at once."""

    def __init__(
        self,
        client: DocumentSource,
        types: TypeTable,
        topics: OutputTopics,
        budget: RetryBudget,
        *,
        group_id: str,
        timezone: ZoneInfo,
        wait: Callable[[float], bool],
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: EnricherMetrics | None = None,
    ) -> None:
        """``wait(seconds)`` sleeps and returns True when the service is stopping."""
        self._client = client
        self._types = types
        self._topics = topics
        self._budget = budget
        self._group_id = group_id
        self._timezone = timezone
        self._wait = wait
        self._jitter = jitter
        self._clock = clock
        self._metrics = metrics or default_enricher_metrics()

    def process(self, group: list[Polled], should_stop: Callable[[], bool]) -> Iterator[Settled]:
        """Settle ``group``'s records in order, stopping early when ``should_stop()``.

        Records of the same document and type share one fetch: several webhooks for a
        document waiting in one batch cost one Kladana call, and each still gets its
        own enriched event. Raises :class:`ConfigurationError`, settling nothing more.
        """
        fetched: dict[tuple[str, str], Fetched] = {}
        for polled in group:
            if should_stop():
                return
            yield Settled(polled, self._measured(polled, fetched))

    def _measured(
        self, polled: Polled, fetched: dict[tuple[str, str], Fetched]
    ) -> tuple[Output, ...]:
        """:meth:`_settle`, counted and timed, every log line inside it tagged with the ids."""
        metrics = self._metrics.consumer
        metrics.events_in.labels(polled.partition.topic).inc()
        with (
            event_context(document_id=polled.record.document_id) as log_fields,
            metrics.processing_seconds.time(),
        ):
            outputs = tuple(self._settle(polled, fetched, log_fields))
        metrics.events_out.labels(settled_as(outputs, self._topics)).inc()
        return outputs

    def _settle(
        self, polled: Polled, fetched: dict[tuple[str, str], Fetched], log_fields: dict[str, str]
    ) -> list[Output]:
        try:
            request = read_request(polled.record, self._types)
            log_fields.update(
                event_id=request.raw_event_id,
                raw_event_id=request.raw_event_id,
                document_id=request.document_id,
            )
            attempts = attempts_made(polled.record)
            return self._answer(polled, request, attempts, fetched)
        except ConfigurationError as error:
            self._metrics.consumer.failed(error)
            raise
        except PipelineError as error:
            return [self._dead_letter(polled, error, str(error))]
        except Exception as error:
            # A bug on odd input must not stall every event behind it.
            log.error(
                "enriching failed unexpectedly",
                extra={"origin": polled.origin, "traceback": traceback.format_exc()},
            )
            return [self._dead_letter(polled, error, f"unexpected {type(error).__name__}: {error}")]

    def _answer(
        self,
        polled: Polled,
        request: DocumentRequest,
        attempts: int,
        fetched: dict[tuple[str, str], Fetched],
    ) -> list[Output]:
        if request.fetch_key in fetched:
            self._metrics.kladana.fetches_saved.inc()
        else:
            fetched[request.fetch_key] = self._fetch(request)
        outcome = fetched[request.fetch_key]
        if isinstance(outcome, DocumentNotFound):
            return [
                self._dead_letter(polled, outcome, str(outcome)),
                Output(self._topics.enriched, unavailable_record(request, outcome)),
            ]
        if isinstance(outcome, RetriableError):
            return [self._park(polled, outcome, attempts + 1)]
        if isinstance(outcome, PipelineError):
            raise outcome
        record = enriched_record(request, outcome, timezone=self._timezone)
        log.info("enriched", extra={"enriched_event_id": enriched_event_id(request.raw_event_id)})
        return [Output(self._topics.enriched, record)]

    def _fetch(self, request: DocumentRequest) -> Fetched:
        """Kladana's document, with quick retries of transient failures; or the last error."""
        entity, document_id = request.fetch_key
        retry = 0
        while True:
            try:
                return self._client.fetch_document(entity, document_id)
            except ConfigurationError:
                raise
            except PipelineError as error:
                if not error.retriable or retry >= self._budget.quick_retries:
                    return error
                retry += 1
                delay = self._budget.quick_delay(
                    retry,
                    jitter_draw=self._jitter(),
                    retry_after=getattr(error, "retry_after", None),
                )
                log.warning(
                    "retrying Kladana after a transient error",
                    extra={
                        "document_id": document_id,
                        "retry": retry,
                        "delay_s": delay,
                        "reason": str(error),
                    },
                )
                if self._wait(delay):
                    return error  # stopping: park the event instead of waiting here

    def _park(self, polled: Polled, error: RetriableError, attempt: int) -> Output:
        if self._budget.exhausted(attempt):
            return self._dead_letter(
                polled, error, f"gave up after {attempt} attempts: {error}", attempts=attempt
            )
        self._metrics.consumer.failed(error)
        delay = self._budget.park_delay(
            attempt, jitter_draw=self._jitter(), retry_after=error.retry_after
        )
        due = park_until(self._clock(), delay)
        log.warning(
            "parked on the retry topic",
            extra={
                "origin": polled.origin,
                "attempt": attempt,
                "due": due.isoformat(),
                "reason": str(error),
            },
        )
        return Output(
            self._topics.retry,
            parked_record(polled.record, attempt=attempt, due=due, reason=str(error)),
        )

    def _dead_letter(
        self, polled: Polled, error: BaseException, reason: str, *, attempts: int | None = None
    ) -> Output:
        self._metrics.consumer.failed(error)
        original = polled.record
        clean = Record(
            original.key, original.value, without_headers(original.headers, RETRY_PREFIX)
        )
        letter = dead_letter_record(
            clean, reason=reason, error=error, origin=polled.origin, group_id=self._group_id
        )
        log.error("dead-lettered", extra={"origin": polled.origin, "reason": reason})
        headers = letter.headers + kladana_error_headers(error)
        if attempts is not None:
            headers += (("dlq.attempts", str(attempts).encode()),)
        return Output(self._topics.dead_letter, Record(letter.key, letter.value, headers))


def settled_as(outputs: tuple[Output, ...], topics: OutputTopics) -> str:
    """The outcome label of a record's outputs: enriched, unavailable, parked, dead_lettered."""
    destinations = {output.topic for output in outputs}
    if topics.retry in destinations:
        return "parked"
    if topics.dead_letter in destinations:
        # After a 404 the dead letter comes with a "document unavailable" event.
        return "unavailable" if topics.enriched in destinations else "dead_lettered"
    return "enriched"


def kladana_error_headers(error: BaseException) -> tuple[tuple[str, bytes], ...]:
    """``dlq.status`` and ``dlq.body`` when the error carries Kladana's answer."""
    headers: list[tuple[str, bytes]] = []
    status = getattr(error, "status", None)
    if isinstance(status, int):
        headers.append(("dlq.status", str(status).encode()))
    body = getattr(error, "body", None)
    if isinstance(body, str):
        body = body.encode()
    if isinstance(body, bytes) and body:
        headers.append(("dlq.body", body[:BODY_HEADER_LIMIT]))
    return tuple(headers)
