"""Providers' delivery reports, mounted beside health, readiness and metrics
(shared.health) on the notifier's METRICS_PORT: Twilio's status callbacks at
:data:`TWILIO_STATUS_PATH`, and MSG91's and Exotel's at ``/<provider>/report/<token>``.

Only transport here: the check that a report is the provider's, the body, the answer.
What a report means is notifier/delivery_reports.py's (and the provider's module).
docs/notifier.md, "Delivery status", and docs/channels.md, for operators.
"""

import hmac
import logging
from collections.abc import Callable
from typing import Any, Protocol

from flask import Flask, Request, request
from flask.typing import ResponseReturnValue
from pydantic import SecretStr
from werkzeug.exceptions import HTTPException

from notifier.delivery_reports import (
    DeliveryReport,
    StatusReport,
    TwilioStatusHandler,
    record_report,
)
from notifier.errors import LedgerUnavailable
from notifier.ledger import Ledger
from shared.http_errors import json_error, json_http_error

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
            return json_error(403, "invalid_signature", f"{SIGNATURE_HEADER} missing or invalid")
        sid, status = request.form.get("MessageSid"), request.form.get("MessageStatus")
        if not sid or not status:
            return json_error(400, "invalid_report", "MessageSid and MessageStatus are required")
        report = StatusReport(sid, status, request.form.get("ErrorCode") or None)
        try:
            update = handler.handle(report)
        except LedgerUnavailable as error:
            log.error("twilio status report not recorded", extra={"reason": str(error)})
            return json_error(503, "ledger_unavailable", "the delivery ledger did not answer")
        return {"outcome": update.value if update else "ignored"}

    app.register_error_handler(HTTPException, json_http_error)
    return app


REPORT_PATH = "/report"
"""Under a provider's mount; the secret token follows it: ``/msg91/report/<token>``."""

ReportParser = Callable[[Request], list[DeliveryReport] | None]
"""The reports in one callback request; None when it is not the provider's report."""


def report_path(mount: str, token: SecretStr) -> str:
    """The path, token included, a provider is to post reports to."""
    return f"{mount}{REPORT_PATH}/{token.get_secret_value()}"


def token_report_app(provider: str, parse: ReportParser, ledger: Ledger, token: SecretStr) -> Flask:
    """The callback endpoint of a provider that documents no signature on its reports:
    the URL carries ``token``, which only we and the provider know (SMS_REPORT_TOKEN)."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REPORT_BYTES
    expected = token.get_secret_value().encode()

    @app.post(REPORT_PATH)
    @app.post(f"{REPORT_PATH}/<given>")
    def delivery_report(given: str = "") -> ResponseReturnValue:
        if not hmac.compare_digest(given.encode(), expected):
            log.warning(
                f"{provider} status report refused: bad token",
                extra={"token": "missing" if not given else "invalid"},
            )
            return json_error(403, "invalid_token", "the report URL's token is missing or invalid")
        reports = parse(request)
        if reports is None:
            return json_error(400, "invalid_report", f"not a {provider} delivery report")
        try:
            updates = [record_report(ledger, report) for report in reports]
        except LedgerUnavailable as error:
            log.error(f"{provider} status report not recorded", extra={"reason": str(error)})
            return json_error(503, "ledger_unavailable", "the delivery ledger did not answer")
        return {"outcomes": [update.value if update else "ignored" for update in updates]}

    app.register_error_handler(HTTPException, json_http_error)
    return app
