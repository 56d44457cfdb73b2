"""Ingest's HTTP face: ``/webhook``, ``/healthz``, ``/readyz`` and ``/metrics``. Speaks HTTP only:
who may send (:mod:`ingest.access`), parsing (:mod:`ingest.webhooks`, :mod:`ingest.native`)
and what is done with a webhook (:mod:`ingest.handlers`) live elsewhere."""

import logging
import time
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.v1.event import CloudEvent
from flask import Blueprint, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.exceptions import MethodNotAllowed

from ingest.access import TOKEN_PARAMETER, AccessPolicy, Address
from ingest.errors import DeliveryInProgress, InvalidWebhook, SinkUnavailable
from ingest.handlers import WebhookHandler
from ingest.metrics import count_ignored_events, count_webhook, sink_registry
from ingest.native import NativeWebhook, native_webhook
from ingest.sink import EventSink
from ingest.webhooks import Query, WebhookKind, raw_event, webhook_kind
from shared.kladana_types import TypeTable

log = logging.getLogger("ingest")

WEBHOOK_METHODS = ("GET", "POST")


def json_error(status: int, code: str, message: str, **details: Any) -> tuple[Response, int]:
    return jsonify(error=code, message=message, **details), status


def webhook_blueprint(
    handler: WebhookHandler, sink: EventSink, *, access: AccessPolicy, types: TypeTable
) -> Blueprint:
    """``handler`` accepts what ``/webhook`` parsed; ``sink`` answers readiness and metrics."""
    blueprint = Blueprint("ingest", __name__)
    metrics = sink_registry(sink)

    # Every request's, not only this blueprint's: the app's body limit, which runs after
    # it, may refuse a webhook before its route is reached.
    @blueprint.before_app_request
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
        try:
            webhook = parse(query)
        except InvalidWebhook as refused:
            log.warning("webhook refused", extra={"error": refused.code, **_caller(client)})
            return jsonify(refused.body()), 400
        if isinstance(webhook, NativeWebhook):
            # 200, what Kladana expects of a native webhook, also for a repeat.
            accepted = handler.accept_native(webhook)
            if not accepted.duplicate:
                count_ignored_events(webhook.ignored)
            body = jsonify(
                request_id=accepted.request_id,
                event_ids=accepted.event_ids,
                duplicate=accepted.duplicate,
                ignored_events=accepted.ignored_events,
            )
            return body, 200
        handler.accept_workflow(webhook)
        return jsonify(event_id=webhook.get_id()), 202

    def parse(query: Query) -> NativeWebhook | CloudEvent:
        received_at = datetime.now(UTC)
        if webhook_kind(request.method, query) is WebhookKind.NATIVE:
            # Read already, within the limit: ingest.app's body limit.
            return native_webhook(request.get_data(), query, received_at, types)
        # A workflow webhook's body means nothing; only its size was checked.
        return raw_event(request.method, query, received_at, types)

    @blueprint.errorhandler(SinkUnavailable)
    def unavailable(_error: SinkUnavailable) -> tuple[Response, int]:
        return _retry_later(
            "unavailable",
            "the event was not accepted: neither the broker nor the local spool took it; retry",
        )

    @blueprint.errorhandler(DeliveryInProgress)
    def in_progress(_error: DeliveryInProgress) -> tuple[Response, int]:
        return _retry_later(
            "in_progress", "an earlier delivery of this requestId is still being accepted; retry"
        )

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


def _retry_later(code: str, message: str) -> tuple[Response, int]:
    """503 with Retry-After: nothing was accepted, the sender should try again."""
    response, status = json_error(503, code, message)
    response.headers["Retry-After"] = "1"
    return response, status
