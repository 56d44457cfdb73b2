"""Sends held messages when their time comes, and reports stuck rows to the operator.

Held rows are messages due inside a rule's quiet hours, rows an operator released for
re-send, or messages a WhatsApp status moved to their next channel. Each instance looks
for due rows every few seconds; moving a row from ``held`` to ``sending`` is a
conditional update, so with several instances exactly one of them sends it.
"""

import logging
import threading

from notifier.delivery import Delivery
from notifier.errors import LedgerUnavailable
from notifier.ledger import Ledger
from notifier.masking import mask_address
from notifier.metrics import NotifierMetrics, default_notifier_metrics
from notifier.readiness import NotifierReadiness

log = logging.getLogger(__name__)


class StuckReporter:
    """Logs each stuck row once per process: at start-up, then as further rows get stuck."""

    def __init__(
        self, ledger: Ledger, older_than_s: float, metrics: NotifierMetrics | None = None
    ) -> None:
        self._ledger = ledger
        self._older_than_s = older_than_s
        self._reported: set[str] = set()
        self._metrics = metrics or default_notifier_metrics()

    def report(self) -> int:
        """Log the rows stuck since the last call; how many are stuck in all."""
        stuck = self._ledger.stuck(self._older_than_s)
        self._metrics.stuck.set(len(stuck))
        for entry in stuck:
            notification = entry.notification
            if notification.key in self._reported:
                continue
            self._reported.add(notification.key)
            log.warning(
                "stuck notification: left sending by a process that died; not re-sent "
                "automatically, resolve with `python -m notifier resolve`",
                extra={
                    "key": notification.key,
                    "document_id": notification.document_id,
                    "rule": notification.rule,
                    "state": notification.state,
                    "channel": notification.channel,
                    "to": mask_address(notification.address),
                    "since": entry.updated_at.isoformat(),
                    "stuck_total": len(stuck),
                },
            )
        return len(stuck)


class HeldReleaser:
    """``run()`` until ``stop`` is set: every ``interval_s``, send the rows that are due
    and report rows that got stuck; whether the ledger answered goes to ``readiness``."""

    def __init__(
        self,
        ledger: Ledger,
        delivery: Delivery,
        stuck: StuckReporter,
        stop: threading.Event,
        *,
        interval_s: float,
        readiness: NotifierReadiness | None = None,
    ) -> None:
        self._ledger = ledger
        self._delivery = delivery
        self._stuck = stuck
        self._stop = stop
        self._interval_s = interval_s
        self._readiness = readiness

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.release_due()
                self._stuck.report()
            except LedgerUnavailable as error:
                log.warning("held messages not released", extra={"reason": str(error)})
                if self._readiness:
                    self._readiness.ledger_failed(str(error))
            else:
                if self._readiness:
                    self._readiness.ledger_answered()
            self._stop.wait(self._interval_s)

    def release_due(self) -> int:
        """Send every held row that is due now; how many were sent or tried."""
        due = self._ledger.claim_due()
        for entry in due:
            self._delivery.send_released(entry)
        return len(due)
