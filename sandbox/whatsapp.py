"""A local fake of Meta's WhatsApp Cloud API messages endpoint, and its status webhooks.

``POST /whatsapp/<version>/<phone_number_id>/messages`` takes a template message in the
real request format with the bearer token, records it and answers as Meta does. Then,
with a webhook URL configured, it posts the message's statuses there, signed with the app
secret exactly as Meta signs (``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the
body>``): ``sent`` and ``delivered``, or for a number it was told is not on WhatsApp,
which Meta accepts all the same, ``failed`` with error 131026. The control endpoints under
:data:`CONTROL_PREFIX` list what it received and mark numbers
(docs/sandbox.md, "WhatsApp Cloud API").
"""

import hashlib
import hmac
import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import requests
from flask import Blueprint, Response, jsonify, request

from shared.backoff import backoff_delay

WHATSAPP_PREFIX = "/whatsapp"
CONTROL_PREFIX = "/__sandbox/whatsapp"
DEFAULT_WHATSAPP_TOKEN = "sandbox-whatsapp-token"  # noqa: S105 - the sandbox's public demo token
DEFAULT_APP_SECRET = "sandbox-whatsapp-app-secret"  # noqa: S105 - public demo value
BUSINESS_ACCOUNT_ID = "102290129340398"
"""A made-up WhatsApp Business Account id, in the entry of each notification."""
NOT_ON_WHATSAPP = {"code": 131026, "title": "Message undeliverable"}
STATUS_TIMEOUT_S = 10.0
STATUS_ATTEMPTS = 6
"""Posts of one status while the webhook answers 5xx or cannot be reached (Meta goes on
for days, and for any answer but 200)."""
STATUS_RETRY_CAP_S = 4.0

log = logging.getLogger("sandbox")


@dataclass(frozen=True)
class WhatsAppFake:
    """The fake's configuration: SANDBOX_WHATSAPP_* (sandbox/settings.py)."""

    token: str = DEFAULT_WHATSAPP_TOKEN
    app_secret: str = DEFAULT_APP_SECRET
    webhook_url: str | None = None
    """Where statuses are posted (the notifier's /whatsapp/webhook); None: nowhere."""


@dataclass
class ReceivedMessage:
    message_id: str
    phone_number_id: str
    to: str
    template: str
    language: str
    parameters: list[str]
    statuses: list[dict[str, Any]] = field(default_factory=list)
    """Each status posted to the webhook, with the webhook's HTTP answer."""


