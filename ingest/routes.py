"""Ingest's HTTP face: ``/webhook``, ``/healthz``, ``/readyz`` and ``/metrics``. Speaks HTTP only;
the checks live in :mod:`ingest.access`, :mod:`ingest.webhooks` and :mod:`ingest.native`."""

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.exceptions import MethodNotAllowed

from ingest.access import TOKEN_PARAMETER, AccessPolicy, Address
from ingest.errors import InvalidWebhook, SinkUnavailable
from ingest.metrics import count_webhook, sink_registry
from ingest.native import NativeWebhook, native_webhook
from ingest.request_ids import Claim, RequestIds
from ingest.sink import EventSink
from ingest.webhooks import WebhookKind, raw_event, webhook_kind
from shared.events import to_record
from shared.kladana_types import TypeTable

log = logging.getLogger("ingest")

WEBHOOK_METHODS = ("GET", "POST")
_CLAIM_POLL_S = 0.02


def json_error(status: int, code: str, message: str, **details: Any) -> tuple[Response, int]:
    return jsonify(error=code, message=message, **details), status


def webhook_blueprint(
    sink: EventSink,
    *,
    access: AccessPolicy,
    request_ids: RequestIds,
    types: TypeTable,
    request_id_wait_s: float,
) -> Blueprint:
    blueprint = Blueprint("ingest", __name__)
    metrics = sink_registry(sink)

    @blueprint.before_request
    def start_clock() -> None:
        g.arrived_at = time.monotonic()

    @blueprint.after_request
    def count(response: Response) -> Response:
        if request.path.startswith("/webhook"):
            count_webhook(response, time.monotonic() - g.arrived_at)
        return response

    @blueprint.route("/webhook", methods=WEBHOOK_METHODS)
    @blueprint.route("/webhook/<path_token>", methods=WEBHOOK_METHODS)
    def receive_webhook(path_token: str | None = None) -> tuple[Response, int]:
        # Werkzeug adds HEAD to every GET route; a HEAD must not publish anything.
        if request.method not in WEBHOOK_METHODS:
            raise MethodNotAllowed(valid_methods=WEBHOOK_METHODS)
        client = access.client(request.remote_addr, request.headers.getlist("X-Forwarded-For"))
        if not access.admits(client):
            log.warning("webhook refused", extra={"error": "forbidden", **_caller(client)})
            return json_error(403, "forbidden", "webhooks are not accepted from this address")
        query = dict(request.args.lists())
        presented = [*query.get(TOKEN_PARAMETER, ()), *([path_token] if path_token else [])]
        if not access.authenticates(presented):
            log.warning("webhook refused", extra={"error": "unauthorized", **_caller(client)})
            return json_error(
                401,
                "unauthorized",
                "a valid token is required, as the token query parameter or as /webhook/<token>",
            )
        received_at = datetime.now(UTC)
        try:
            if webhook_kind(request.method, query) is WebhookKind.NATIVE:
                delivery = native_webhook(request.get_data(cache=False), query, received_at, types)
                return accept_native(delivery)
            event = raw_event(request.method, query, received_at, types)
        except InvalidWebhook as refused:
            log.warning("webhook refused", extra={"error": refused.code, **_caller(client)})
            return jsonify(refused.body()), 400
        about = {"event_id": event.get_id(), "document_id": event.get_subject()}
        try:
            sink.accept([to_record(event)])
        except SinkUnavailable as error:
            return _unavailable([about], error)
        log.info("webhook accepted", extra=about)
        return jsonify(event_id=event.get_id()), 202

    def accept_native(delivery: NativeWebhook) -> tuple[Response, int]:
        """Answered 200 (what Kladana expects) once accepted, or when accepted before."""
        request_id = delivery.request_id
        event_ids = [event.get_id() for event in delivery.events]
        about = [
            {
                "event_id": event.get_id(),
                "document_id": event.get_subject(),
                "request_id": request_id,
            }
            for event in delivery.events
        ]
        claim = claim_when_settled(request_id)
        if claim is Claim.DUPLICATE:
            log.info("webhook repeated; already accepted", extra={"request_id": request_id})
            return jsonify(request_id=request_id, event_ids=event_ids, duplicate=True), 200
        if claim is Claim.IN_FLIGHT:
            log.warning("webhook repeated while in progress", extra={"request_id": request_id})
            return _retry_later(
                "in_progress",
                "an earlier delivery of this requestId is still being accepted; retry",
            )
        try:
            sink.accept([to_record(event) for event in delivery.events])
        except SinkUnavailable as error:
            request_ids.release(request_id)
            return _unavailable(about, error)
        except BaseException:
            request_ids.release(request_id)
            raise
        request_ids.confirm(request_id)
        for fields in about:
            log.info("webhook accepted", extra=fields)
        return jsonify(request_id=request_id, event_ids=event_ids, duplicate=False), 200

    def claim_when_settled(request_id: str) -> Claim:
        """Claim ``request_id``; while another request holds it, wait a little for it to end."""
        deadline = time.monotonic() + request_id_wait_s
        claim = request_ids.claim(request_id)
        while claim is Claim.IN_FLIGHT and time.monotonic() < deadline:
            time.sleep(_CLAIM_POLL_S)
            claim = request_ids.claim(request_id)
        return claim

    @blueprint.get("/healthz")
    def alive() -> tuple[Response, int]:
        return jsonify(status="ok"), 200

    @blueprint.get("/readyz")
    def ready() -> tuple[Response, int]:
        """200 while events can be accepted: by the broker, or by the spool while the broker
        is away (a load balancer should keep sending webhooks to an instance that spools)."""
        status = sink.status()
        if status.broker_connected:
            state = "ready"
        elif status.spool_writable:
            state = "spooling"
        else:
            state = "unavailable"
        body = jsonify(
            status=state,
            broker_connected=status.broker_connected,
            spool_depth=status.spool_depth,
            oldest_spooled_age_s=status.oldest_spooled_age_s,
            spool_writable=status.spool_writable,
        )
        return body, 200 if status.can_accept else 503

    @blueprint.get("/metrics")
    def scrape() -> Response:
        return Response(generate_latest(metrics), content_type=CONTENT_TYPE_LATEST)

    return blueprint


def _caller(client: Address | None) -> dict[str, Any]:
    """Who sent a refused webhook, for the log; never the URL (it holds the token)."""
    return {
        "method": request.method,
        "remote_addr": request.remote_addr,
        "client": None if client is None else str(client),
    }


def _unavailable(about: Sequence[dict[str, Any]], error: SinkUnavailable) -> tuple[Response, int]:
    """503 with Retry-After: nothing was accepted, the sender should try again."""
    for fields in about:
        log.warning(
            "webhook not accepted: sink unavailable", extra={**fields, "reason": str(error)}
        )
    return _retry_later(
        "unavailable",
        "the event was not accepted: neither the broker nor the local spool took it; retry",
    )


def _retry_later(code: str, message: str) -> tuple[Response, int]:
    response, status = json_error(503, code, message)
    response.headers["Retry-After"] = "1"
    return response, status
