"""The notifier's logic: one enriched document in, the messages its rules ask for delivered."""

import logging
from collections.abc import Mapping
from typing import Any

from cloudevents.core.v1.event import CloudEvent

from notifier.addresses import first_email_address
from notifier.channels import Channel
from notifier.delivery import Delivery
from notifier.ledger import Clock, Notification, utc_now
from notifier.masking import mask_address
from notifier.metrics import NotifierMetrics, default_notifier_metrics
from notifier.opt_outs import OptOutPolicy
from notifier.phones import first_mobile_number
from notifier.rules import PlannedMessage, RuleSet
from notifier.sms import idempotency_key
from shared.batch import Polled
from shared.contracts import validate_event
from shared.events import (
    DOCUMENT_DELETED,
    DOCUMENT_UNAVAILABLE,
    ENRICHED_DOCUMENT,
    event_data,
    from_record,
)
from shared.logs import event_context
from shared.settling import Handled, RecordHandler

log = logging.getLogger(__name__)


class NotifyHandler:
    """Delivers one message per rule that matches the event's document, in rule order, on
    the first of the rule's channels the recipient has an address for.

    Every message is planned before the first is delivered, so a document that cannot
    satisfy one of its rules sends nothing. Each goes through the ledger
    (:class:`Delivery`), so the same business event delivered again, by a redelivered
    record, a retry of this event or another instance, is suppressed there. A message
    to someone who opted out is recorded as skipped instead.
    """

    def __init__(
        self,
        rules: RuleSet,
        delivery: Delivery,
        opt_outs: OptOutPolicy,
        region: str,
        clock: Clock = utc_now,
        metrics: NotifierMetrics | None = None,
    ) -> None:
        self._rules = rules
        self._delivery = delivery
        self._opt_outs = opt_outs
        self._region = region
        self._clock = clock
        self._metrics = metrics or default_notifier_metrics()

    def for_key(self) -> RecordHandler:
        """The consumer runtime's entry: one document's records, in order (nothing is shared
        between them: the ledger is what keeps a document's messages apart)."""
        return self.handle_record

    def handle_record(self, polled: Polled) -> Handled:
        event = from_record(polled.record)
        with event_context(event_id=event.get_id()):
            self(event)
        return Handled()

    def __call__(self, event: CloudEvent) -> None:
        validate_event(event)
        data = event.get_data()
        # Every line logged for this event names the webhook it came from, too.
        with event_context(
            raw_event_id=data.get("raw_event_id") if isinstance(data, dict) else None
        ):
            self._handle(event)

    def _handle(self, event: CloudEvent) -> None:
        if event.get_type() in (DOCUMENT_UNAVAILABLE.type, DOCUMENT_DELETED.type):
            # The enricher's news that Kladana lost or deleted the document: nothing to tell
            # a customer.
            log.info(
                "document gone", extra={"document_id": event.get_subject(), "why": event.get_type()}
            )
            return
        document: dict[str, Any] = event_data(event, ENRICHED_DOCUMENT)["document"]
        planned = self._rules.plan(document)
        if not planned:
            log.info(
                "no rule matches",
                extra={
                    "document_id": document["id"],
                    "type": document["type"],
                    "state": document["state"],
                },
            )
            return
        outgoing = [
            (message, notification)
            for message in planned
            if (notification := self._notification(message, document))
        ]
        for message, notification in outgoing:
            # A refused SMS text stays among the channels only when no other one is left.
            if message.refusal and Channel.SMS in notification.channels:
                self._delivery.refuse(notification, message.refusal)
                continue
            opted_out = self._opt_outs.reason(notification, document)
            if opted_out:
                self._delivery.skip(notification, opted_out)
                continue
            quiet_until = (
                message.quiet_hours.next_open(self._clock()) if message.quiet_hours else None
            )
            self._delivery.deliver(notification, held_until=quiet_until)

    def _notification(
        self, message: PlannedMessage, document: Mapping[str, Any]
    ) -> Notification | None:
        """The planned message as a notification on the channels it can use, or ``None``
        (logged) when the recipient has an address for none of them."""
        phone = first_mobile_number(message.phone_text, self._region)
        email = first_email_address(message.email_text)
        usable = tuple(
            channel for channel in message.channels if (phone if channel.needs_phone else email)
        )
        if message.refusal and Channel.SMS in usable and len(usable) > 1:
            usable = tuple(channel for channel in usable if channel is not Channel.SMS)
            log.info(
                "sms left out: its text is refused",
                extra={
                    "document_id": document["id"],
                    "rule": message.rule,
                    "reason": message.refusal,
                    "channels": ", ".join(usable),
                },
            )
        if not usable:
            channel = message.channels[0]
            log.warning(
                f"{channel} skipped",
                extra={
                    "reason": _no_address(message),
                    "document_id": document["id"],
                    "rule": message.rule,
                    "phone": mask_address(message.phone_text or ""),
                },
            )
            self._metrics.count(channel, "skipped")
            return None
        return Notification(
            key=idempotency_key(document["id"], message.rule, message.state),
            document_id=document["id"],
            rule=message.rule,
            state=message.state,
            phone=phone,
            text=message.text,
            sender=message.sender,
            dlt_template_id=message.dlt_template_id,
            channels=usable,
            channel=usable[0],
            email=email,
            email_subject=message.email_subject,
            whatsapp=message.whatsapp,
        )


def _no_address(message: PlannedMessage) -> str:
    """Why none of the message's channels has an address, e.g. "no valid mobile number"."""
    reasons = []
    if any(channel.needs_phone for channel in message.channels):
        written = (message.phone_text or "").strip()
        reasons.append("no valid mobile number" if written else "no phone")
    if Channel.EMAIL in message.channels:
        written = (message.email_text or "").strip()
        reasons.append("no valid email address" if written else "no email address")
    return "; ".join(reasons)
