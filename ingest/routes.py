"""Ingest's HTTP face: ``/webhook``, ``/healthz`` and ``/readyz``. Speaks HTTP only;
the checks live in :mod:`ingest.webhooks` and :mod:`ingest.auth`."""

import logging
from datetime import UTC, datetime
from typing import Any, Protocol

from flask import Blueprint, Response, jsonify, request
from pydantic import SecretStr
from werkzeug.exceptions import MethodNotAllowed

from ingest.auth import TOKEN_PARAMETER, token_accepted
from ingest.errors import InvalidWebhook
from ingest.webhooks import raw_event
from shared.errors import BrokerUnavailable
from shared.events import Record, to_record
from shared.kladana_types import TypeTable

log = logging.getLogger("ingest")

WEBHOOK_METHODS = ("GET", "POST")


class EventPublisher(Protocol):
    """What ingest needs of Kafka; :class:`shared.kafka.Publisher` is the real one."""

    def publish(self, topic: str, record: Record) -> None:
        """Return once the broker acknowledged ``record``; else raise BrokerUnavailable."""

    def is_connected(self) -> bool: ...


def json_error(status: int, code: str, message: str, **details: Any) -> tuple[Response, int]:
    return jsonify(error=code, message=message, **details), status


def webhook_blueprint(
    publisher: EventPublisher, *, raw_topic: str, token: SecretStr | None, types: TypeTable
) -> Blueprint:
    blueprint = Blueprint("ingest", __name__)

    @blueprint.route("/webhook", methods=WEBHOOK_METHODS)
    def receive_webhook() -> tuple[Response, int]:
        # Werkzeug adds HEAD to every GET route; a HEAD must not publish anything.
        if request.method not in WEBHOOK_METHODS:
            raise MethodNotAllowed(valid_methods=WEBHOOK_METHODS)
        query = dict(request.args.lists())
        if not token_accepted(token, query.get(TOKEN_PARAMETER, ())):
            log.warning("webhook refused", extra={"error": "unauthorized", **_caller()})
            return json_error(401, "unauthorized", "a valid token query parameter is required")
        try:
            event = raw_event(request.method, query, datetime.now(UTC), types)
        except InvalidWebhook as refused:
            log.warning("webhook refused", extra={"error": refused.code, **_caller()})
            return jsonify(refused.body()), 400
        about = {"event_id": event.get_id(), "document_id": event.get_subject()}
        try:
            publisher.publish(raw_topic, to_record(event))
        except BrokerUnavailable as error:
            log.warning(
                "webhook not accepted: broker unavailable", extra={**about, "reason": str(error)}
            )
            response, status = json_error(
                503,
                "broker_unavailable",
                "the event was not accepted because the broker did not acknowledge it; retry",
            )
            response.headers["Retry-After"] = "1"
            return response, status
        log.info("webhook accepted", extra=about)
        return jsonify(event_id=event.get_id()), 202

    @blueprint.get("/healthz")
    def alive() -> tuple[Response, int]:
        return jsonify(status="ok"), 200

    @blueprint.get("/readyz")
    def ready() -> tuple[Response, int]:
        if publisher.is_connected():
            return jsonify(status="ready"), 200
        return json_error(503, "broker_unavailable", "not connected to the Kafka broker")

    return blueprint


def _caller() -> dict[str, Any]:
    """Who sent a refused webhook, for the log; never the query string (it holds the token)."""
    return {"method": request.method, "remote_addr": request.remote_addr}
