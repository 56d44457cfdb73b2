"""What ingest does with a parsed webhook: hand its events to the sink, and a native
delivery only once per ``requestId`` (claim, wait, confirm, release).

Kladana repeats a native delivery it got no timely 200 for, with the same ``requestId``,
and the repeat may arrive while the first is still being accepted, in another thread or
worker. The store (:mod:`ingest.request_ids`) says who owns a ``requestId``; here is what
each request does about it. No HTTP here: the route maps what these return or raise.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from cloudevents.core.v1.event import CloudEvent

from ingest.errors import DeliveryInProgress, SinkUnavailable
from ingest.native import NativeWebhook
from ingest.request_ids import Claim
from ingest.sink import EventSink
from shared.events import to_record

log = logging.getLogger("ingest")

CLAIM_POLL_S = 0.02
"""How often a repeat looks again whether the delivery holding its ``requestId`` ended."""


class RequestIdStore(Protocol):
    """Who owns a native ``requestId``; :class:`ingest.request_ids.RequestIds`."""

    def claim(self, request_id: str) -> Claim: ...

    def confirm(self, request_id: str) -> None: ...

    def release(self, request_id: str) -> None: ...


@dataclass(frozen=True)
class NativeAccepted:
    """A native delivery's events are durable: accepted now, or by an earlier delivery
    (``duplicate``) of the same ``requestId``."""

    request_id: str
    event_ids: list[str]
    duplicate: bool
    ignored_events: int
    """Events about entities other than the 14 types: skipped, not published."""


class WebhookHandler:
    """Accepts parsed webhooks into ``sink``.

    A repeat of a native delivery still in progress waits up to ``request_id_wait_s`` for
    it to end; ``clock`` and ``sleep`` are that wait's (tests pass fakes).
    """

    def __init__(
        self,
        sink: EventSink,
        request_ids: RequestIdStore,
        *,
        request_id_wait_s: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._sink = sink
        self._request_ids = request_ids
        self._request_id_wait_s = request_id_wait_s
        self._clock = clock
        self._sleep = sleep

    def accept_workflow(self, event: CloudEvent) -> None:
        """Returns once the event is durable; raises :class:`SinkUnavailable` otherwise."""
        about = [_about(event)]
        try:
            self._sink.accept([to_record(event)])
        except SinkUnavailable as error:
            _log_not_accepted(about, error)
            raise
        _log_accepted(about)

    def accept_native(self, delivery: NativeWebhook) -> NativeAccepted:
        """Accepts the delivery's events unless an earlier delivery of its ``requestId``
        did. Raises :class:`DeliveryInProgress` when that earlier one is still running
        after the wait, :class:`SinkUnavailable` when the sink took nothing; either way
        Kladana's next attempt may claim the ``requestId``."""
        request_id = delivery.request_id
        event_ids = [event.get_id() for event in delivery.events]
        ignored_events = sum(delivery.ignored.values())
        claim = self._claim_when_settled(request_id)
        if claim is Claim.DUPLICATE:
            log.info("webhook repeated; already accepted", extra={"request_id": request_id})
            return NativeAccepted(
                request_id, event_ids, duplicate=True, ignored_events=ignored_events
            )
        if claim is Claim.IN_FLIGHT:
            log.warning("webhook repeated while in progress", extra={"request_id": request_id})
            raise DeliveryInProgress(f"requestId {request_id} is still being accepted")
        about = [_about(event, request_id=request_id) for event in delivery.events]
        # Whatever goes wrong, nothing was accepted: Kladana's next attempt must not be
        # taken for a repeat.
        try:
            # A delivery of other entities only has nothing to publish, yet is accepted:
            # Kladana would retry a refusal and in the end disable the webhook.
            if delivery.events:
                self._sink.accept([to_record(event) for event in delivery.events])
        except SinkUnavailable as error:
            self._request_ids.release(request_id)
            _log_not_accepted(about, error)
            raise
        except BaseException:
            self._request_ids.release(request_id)
            raise
        self._request_ids.confirm(request_id)
        _log_accepted(about)
        _log_ignored(delivery)
        return NativeAccepted(request_id, event_ids, duplicate=False, ignored_events=ignored_events)

    def _claim_when_settled(self, request_id: str) -> Claim:
        """Claim ``request_id``; while another request holds it, wait a little for it to end."""
        deadline = self._clock() + self._request_id_wait_s
        claim = self._request_ids.claim(request_id)
        while claim is Claim.IN_FLIGHT and self._clock() < deadline:
            self._sleep(CLAIM_POLL_S)
            claim = self._request_ids.claim(request_id)
        return claim


def _about(event: CloudEvent, **more: str) -> dict[str, Any]:
    """What the log says of one event (never the query: it may hold the token)."""
    return {"event_id": event.get_id(), "document_id": event.get_subject(), **more}


def _log_accepted(about: list[dict[str, Any]]) -> None:
    for fields in about:
        log.info("webhook accepted", extra=fields)


def _log_ignored(delivery: NativeWebhook) -> None:
    """Once per accepted delivery, not per repeat (as the route counts them)."""
    for entity, count in sorted(delivery.ignored.items()):
        log.info(
            "webhook events ignored: not a transaction type",
            extra={"request_id": delivery.request_id, "entity": entity, "count": count},
        )


def _log_not_accepted(about: list[dict[str, Any]], error: SinkUnavailable) -> None:
    for fields in about:
        log.warning(
            "webhook not accepted: sink unavailable", extra={**fields, "reason": str(error)}
        )
