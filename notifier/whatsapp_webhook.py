"""Meta's WhatsApp webhooks, to mount at :data:`WHATSAPP_MOUNT` on the notifier's
METRICS_PORT: the subscription handshake and the status of each message we sent.

``GET /webhook`` answers Meta's verification request (``hub.mode=subscribe``, the verify
token typed into the App Dashboard, ``hub.challenge`` echoed). ``POST /webhook`` takes an
event notification only when ``X-Hub-Signature-256`` is ``sha256=`` and the hex HMAC-SHA256
of the raw body under the app secret; its ``statuses`` go to a :class:`StatusHandler`.
Meta retries whatever is not answered 200, so a signed notification without statuses
(an inbound message, say) is answered 200 and ignored. Recording is the handler's.
"""

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from flask import Flask, Response, request
from flask.typing import ResponseReturnValue
from pydantic import SecretStr
from werkzeug.exceptions import HTTPException

from notifier.errors import LedgerUnavailable
from shared.http_errors import json_error, json_http_error

log = logging.getLogger(__name__)

WHATSAPP_MOUNT = "/whatsapp"
WEBHOOK_PATH = "/webhook"
SIGNATURE_HEADER = "X-Hub-Signature-256"
MAX_NOTIFICATION_BYTES = 3 * 1024 * 1024
"""Meta's webhook payloads are "up to 3MB"."""


@dataclass(frozen=True)
class WhatsAppStatus:
    """One ``statuses[]`` item: what became of a message we sent."""

    message_id: str
    """The ``wamid....`` the send was answered with."""
    status: str
    """Meta's word: ``sent``, ``delivered``, ``read`` or ``failed`` (others may come)."""
    timestamp: int | None
    """Unix seconds, when Meta saw the change."""
    error_codes: tuple[int, ...] = ()
    """Meta's codes of a ``failed`` message, e.g. 131026 (not on WhatsApp)."""
    recipient_id: str = field(default="", repr=False)
    """The recipient's WhatsApp id, their number: never logged, hence not in repr."""


class StatusHandler(Protocol):
    def record(self, statuses: list[WhatsAppStatus]) -> None:
        """Record them; :class:`LedgerUnavailable` makes Meta deliver them again."""


def signature_valid(body: bytes, header: str, app_secret: SecretStr) -> bool:
    """Is ``header`` ``sha256=`` and the HMAC-SHA256 of ``body`` under the app secret?"""
    given = header.removeprefix("sha256=")
    if given == header:
        return False
    key = app_secret.get_secret_value().encode()
    expected = hmac.new(key, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given.encode(), expected.encode())


def subscription_challenge(query: Mapping[str, str], verify_token: SecretStr) -> str | None:
    """The ``hub.challenge`` to echo for a genuine verification request, else None."""
    given = query.get("hub.verify_token", "").encode()
    challenge = query.get("hub.challenge")
    if query.get("hub.mode") != "subscribe" or not challenge:
        return None
    return (
        challenge if hmac.compare_digest(given, verify_token.get_secret_value().encode()) else None
    )


def parse_statuses(notification: object) -> list[WhatsAppStatus]:
    """Every status in ``entry[].changes[].value.statuses[]``; an item without a string
    ``id`` and ``status`` is not one, and anything else in the notification is ignored."""
    found = []
    for entry in _objects(notification, "entry"):
        for change in _objects(entry, "changes"):
            for item in _objects(change.get("value"), "statuses"):
                message_id, status = item.get("id"), item.get("status")
                if isinstance(message_id, str) and message_id and isinstance(status, str):
                    recipient = item.get("recipient_id")
                    found.append(
                        WhatsAppStatus(
                            message_id=message_id,
                            status=status,
                            timestamp=_integer(item.get("timestamp")),
                            error_codes=tuple(
                                code
                                for error in _objects(item, "errors")
                                if (code := _integer(error.get("code"))) is not None
                            ),
                            recipient_id=recipient if isinstance(recipient, str) else "",
                        )
                    )
    return found


def whatsapp_webhook_app(
    handler: StatusHandler, *, verify_token: SecretStr, app_secret: SecretStr
) -> Flask:
    """The webhook endpoint, to mount at :data:`WHATSAPP_MOUNT`."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_NOTIFICATION_BYTES

    @app.get(WEBHOOK_PATH)
    def verify_subscription() -> ResponseReturnValue:
        challenge = subscription_challenge(request.args, verify_token)
        if challenge is None:
            log.warning("whatsapp webhook verification refused")
            return json_error(403, "invalid_verification", "hub.mode or hub.verify_token is wrong")
        return Response(challenge, status=200, content_type="text/plain")

    @app.post(WEBHOOK_PATH)
    def notification() -> ResponseReturnValue:
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            log.warning("whatsapp notification refused", extra={"signature": "missing"})
            return json_error(401, "missing_signature", f"{SIGNATURE_HEADER} is required")
        body = request.get_data(cache=False)
        if not signature_valid(body, signature, app_secret):
            log.warning("whatsapp notification refused", extra={"signature": "invalid"})
            return json_error(
                403, "invalid_signature", f"{SIGNATURE_HEADER} does not match the body"
            )
        try:
            statuses = parse_statuses(json.loads(body))
        except ValueError:
            return json_error(400, "invalid_notification", "the body is not JSON")
        if not statuses:
            return {"statuses": 0}
        try:
            handler.record(statuses)
        except LedgerUnavailable as error:
            log.error("whatsapp statuses not recorded", extra={"reason": str(error)})
            return json_error(503, "ledger_unavailable", "the delivery ledger did not answer")
        return {"statuses": len(statuses)}

    app.register_error_handler(HTTPException, json_http_error)
    return app


def _objects(container: object, key: str) -> list[dict[str, object]]:
    """The dicts in ``container[key]`` when that is a list; nothing otherwise."""
    items = container.get(key) if isinstance(container, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _integer(value: object) -> int | None:
    """Meta sends timestamps as digit strings and codes as numbers; accept either."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None
