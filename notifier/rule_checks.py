"""What start-up checks of a parsed rule on the sample document of its type: each of its
wordings renders and fits (:func:`notifier.wording.check_sample`), its WhatsApp
parameters and email subject render (notifier/rule_channels.py), and its conditions and
recipient read only what that type has."""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from notifier.channels import Channel
from notifier.errors import RuleProblem
from notifier.fields import Kind, value_of
from notifier.recipients import ContactPhone, FieldPhone, FixedPhone, Recipient
from notifier.wording import check_sample

if TYPE_CHECKING:
    from notifier.rules import Rule


def check_rule(rule: "Rule", timezone: ZoneInfo) -> None:
    """:class:`RuleProblem` for the first thing wrong with ``rule`` on its samples."""
    sample = rule.sample()
    if len(rule.wordings) > 1 and sample["agent"] is None:
        raise RuleProblem(
            f"templates: a {rule.type} has no counterparty, so no language to choose by"
        )
    for wording in rule.wordings:
        check_sample(
            wording,
            rule.sample(wording),
            type_name=rule.type,
            locale=rule.locale,
            zone=timezone,
            max_segments=rule.max_segments,
        )
    for keys in (rule.whatsapp, rule.email_subject):
        if keys is not None:
            keys.check_sample(sample, type_name=rule.type, locale=rule.locale, zone=timezone)
    if Channel.EMAIL in rule.channels and isinstance(rule.recipient, FixedPhone):
        raise RuleProblem(
            "channels: email needs an address, and a fixed number has none"
            " (name another recipient or leave email out)"
        )
    _check_fields_of_type(rule, sample)


def _check_fields_of_type(rule: "Rule", sample: Mapping[str, Any]) -> None:
    """The rule's conditions and recipient read only fields the sample of its type has."""
    lacking = [
        condition.field.path
        for condition in rule.conditions
        if condition.field.kind is not Kind.ANY
        and value_of(sample, condition.field) is None
        # Only "has no value" is worth testing on a field the type never has.
        and (condition.operator, condition.operand) != ("exists", False)
    ]
    if lacking:
        raise RuleProblem(
            f"'when' {', '.join(dict.fromkeys(lacking))}: a sample {rule.type} has no such"
            " value, so the condition can never tell documents of this type apart"
        )
    if _reads_counterparty(rule.recipient) and sample["agent"] is None:
        raise RuleProblem(
            f"recipient {rule.recipient.describe()}: a {rule.type} has no counterparty"
            " (name a fixed phone or an attribute)"
        )


def _reads_counterparty(recipient: Recipient) -> bool:
    if isinstance(recipient, FieldPhone):
        return recipient.field.path.startswith("agent.")
    return isinstance(recipient, ContactPhone)
