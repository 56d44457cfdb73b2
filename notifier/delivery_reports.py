"""Providers' delivery reports on messages they accepted, recorded in the delivery ledger.

Each provider has its own words for a message's stage (one small interpretation per
provider: Twilio here, MSG91 in notifier/msg91.py, Exotel in notifier/exotel.py, WhatsApp
in notifier/whatsapp_statuses.py); all of them end in :func:`record_report`, the one
place that records. Providers post a report per change, not necessarily in order and
possibly more than once; the ledger keeps the latest stage (see
:meth:`DeliveryStatus.supersedes`). Checking a report came from the provider is the HTTP
endpoint's job (notifier/http_app.py, notifier/whatsapp_webhook.py).
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
class DeliveryReport:
    """One provider report, in the ledger's words."""

    provider: str
    """As its docs spell it: ``Twilio``, ``MSG91``, ``Exotel`` (lower case in the logs)."""
    message_id: str
    """The id the provider answered the send with (the ledger's provider_message_id)."""
    provider_status: str
    """The provider's own word or code, for the logs and the error."""
    status: DeliveryStatus | None
    """None: a status that is not one of an outbound SMS; the report is ignored."""
    detail: str | None = None
    """The provider's reason (an error code) for an undelivered message."""


def record_report(ledger: Ledger, report: DeliveryReport) -> DeliveryUpdate | None:
    """Record the report; None when its status is not one of an outbound SMS."""
    name = report.provider.lower()
    context = {"provider_id": report.message_id, "provider_status": report.provider_status}
    if report.status is None:
        log.warning(f"{name} status report ignored: unknown status", extra=context)
        return None
    error = failure(report) if report.status is DeliveryStatus.UNDELIVERED else None
    update = ledger.record_delivery(report.message_id, report.status, error=error)
    if update is DeliveryUpdate.UNKNOWN_MESSAGE:
        # Another ledger's message, or one a send recorded no id for: nothing to update,
        # and the provider would only repeat it if refused.
        log.warning(f"{name} status report for an unknown message", extra=context)
    else:
        log.info(f"{name} status report {update.value}", extra=context)
    return update


def failure(report: DeliveryReport) -> str:
    """Why the message was not delivered, in the provider's words: ``Twilio reported
    undelivered (Twilio error 30003)``."""
    detail = f" ({report.detail})" if report.detail else ""
    return f"{report.provider} reported {report.provider_status}{detail}"


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
        return record_report(
            self._ledger,
            DeliveryReport(
                provider="Twilio",
                message_id=report.message_sid,
                provider_status=report.message_status,
                status=TWILIO_STATUSES.get(report.message_status.lower()),
                detail=f"Twilio error {report.error_code}" if report.error_code else None,
            ),
        )
