"""Local fakes of two Indian SMS gateways, MSG91 and Exotel, in their real request formats.

Each checks its credentials and, for an Indian number, the DLT fields TRAI requires (the
header, the principal entity, the content template), answers as the provider documents,
and records what it accepted for tests to read (sandbox/sms_control.py). docs/sandbox.md,
"SMS gateways"; docs/channels.md for the providers themselves.
"""

import hmac
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

MSG91_PREFIX = "/msg91"
EXOTEL_PREFIX = "/exotel"
DEFAULT_MSG91_AUTH_KEY = "sandbox-msg91-authkey"
DEFAULT_EXOTEL_ACCOUNT = ("sandbox", "sandbox-exotel-key", "sandbox-exotel-token")
"""Account SID, API key and API token the fake Exotel accepts (public demo values)."""
HEADER_LENGTH = 6
"""A DLT header (sender ID) is six characters."""


@dataclass(frozen=True)
class ReceivedSms:
    message_id: str
    to: str
    text: str
    sender: str
    entity_id: str | None
    template_id: str | None
    callback_url: str | None = None
    """Where the provider would post this message's status (Exotel's StatusCallback)."""


class SmsInbox:
    """What each fake gateway accepted, in order. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: dict[str, list[ReceivedSms]] = {"msg91": [], "exotel": []}

    def add(self, provider: str, message: ReceivedSms) -> None:
        with self._lock:
            self._messages[provider].append(message)

    def messages(self, provider: str) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(message) for message in self._messages[provider]]

    def find(self, provider: str, message_id: str) -> ReceivedSms | None:
        with self._lock:
            return next((m for m in self._messages[provider] if m.message_id == message_id), None)

    def clear(self, provider: str) -> None:
        with self._lock:
            self._messages[provider].clear()


def _indian(number: str) -> bool:
    digits = number.removeprefix("+")
    return digits.startswith("91") and len(digits) == 12


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def msg91_blueprint(inbox: SmsInbox, auth_key: str = DEFAULT_MSG91_AUTH_KEY) -> Blueprint:
    """``POST /msg91/api/v2/sendsms``: MSG91's JSON send API with the ``authkey`` header."""
    gateway = Blueprint("msg91", __name__, url_prefix=MSG91_PREFIX)

    @gateway.post("/api/v2/sendsms")
    def send() -> tuple[Response, int]:
        if not _same(request.headers.get("authkey", ""), auth_key):
            return _msg91_error("Authentication failure", 401)
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("sms"), list) or not body["sms"]:
            return _msg91_error("sms is required")
        sender, template = body.get("sender"), body.get("DLT_TE_ID")
        if not isinstance(sender, str) or len(sender) != HEADER_LENGTH:
            return _msg91_error("Sender ID must be the 6-character DLT header")
        messages = []
        for item in body["sms"]:
            text, numbers = item.get("message"), item.get("to")
            if not isinstance(text, str) or not text or not isinstance(numbers, list):
                return _msg91_error("message and to are required")
            for number in numbers:
                if not isinstance(number, str) or not number.isdigit():
                    return _msg91_error("Invalid mobile number")
                if _indian(number) and not template:
                    return _msg91_error("DLT_TE_ID is required for Indian numbers")
                messages.append((number, text))
        request_id = secrets.token_hex(12)
        for number, text in messages:
            inbox.add("msg91", ReceivedSms(request_id, number, text, sender, None, template))
        return jsonify({"message": request_id, "type": "success"}), 200

    return gateway


def _msg91_error(message: str, status: int = 200) -> tuple[Response, int]:
    # MSG91 refuses a request's content with HTTP 200 and "type": "error".
    return jsonify({"message": message, "type": "error"}), status


def exotel_blueprint(
    inbox: SmsInbox, account: tuple[str, str, str] = DEFAULT_EXOTEL_ACCOUNT
) -> Blueprint:
    """``POST /exotel/v1/Accounts/<sid>/Sms/send.json``: Exotel's form API, basic auth."""
    gateway = Blueprint("exotel", __name__, url_prefix=EXOTEL_PREFIX)
    account_sid, api_key, api_token = account

    @gateway.post("/v1/Accounts/<sid>/Sms/send.json")
    def send(sid: str) -> tuple[Response, int]:
        auth = request.authorization
        if (
            auth is None
            or not _same(sid, account_sid)
            or not _same(auth.username or "", api_key)
            or not _same(auth.password or "", api_token)
        ):
            return _exotel_error(401, "Authentication is required to view this resource.")
        form = request.form
        sender, to, text = form.get("From", ""), form.get("To", ""), form.get("Body", "")
        if not sender or not to or not text:
            return _exotel_error(400, "From, To and Body are required")
        entity, template = form.get("DltEntityId"), form.get("DltTemplateId")
        if _indian(to):
            if not entity:
                return _exotel_error(400, "DltEntityId is mandatory for SMS to India")
            if not template:
                return _exotel_error(400, "DltTemplateId is mandatory for SMS to India")
            if len(sender) != HEADER_LENGTH:
                return _exotel_error(400, "From must be the 6-character DLT header")
        message_id = secrets.token_hex(16)
        callback = form.get("StatusCallback") or None
        inbox.add("exotel", ReceivedSms(message_id, to, text, sender, entity, template, callback))
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        message = {
            "Sid": message_id,
            "AccountSid": account_sid,
            "From": f"/{account_sid}",
            "To": to,
            "Body": text,
            "Status": "queued",
            "DateCreated": now,
            "DateUpdated": now,
            "Direction": "outbound-api",
            "Uri": f"/v1/Accounts/{account_sid}/SMS/Messages/{message_id}.json",
        }
        return jsonify({"SMSMessage": message}), 200

    return gateway


def _exotel_error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"RestException": {"Status": status, "Message": message}}), status