class WhatsAppInbox:
    """What the fake accepted, and the numbers it treats as not on WhatsApp. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[ReceivedMessage] = []
        self._not_on_whatsapp: set[str] = set()
        self.answer_delay_s = 0.0
        """How long the fake holds each send before answering: lets a test kill a notifier
        while its request is in flight."""

    def add(self, message: ReceivedMessage) -> None:
        with self._lock:
            self._messages.append(message)

    def posted(self, message: ReceivedMessage, status: str, answer: int | str) -> None:
        with self._lock:
            message.statuses.append({"status": status, "answer": answer})

    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(message) for message in self._messages]

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    def set_on_whatsapp(self, number: str, on_whatsapp: bool) -> None:
        with self._lock:
            (self._not_on_whatsapp.discard if on_whatsapp else self._not_on_whatsapp.add)(
                wa_id(number)
            )

    def on_whatsapp(self, number: str) -> bool:
        with self._lock:
            return wa_id(number) not in self._not_on_whatsapp


def wa_id(number: str) -> str:
    """A number's WhatsApp id: its digits, as Meta's ``wa_id`` and ``recipient_id``."""
    return "".join(character for character in number if character.isdigit())


def sign(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` Meta puts on a notification with this body."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def whatsapp_blueprint(
    inbox: WhatsAppInbox, fake: WhatsAppFake, session: requests.Session | None = None
) -> Blueprint:
    api = Blueprint("whatsapp", __name__, url_prefix=WHATSAPP_PREFIX)
    poster = session or requests.Session()

    @api.post("/<version>/<phone_number_id>/messages")
    def send(version: str, phone_number_id: str) -> tuple[Response, int]:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not hmac.compare_digest(given.encode(), fake.token.encode()):
            return _meta_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        message = _template_message(request.get_json(silent=True), phone_number_id)
        if message is None:
            return _meta_error(400, 100, "(#100) Invalid parameter")
        inbox.add(message)
        time.sleep(inbox.answer_delay_s)
        answer = jsonify(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": message.to, "wa_id": wa_id(message.to)}],
                "messages": [{"id": message.message_id}],
            }
        )
        if fake.webhook_url is not None:
            # After the answer, as Meta's statuses come after its response.
            url = fake.webhook_url
            answer.call_on_close(lambda: _post_statuses(poster, inbox, message, fake, url))
        return answer, 200

    return api


def whatsapp_control_blueprint(
    inbox: WhatsAppInbox, authorized: Callable[[str], bool]
) -> Blueprint:
    """``authorized`` says whether an Authorization header may use the control endpoints."""
    control = Blueprint("sandbox_whatsapp_control", __name__, url_prefix=CONTROL_PREFIX)

    @control.before_request
    def require_token() -> tuple[Response, int] | None:
        if not authorized(request.headers.get("Authorization", "")):
            return jsonify({"errors": [{"error": "Authentication error"}]}), 401
        return None

    @control.get("/messages")
    def messages() -> Response:
        return jsonify({"messages": inbox.messages()})

    @control.delete("/messages")
    def forget() -> tuple[str, int]:
        inbox.clear()
        return "", 204

    @control.put("/not-on-whatsapp/<number>")
    def not_on_whatsapp(number: str) -> tuple[str, int]:
        inbox.set_on_whatsapp(number, on_whatsapp=False)
        return "", 204

    @control.delete("/not-on-whatsapp/<number>")
    def back_on_whatsapp(number: str) -> tuple[str, int]:
        inbox.set_on_whatsapp(number, on_whatsapp=True)
        return "", 204

    return control


def _template_message(body: object, phone_number_id: str) -> ReceivedMessage | None:
    """The message in a send request, or None when it is not a template message."""
    if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
        return None
    template, to = body.get("template"), body.get("to")
    if body.get("type") != "template" or not isinstance(template, dict) or not wa_id(str(to)):
        return None
    name, language = template.get("name"), template.get("language")
    code = language.get("code") if isinstance(language, dict) else None
    if not isinstance(name, str) or not isinstance(code, str):
        return None
    parameters = [
        str(parameter.get("text"))
        for component in template.get("components") or []
        if isinstance(component, dict) and component.get("type") == "body"
        for parameter in component.get("parameters") or []
        if isinstance(parameter, dict)
    ]
    message_id = "wamid." + secrets.token_urlsafe(36)
    return ReceivedMessage(message_id, phone_number_id, str(to), name, code, parameters)


def _post_statuses(
    poster: requests.Session,
    inbox: WhatsAppInbox,
    message: ReceivedMessage,
    fake: WhatsAppFake,
    url: str,
) -> None:
    delivered = inbox.on_whatsapp(message.to)
    for status in ("sent", "delivered") if delivered else ("failed",):
        body = json.dumps(_notification(message, status)).encode()
        for attempt in range(1, STATUS_ATTEMPTS + 1):
            answer = _post_status(poster, url, body, fake.app_secret)
            inbox.posted(message, status, answer)
            log.info("sandbox whatsapp status posted", extra={"status": status, "answer": answer})
            if not _worth_retrying(answer) or attempt == STATUS_ATTEMPTS:
                break
            # Meta delivers a notification again until it is answered 200; the fake does for
            # answers that can change (a 403 stays a 403 however often it is asked).
            time.sleep(
                backoff_delay(
                    attempt, base=0.25, cap=STATUS_RETRY_CAP_S, jitter_draw=random.random()
                )
            )


def _worth_retrying(answer: int | str) -> bool:
    return isinstance(answer, str) or answer >= 500


def _post_status(poster: requests.Session, url: str, body: bytes, app_secret: str) -> int | str:
    """The webhook's HTTP status, or the name of the error that kept it from answering."""
    try:
        return poster.post(
            url,
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": sign(body, app_secret),
            },
            timeout=STATUS_TIMEOUT_S,
        ).status_code
    except requests.RequestException as error:
        return type(error).__name__


def _notification(message: ReceivedMessage, status: str) -> dict[str, Any]:
    """Meta's ``messages`` webhook with one status, as its reference shows it."""
    item: dict[str, Any] = {
        "id": message.message_id,
        "status": status,
        "timestamp": str(int(time.time())),
        "recipient_id": wa_id(message.to),
    }
    if status == "failed":
        item["errors"] = [
            NOT_ON_WHATSAPP
            | {
                "message": "Message undeliverable",
                "error_data": {"details": "Message Undeliverable."},
            }
        ]
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": BUSINESS_ACCOUNT_ID,
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": message.phone_number_id,
                            },
                            "statuses": [item],
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def _meta_error(status: int, code: int, text: str) -> tuple[Response, int]:
    """A Graph API error body; the fbtrace_id is random, as Meta's look."""
    error = {
        "message": text,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": secrets.token_urlsafe(12),
    }
    return jsonify({"error": error}), status
