"""Twilio's status reports on messages it accepted, recorded in the delivery ledger.

Twilio posts one report per change of a message's status, not necessarily in order and
possibly more than once; the ledger keeps the latest stage (see
:meth:`DeliveryStatus.supersedes`). Checking the report came from Twilio is the HTTP
endpoint's job (notifier/http_app.py); this module only interprets it.
"""

import logging
from dataclasses import dataclass

from notifier.ledger import DeliveryUpdate, Ledger
from notifier.ledger_schema import DeliveryStatus

log = logging.getLogger(__name__)

TWILIO_STATUSES = {
    "queued": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.SENDING,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.UNDELIVERED,
}
"""Twilio's ``MessageStatus`` values of an outbound SMS; others (inbound, WhatsApp's
``read``, scheduling) are logged and ignored."""


@dataclass(frozen=True)
class StatusReport:
    message_sid: str
    message_status: str
    error_code: str | None = None
    """Twilio's error code (e.g. 30003, unreachable handset) of an undelivered message."""


class TwilioStatusHandler:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def handle(self, report: StatusReport) -> DeliveryUpdate | None:
        """Record the report; None when its status is not one of an outbound SMS."""
        context = {"provider_id": report.message_sid, "provider_status": report.message_status}
        status = TWILIO_STATUSES.get(report.message_status.lower())
        if status is None:
            log.warning("twilio status report ignored: unknown status", extra=context)
            return None
        error = None
        if status is DeliveryStatus.UNDELIVERED:
            detail = f" (Twilio error {report.error_code})" if report.error_code else ""
            error = f"Twilio reported {report.message_status}{detail}"
        update = self._ledger.record_delivery(report.message_sid, status, error=error)
        if update is DeliveryUpdate.UNKNOWN_MESSAGE:
            # Another ledger's message, or one a send recorded no sid for: nothing to update,
            # and Twilio would only repeat it if refused.
            log.warning("twilio status report for an unknown message", extra=context)
        else:
            log.info(f"twilio status report {update.value}", extra=context)
        return update
