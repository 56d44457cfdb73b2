"""Meta's WhatsApp statuses (notifier/whatsapp_webhook.py) in the delivery ledger, and the
fallback a ``failed`` one starts.

``sent``, ``delivered`` and ``read`` are delivery reports like an SMS provider's
(notifier/delivery_reports.py). ``failed`` (e.g. Meta error 131026: the number is not on
WhatsApp) moves the message to its rule's next channel: the row becomes ``held``, due
now or when the rule's quiet hours end, and the releaser of one instance sends it
(notifier/releaser.py). The move is the ledger's conditional update, so a status posted
twice, late, to two instances or after a restart moves the row once; any later ``failed``
of that message is recorded as stale, and one of a message without a next channel as
undelivered.
"""

import logging
from collections.abc import Callable
from datetime import datetime

from notifier.channels import Channel
from notifier.delivery_reports import DeliveryReport, failure, record_report
from notifier.errors import LedgerUnavailable
from notifier.ledger import Clock, Ledger, LedgerEntry, LedgerQuery, utc_now
from notifier.ledger_schema import DeliveryStatus, Status
from notifier.metrics import NotifierMetrics, default_notifier_metrics
from notifier.whatsapp import PROVIDER
from notifier.whatsapp_webhook import WhatsAppStatus

log = logging.getLogger(__name__)

WHATSAPP_STATUSES = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "failed": DeliveryStatus.UNDELIVERED,
}
"""Meta's statuses of a message we sent; others are logged and ignored."""

QuietUntil = Callable[[str], datetime | None]
"""When a rule (by name) may send next: the end of its quiet hours, or None if now."""


class WhatsAppStatusRecorder:
    """The :class:`~notifier.whatsapp_webhook.StatusHandler` of the notifier."""

    def __init__(
        self,
        ledger: Ledger,
        quiet_until: QuietUntil,
        clock: Clock = utc_now,
        *,
        metrics: NotifierMetrics | None = None,
    ) -> None:
        self._ledger = ledger
        self._quiet_until = quiet_until
        self._clock = clock
        self._metrics = metrics or default_notifier_metrics()

    def record(self, statuses: list[WhatsAppStatus]) -> None:
        """Record each; :class:`LedgerUnavailable` makes Meta post them all again, which
        changes nothing for those recorded already."""
        for status in statuses:
            self._record(status)

    def _record(self, status: WhatsAppStatus) -> None:
        codes = ", ".join(str(code) for code in status.error_codes)
        report = DeliveryReport(
            provider=PROVIDER,
            message_id=status.message_id,
            provider_status=status.status,
            status=WHATSAPP_STATUSES.get(status.status),
            detail=f"Meta error {codes}" if codes else None,
        )
        if report.status is None:
            record_report(self._ledger, report)  # logs it as ignored
            return
        entry = self._ledger.entry_by_message_id(status.message_id)
        if entry is None:
            if self._send_unrecorded(status):
                # Meta may post a status before our send recorded the id it answered; a
                # failed one dropped here would never fall back. Meta retries what is not
                # answered 200.
                raise LedgerUnavailable("a WhatsApp status came before its send was recorded")
            # The send may have been recorded between the two reads (sending becomes sent
            # with its id in one update): read again before calling the message unknown.
            entry = self._ledger.entry_by_message_id(status.message_id)
        if report.status is DeliveryStatus.UNDELIVERED and entry and self._fall_back(entry, report):
            return
        record_report(self._ledger, report)

    def _fall_back(self, entry: LedgerEntry, report: DeliveryReport) -> bool:
        """Hand the message to its next channel; False when it has none, or another status
        (or instance) did so already."""
        notification = entry.notification
        moved = self._ledger.fall_back(
            notification.key,
            from_channel=Channel.WHATSAPP,
            provider_message_id=report.message_id,
            reason=failure(report),
            due_at=self._quiet_until(notification.rule) or self._clock(),
        )
        if moved is None:
            return False
        log.warning(
            "fell back",
            extra={
                "key": notification.key,
                "document_id": notification.document_id,
                "rule": notification.rule,
                "channel": Channel.WHATSAPP,
                "to_channel": moved.notification.channel,
                "provider_id": report.message_id,
                "reason": moved.fallback_reason,
                "due_at": moved.due_at.isoformat() if moved.due_at else None,
            },
        )
        self._metrics.fell_back(Channel.WHATSAPP, moved.notification.channel)
        return True

    def _send_unrecorded(self, status: WhatsAppStatus) -> bool:
        """Is a WhatsApp message to the status's recipient still ``sending``, its answer
        (the id the status names, maybe) not yet in the ledger?"""
        if not status.recipient_id.isdigit():
            return False
        in_flight = self._ledger.entries(
            LedgerQuery(phone=f"+{status.recipient_id}", status=Status.SENDING)
        )
        return any(entry.notification.channel is Channel.WHATSAPP for entry in in_flight)
