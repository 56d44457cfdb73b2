"""Claim, send, record: at most one message per notification key, on one channel at a time.

The ledger row is claimed before the provider is called, so two deliveries of the
same business event (a redelivered record, a second instance, a restart) cannot both
send. A process that dies between the claim and the answer leaves the row
``sending``: it is reported as stuck and never re-sent automatically, on its channel or
another, because the provider may have sent it already (docs/notifier.md, "At most once").

A channel that refuses the message for good (:class:`SmsRejected`) hands it to the rule's
next channel once, in the same call (:meth:`Ledger.fall_back`); one that stays unavailable
does not: a timeout may have delivered it.
"""

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from notifier.channels import Channel
from notifier.errors import SmsProviderUnavailable, SmsRejected
from notifier.ledger import Ledger, LedgerEntry, Notification
from notifier.masking import mask_address
from notifier.metrics import NotifierMetrics, default_notifier_metrics
from notifier.outbound import ChannelSender
from shared.backoff import backoff_delay

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendPolicy:
    attempts: int = 3
    """Provider calls per message while it answers 429/5xx or times out."""
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 5.0


class Outcome(StrEnum):
    SENT = "sent"
    FAILED = "failed"
    HELD = "held"
    DUPLICATE = "duplicate"
    SKIPPED = "skipped"
    REFUSED = "refused"


class Delivery:
    """Sends notifications through the sender of each one's channel, keeping ``ledger``
    the record of each."""

    def __init__(
        self,
        ledger: Ledger,
        senders: Mapping[Channel, ChannelSender],
        policy: SendPolicy = SendPolicy(),
        *,
        sleep: Callable[[float], object] = time.sleep,
        jitter: Callable[[], float] = random.random,
        metrics: NotifierMetrics | None = None,
    ) -> None:
        self._ledger = ledger
        self._senders = senders
        self._policy = policy
        self._sleep = sleep
        self._jitter = jitter
        self._metrics = metrics or default_notifier_metrics()

    def deliver(self, notification: Notification, *, held_until: datetime | None = None) -> Outcome:
        """Send now, or hold until ``held_until``; nothing if the key was claimed before."""
        if not self._ledger.claim(notification, held_until=held_until):
            log.info("duplicate suppressed", extra=_context(notification))
            return self._counted(notification, Outcome.DUPLICATE)
        if held_until is not None:
            log.info(
                f"{notification.channel} held",
                extra={**_context(notification), "until": held_until.isoformat()},
            )
            return self._counted(notification, Outcome.HELD)
        return self._send_claimed(notification, attempts_before=0)

    def skip(self, notification: Notification, reason: str) -> Outcome:
        """Record a message that must not go out (e.g. the customer opted out)."""
        if not self._ledger.skip(notification, reason):
            log.info("duplicate suppressed", extra=_context(notification))
            return self._counted(notification, Outcome.DUPLICATE)
        log.info(
            f"{notification.channel} skipped", extra={**_context(notification), "reason": reason}
        )
        return self._counted(notification, Outcome.SKIPPED)

    def refuse(self, notification: Notification, reason: str) -> Outcome:
        """Record, and never send, a message that carriers would not deliver as it is (its
        text was fixed when planned, so no later attempt could fare better)."""
        if not self._ledger.refuse(notification, reason):
            log.info("duplicate suppressed", extra=_context(notification))
            return self._counted(notification, Outcome.DUPLICATE)
        log.warning(
            f"{notification.channel} refused", extra={**_context(notification), "reason": reason}
        )
        return self._counted(notification, Outcome.REFUSED)

    def send_released(self, entry: LedgerEntry) -> Outcome:
        """Send a held row that :meth:`Ledger.claim_due` moved to ``sending``."""
        return self._send_claimed(entry.notification, attempts_before=entry.attempts)

    def _counted(self, notification: Notification, outcome: Outcome) -> Outcome:
        status = "duplicate_suppressed" if outcome is Outcome.DUPLICATE else outcome.value
        self._metrics.count(notification.channel, status)
        return outcome

    def _send_claimed(self, notification: Notification, *, attempts_before: int) -> Outcome:
        key = notification.key
        channel = notification.channel
        attempt = 0
        while True:
            attempt += 1
            attempts = attempts_before + attempt
            try:
                provider_id = self._send_once(notification)
            except SmsRejected as error:
                return self._rejected(notification, error, attempts=attempts)
            except SmsProviderUnavailable as error:
                if attempt >= self._policy.attempts:
                    self._ledger.mark_failed(key, error=str(error), attempts=attempts)
                    log.error(
                        f"{channel} failed: provider unavailable, attempts spent",
                        extra={
                            **_context(notification),
                            "attempts": attempts,
                            "reason": str(error),
                        },
                    )
                    return self._counted(notification, Outcome.FAILED)
                self._ledger.record_attempt(key, attempts=attempts, error=str(error))
                self._sleep(self._delay(attempt, error))
                continue
            self._ledger.mark_sent(key, provider_message_id=provider_id, attempts=attempts)
            log.info(
                f"{channel} sent",
                extra={**_context(notification), "attempts": attempts, "provider_id": provider_id},
            )
            return self._counted(notification, Outcome.SENT)

    def _rejected(
        self, notification: Notification, error: SmsRejected, *, attempts: int
    ) -> Outcome:
        """The channel refused it for good: on to the rule's next channel, with a budget of
        its own, unless the message fell back once already or has no next channel."""
        moved = self._ledger.fall_back(
            notification.key, from_channel=notification.channel, reason=str(error)
        )
        if moved is None:
            self._ledger.mark_failed(notification.key, error=str(error), attempts=attempts)
            log.warning(
                f"{notification.channel} rejected",
                extra={**_context(notification), "reason": str(error)},
            )
            return self._counted(notification, Outcome.FAILED)
        following = moved.notification
        log.warning(
            "fell back",
            extra={**_context(notification), "to_channel": following.channel, "reason": str(error)},
        )
        self._metrics.fell_back(notification.channel, following.channel)
        return self._send_claimed(following, attempts_before=0)

    def _send_once(self, notification: Notification) -> str | None:
        """One call to the channel's provider, timed by its result."""
        sender = self._senders.get(notification.channel)
        if sender is None:
            # A rule, or a row held since an earlier start, names a channel this instance
            # was started without: as final as a provider's refusal.
            raise SmsRejected(f"the notifier has no {notification.channel} channel set up")
        started = time.monotonic()
        result = "ok"
        try:
            return sender.send(notification)
        except SmsRejected:
            result = "rejected"
            raise
        except SmsProviderUnavailable:
            result = "unavailable"
            raise
        finally:
            self._metrics.provider_seconds.labels(result).observe(time.monotonic() - started)

    def _delay(self, attempt: int, error: SmsProviderUnavailable) -> float:
        return backoff_delay(
            attempt,
            base=self._policy.backoff_base_s,
            cap=self._policy.backoff_cap_s,
            jitter_draw=self._jitter(),
            # A provider asking for more than the cap is not waited for in the consumer's
            # thread: the budget runs out sooner and the row says failed.
            floor=min(error.retry_after or 0.0, self._policy.backoff_cap_s),
        )


def _context(notification: Notification) -> dict[str, str]:
    return {
        "document_id": notification.document_id,
        "rule": notification.rule,
        "state": notification.state,
        "channel": notification.channel,
        "to": mask_address(notification.address),
        "key": notification.key,
    }
