"""Twilio's status callbacks at :data:`TWILIO_STATUS_PATH`, mounted beside health,
readiness and metrics (shared.health) on the notifier's METRICS_PORT when Twilio sends.

Only transport here: the signature check, the form, the answer. What a report means is
notifier/delivery_reports.py's. docs/notifier.md, "Delivery status", for operators.
"""

import logging
from typing import Any, Protocol

from flask import Flask, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from notifier.delivery_reports import StatusReport, TwilioStatusHandler
from notifier.errors import LedgerUnavailable
from shared.http_errors import json_http_error

log = logging.getLogger(__name__)

TWILIO_MOUNT = "/twilio"
TWILIO_STATUS_PATH = f"{TWILIO_MOUNT}/status"
SIGNATURE_HEADER = "X-Twilio-Signature"
MAX_REPORT_BYTES = 64 * 1024
"""A status report is a short form; anything bigger is not one."""


class SignatureCheck(Protocol):
    """twilio's ``RequestValidator``: is ``signature`` Twilio's for this URL and form?"""

    def validate(self, uri: str, params: Any, signature: str) -> bool: ...


def twilio_status_app(
    handler: TwilioStatusHandler, signatures: SignatureCheck, public_url: str
) -> Flask:
    """The callback endpoint, to mount at :data:`TWILIO_MOUNT`.

    ``public_url`` is the address Twilio was given (NOTIFIER_PUBLIC_URL +
    :data:`TWILIO_STATUS_PATH`): Twilio signs the URL it called, which behind a proxy is
    not the one this process sees.
    """
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REPORT_BYTES

    @app.post(TWILIO_STATUS_PATH.removeprefix(TWILIO_MOUNT))
    def status_report() -> ResponseReturnValue:
        signature = request.headers.get(SIGNATURE_HEADER)
        query = request.query_string.decode()
        called = f"{public_url}?{query}" if query else public_url
        if not signature or not signatures.validate(called, request.form, signature):
            log.warning(
                "twilio status report refused: bad signature",
                extra={"signature": "missing" if not signature else "invalid"},
            )
            return _error(403, "invalid_signature", f"{SIGNATURE_HEADER} missing or invalid")
        sid, status = request.form.get("MessageSid"), request.form.get("MessageStatus")
        if not sid or not status:
            return _error(400, "invalid_report", "MessageSid and MessageStatus are required")
        report = StatusReport(sid, status, request.form.get("ErrorCode") or None)
        try:
            update = handler.handle(report)
        except LedgerUnavailable as error:
            log.error("twilio status report not recorded", extra={"reason": str(error)})
            return _error(503, "ledger_unavailable", "the delivery ledger did not answer")
        return {"outcome": update.value if update else "ignored"}

    app.register_error_handler(HTTPException, json_http_error)
    return app


def _error(status: int, code: str, message: str) -> tuple[dict[str, str], int]:
    return {"error": code, "message": message}, status
