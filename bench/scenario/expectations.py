"""Which SMS the enriched events call for, computed with the notifier's own rule matching.

The notifier's code decides (rules, phone parsing, the notification key), so the runner
cannot disagree with it about what a rule means; what the runner checks independently is
that each of those business events reached the provider exactly once.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from notifier.errors import DocumentIncomplete
from notifier.fields import attribute
from notifier.opt_outs import says_opted_out
from notifier.phones import first_mobile_number
from notifier.rules import RuleSet
from notifier.sms import idempotency_key

OPT_OUT_ATTRIBUTE = "SMS opt-out"


@dataclass(frozen=True)
class ExpectedSms:
    key: str
    document_id: str
    rule: str
    state: str


@dataclass
class Expectations:
    sms: dict[str, ExpectedSms] = field(default_factory=dict)
    """Every expected SMS by its notification key."""
    incomplete_documents: set[str] = field(default_factory=set)
    """Documents a matched rule cannot render: the notifier dead-letters them."""
    no_phone: int = 0
    opted_out: int = 0


def _opted_out(document: Mapping[str, Any], phone: str, region: str) -> bool:
    """The notifier's counterparty opt-out (the opt-out list is empty in a scenario)."""
    agent = document.get("agent")
    if not isinstance(agent, Mapping) or not says_opted_out(attribute(agent, OPT_OUT_ATTRIBUTE)):
        return False
    own = agent.get("phone")
    return first_mobile_number(own if isinstance(own, str) else None, region) == phone


def expected_sms(
    documents: Iterable[Mapping[str, Any]], rules: RuleSet, region: str
) -> Expectations:
    """The SMS ``documents`` (enriched ``data.document`` values, repeats allowed) call for."""
    expectations = Expectations()
    for document in documents:
        try:
            planned = rules.plan(document)
        except DocumentIncomplete:
            expectations.incomplete_documents.add(str(document.get("id")))
            continue
        for message in planned:
            phone = first_mobile_number(message.phone_text, region)
            if phone is None:
                expectations.no_phone += 1
                continue
            if _opted_out(document, phone, region):
                expectations.opted_out += 1
                continue
            key = idempotency_key(document["id"], message.rule, message.state)
            expectations.sms.setdefault(
                key, ExpectedSms(key, document["id"], message.rule, message.state)
            )
    return expectations
