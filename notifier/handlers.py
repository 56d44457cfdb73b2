"""The notifier's logic: one enriched document in, the SMS its rules ask for out."""

import logging
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from cloudevents.core.v1.event import CloudEvent

from notifier.errors import DocumentIncomplete
from notifier.phones import first_mobile_number
from notifier.render import render, template_values
from notifier.rules import Rule, RuleSet
from notifier.sms import Sms, SmsSender, idempotency_key
from shared.contracts import validate_event
from shared.events import ENRICHED_DOCUMENT, event_data
from shared.logs import mask_phone

log = logging.getLogger(__name__)


class NotifyHandler:
    """Sends one SMS per rule that matches the event's document, in rule order.

    Every message is composed before the first is sent, so a document that cannot
    satisfy one of its rules sends nothing. A retriable send error propagates and the
    loop retries the whole event, so rules sent before it are sent again: only a
    delivery ledger can make that once-only.
    """

    def __init__(self, rules: RuleSet, sender: SmsSender, region: str, zone: ZoneInfo) -> None:
        self._rules = rules
        self._sender = sender
        self._region = region
        self._zone = zone

    def __call__(self, event: CloudEvent) -> None:
        validate_event(event)
        document: dict[str, Any] = event_data(event, ENRICHED_DOCUMENT)["document"]
        rules = self._rules.matching(document)
        if not rules:
            log.info(
                "no rule matches",
                extra={
                    "document_id": document["id"],
                    "type": document["type"],
                    "state": document["state"],
                },
            )
            return
        values = template_values(document, self._zone)
        outgoing = [(rule, sms) for rule in rules if (sms := self._compose(rule, document, values))]
        for rule, sms in outgoing:
            provider_id = self._sender.send(sms)
            log.info(
                "sms sent",
                extra={
                    "document_id": document["id"],
                    "rule": rule.name,
                    "to": mask_phone(sms.to),
                    "provider_id": provider_id,
                },
            )

    def _compose(
        self, rule: Rule, document: Mapping[str, Any], values: Mapping[str, str | None]
    ) -> Sms | None:
        """The rule's SMS, or ``None`` (logged) when the document has no usable phone."""
        phone_text = rule.phone_text(document)
        to = first_mobile_number(phone_text, self._region)
        if to is None:
            reason = "no phone" if not (phone_text or "").strip() else "no valid mobile number"
            log.warning(
                "sms skipped",
                extra={
                    "reason": reason,
                    "document_id": document["id"],
                    "rule": rule.name,
                    "phone": mask_phone(phone_text or ""),
                },
            )
            return None
        try:
            text = render(rule.template, values)
        except DocumentIncomplete as error:
            raise DocumentIncomplete(
                f"rule {rule.name!r}, document {document['id']}: {error}"
            ) from None
        return Sms(
            to=to,
            text=text,
            idempotency_key=idempotency_key(document["id"], rule.name, str(document["state"])),
        )
