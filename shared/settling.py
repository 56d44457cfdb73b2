"""Settling one key's records: the handler's answer, or where the one retry policy sends them.

A handler turns a record into the outputs that answer it (:class:`Handled`) or raises.
What happens on a raise is decided here, from the error's class alone
(``shared/errors.py``), so every consumer treats failure the same way:

- retriable: tried again in process (``RetryPolicy.quick_retries``, the one backoff
  function, honouring the error's ``retry_after``); a round that still fails parks the
  record on the retry topic, or, once the rounds are spent, dead-letters it. Without a
  retry topic the record is *held*: left unsettled, read again after the backoff;
- permanent, or an exception nobody expected: dead-lettered at once;
- :class:`~shared.errors.ConfigurationError`: propagated, for the runtime to halt on.

Once one record of a key is parked, the key's later records in the batch are parked
behind it (same failure, not tried again), so a key's records never overtake each other.
"""

import logging
import random
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from shared.batch import Polled
from shared.dead_letters import dead_letter_record
from shared.errors import ConfigurationError, PipelineError, RetriableError
from shared.events import Record
from shared.logs import event_context
from shared.metrics import ConsumerMetrics
from shared.retry_topic import RetryPolicy, attempts_made, park_until, parked_record

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Output:
    topic: str
    record: Record


@dataclass(frozen=True)
class Handled:
    """A handler's answer: the records to publish (acknowledged before the commit), and the
    outcome the ``consumer_events_out_total`` metric counts it under."""

    outputs: tuple[Output, ...] = ()
    outcome: str = "handled"


RecordHandler = Callable[[Polled], Handled]


class Handler(Protocol):
    def for_key(self) -> RecordHandler:
        """A handler for one key's records of one batch, called in their order.

        It may share work between them: the enricher fetches a document once for all of
        its events in the batch. Called from the runtime's worker threads, one per key.
        """


@dataclass(frozen=True)
class Settled:
    """A record and the outputs that settle it, to be acknowledged before it is committed."""

    polled: Polled
    outputs: tuple[Output, ...]
    outcome: str


@dataclass(frozen=True)
class Held:
    """A record left unsettled after a failed round, to be read again after a backoff that
    grows with every round it is held (the runtime counts them)."""

    polled: Polled
    error: RetriableError


@dataclass(frozen=True)
class Destinations:
    dead_letter_topic: str
    group_id: str
    """Named in every dead letter (``dlq.group``), for redrive to tell consumers apart."""


class Settler:
    """Applies the retry policy to the records a handler fails on; thread-safe."""

    def __init__(
        self,
        policy: RetryPolicy,
        destinations: Destinations,
        metrics: ConsumerMetrics,
        *,
        wait: Callable[[float], bool],
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``wait(seconds)`` sleeps and returns True when the service is stopping."""
        self._policy = policy
        self._destinations = destinations
        self._metrics = metrics
        self._wait = wait
        self._jitter = jitter
        self._clock = clock

    def settle(
        self, group: Sequence[Polled], handle: RecordHandler, should_stop: Callable[[], bool]
    ) -> Iterator[Settled | Held]:
        """Settle one key's records in order; stop early when ``should_stop()`` or at a hold.

        Raises :class:`ConfigurationError`, settling nothing more.
        """
        parked_on: RetriableError | None = None
        for polled in group:
            if should_stop():
                return
            self._metrics.events_in.labels(polled.partition.topic).inc()
            with (
                event_context(document_id=polled.record.document_id),
                self._metrics.processing_seconds.time(),
            ):
                if parked_on is not None:
                    result = self._after_round(polled, parked_on)
                else:
                    result, parked_on = self._handled(polled, handle)
            if isinstance(result, Held):
                yield result
                return
            self._metrics.events_out.labels(result.outcome).inc()
            yield result

    def _handled(
        self, polled: Polled, handle: RecordHandler
    ) -> tuple[Settled | Held, RetriableError | None]:
        """The record's settlement, and the error its round failed with when it was parked."""
        retry = 0
        while True:
            try:
                handled = handle(polled)
                return Settled(polled, handled.outputs, handled.outcome), None
            except ConfigurationError as error:
                self._metrics.failed(error)
                raise
            except RetriableError as error:
                self._metrics.failed(error)
                if retry < self._policy.quick_retries and not self._quick_wait(error, retry + 1):
                    retry += 1
                    continue
                result = self._after_round(polled, error)
                return result, error if self._is_parked(result) else None
            except PipelineError as error:
                self._metrics.failed(error)
                return self._dead_letter(polled, error, str(error)), None
            except Exception as error:
                # A bug on odd input must not stall every record behind it.
                self._metrics.failed(error)
                log.error(
                    "handler failed unexpectedly",
                    extra={"origin": polled.origin, "traceback": traceback.format_exc()},
                )
                reason = f"unexpected {type(error).__name__}: {error}"
                return self._dead_letter(polled, error, reason), None

    def _quick_wait(self, error: RetriableError, retry: int) -> bool:
        """Wait before in-process retry ``retry``; True when stopping (give the round up)."""
        delay = self._policy.quick_delay(
            retry, jitter_draw=self._jitter(), retry_after=error.retry_after
        )
        log.warning(
            "retrying after a transient error",
            extra={"retry": retry, "delay_s": delay, "reason": str(error)},
        )
        return self._wait(delay)

    def _after_round(self, polled: Polled, error: RetriableError) -> Settled | Held:
        """A failed round: parked, dead-lettered once the rounds are spent, or held."""
        attempt = attempts_made(polled.record) + 1
        if self._policy.exhausted(attempt):
            reason = f"gave up after {attempt} attempts: {error}"
            return self._dead_letter(polled, error, reason, attempts=attempt)
        retry_topic = self._policy.retry_topic
        if retry_topic is None:
            return Held(polled, error)
        delay = self._policy.park_delay(
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
        record = parked_record(polled.record, attempt=attempt, due=due, reason=str(error))
        return Settled(polled, (Output(retry_topic, record),), "parked")

    def _is_parked(self, result: Settled | Held) -> bool:
        return isinstance(result, Settled) and result.outcome == "parked"

    def _dead_letter(
        self, polled: Polled, error: BaseException, reason: str, *, attempts: int | None = None
    ) -> Settled:
        log.error("dead-lettered", extra={"origin": polled.origin, "reason": reason})
        letter = dead_letter_record(
            polled.record,
            reason=reason,
            error=error,
            origin=polled.origin,
            group_id=self._destinations.group_id,
            attempts=attempts,
        )
        return Settled(
            polled, (Output(self._destinations.dead_letter_topic, letter),), "dead_lettered"
        )
