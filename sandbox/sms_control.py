"""The fake SMS gateways' control endpoints under ``/__sandbox/sms/<provider>``: what each
accepted, and a delivery report posted on demand, in the provider's own format, to the
notifier's callback URL.

Neither MSG91 nor Exotel documents a signature on its reports; the notifier's callback URL
carries a secret token instead (SMS_REPORT_TOKEN), so the report is posted to the URL
exactly as given: Exotel's StatusCallback of the message, MSG91's webhook URL the sandbox
was started with (SANDBOX_MSG91_WEBHOOK_URL), or the ``callback_url`` of the call.
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests
from flask import Blueprint, Response, jsonify, request

from sandbox.sms_gateways import ReceivedSms, SmsInbox

SMS_CONTROL_PREFIX = "/__sandbox/sms"
REPORT_TIMEOUT_S = 10.0
MSG91_STATUS_CODES = {"DELIVERED": "1", "FAILED": "2"}
"""``status`` beside ``desc`` in MSG91's sample reports; other words go without a code."""

log = logging.getLogger("sandbox")


def sms_control_blueprint(
    inbox: SmsInbox,
    authorized: Callable[[str], bool],
    *,
    msg91_webhook_url: str | None = None,
    session: requests.Session | None = None,
) -> Blueprint:
    """``authorized`` says whether an Authorization header may use the control endpoints."""
    control = Blueprint("sandbox_sms_control", __name__, url_prefix=SMS_CONTROL_PREFIX)
    poster = session or requests.Session()

    @control.before_request
    def require_token() -> tuple[Response, int] | None:
        if not authorized(request.headers.get("Authorization", "")):
            return _problem(401, "Authentication error")
        if request.view_args and request.view_args.get("provider") not in ("msg91", "exotel"):
            return _problem(404, "provider: must be msg91 or exotel")
        return None

    @control.get("/<provider>/messages")
    def messages(provider: str) -> Response:
        return jsonify({"messages": inbox.messages(provider)})

    @control.delete("/<provider>/messages")
    def forget(provider: str) -> tuple[str, int]:
        inbox.clear(provider)
        return "", 204

    @control.post("/<provider>/reports")
    def report(provider: str) -> tuple[Response, int]:
        call = request.get_json(silent=True)
        if not isinstance(call, dict) or not call.get("message_id") or not call.get("status"):
            return _problem(400, "message_id and status are required")
        message = inbox.find(provider, str(call["message_id"]))
        if message is None:
            return _problem(404, "message_id: no such message")
        default_url = message.callback_url if provider == "exotel" else msg91_webhook_url
        url = call.get("callback_url") or default_url
        if not url:
            return _problem(400, "callback_url: none configured for this message")
        status = str(call["status"])
        try:
            if provider == "msg91":
                answer = poster.post(
                    url, json=_msg91_report(message, status), timeout=REPORT_TIMEOUT_S
                )
            else:
                answer = poster.post(
                    url, data=_exotel_report(message, status), timeout=REPORT_TIMEOUT_S
                )
        except requests.RequestException as error:
            return _problem(502, f"the callback URL did not answer: {type(error).__name__}")
        log.info(
            "sandbox sms report posted", extra={"provider": provider, "answer": answer.status_code}
        )
        return jsonify({"status": answer.status_code, "body": _body(answer)}), 200

    return control


def _msg91_report(message: ReceivedSms, desc: str) -> dict[str, str]:
    """MSG91's webhook version 3: one JSON object per message."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "number": message.to,
        "senderId": message.sender,
        "requestId": message.message_id,
        "status": MSG91_STATUS_CODES.get(desc.upper(), ""),
        "desc": desc,
        "failedReason": "" if desc.upper() == "DELIVERED" else desc,
        "credit": "1",
        "campaignName": "API",
    }


def _exotel_report(message: ReceivedSms, status: str) -> dict[str, str]:
    """Exotel's SMS StatusCallback: a form. ``sent`` is its older pages' final success
    (delivered to the handset), ``delivered`` its newer pages'."""
    delivered = status in ("sent", "delivered")
    return {
        "SmsSid": message.message_id,
        "To": message.to,
        "Status": status,
        "DetailedStatus": "DELIVERED_TO_HANDSET" if delivered else status.upper(),
        "DetailedStatusCode": "20005" if delivered else "",
        "DateSent": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
    }


def _body(answer: requests.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return answer.text


def _problem(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"errors": [{"error": message}]}), status
