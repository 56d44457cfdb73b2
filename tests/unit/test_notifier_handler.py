import logging
from typing import Any

import pytest

from notifier.errors import DocumentIncomplete, SmsProviderUnavailable
from notifier.handlers import NotifyHandler
from notifier.rules import RuleSet
from notifier.sms import Sms, idempotency_key
from shared.contracts import ContractViolation
from shared.events import RAW_WEBHOOK, new_event
from tests.helpers import SEED_DOCUMENT_ID as DOCUMENT_ID
from tests.helpers import SEED_SMS as SEED_TEXT
from tests.helpers import enriched_event


class RecordingSender:
    def __init__(self, error: Exception | None = None) -> None:
        self.sent: list[Sms] = []
        self._error = error

    def send(self, sms: Sms) -> str | None:
        if self._error is not None:
            raise self._error
        self.sent.append(sms)
        return f"msg-{len(self.sent)}"


def _handler(sender: RecordingSender, rules: RuleSet | None = None) -> NotifyHandler:
    return NotifyHandler(rules or RuleSet.load(None), sender, "IN")


def test_the_seed_event_sends_one_sms_with_the_exact_text_to_the_e164_number() -> None:
    sender = RecordingSender()
    _handler(sender)(enriched_event())
    assert sender.sent == [
        Sms(
            to="+919876543210",
            text=SEED_TEXT,
            idempotency_key=idempotency_key(DOCUMENT_ID, "sales-order-shipped", "Shipped"),
        )
    ]


def test_the_idempotency_key_is_a_stable_sha256_of_the_business_event() -> None:
    sender = RecordingSender()
    handler = _handler(sender)
    handler(enriched_event())
    handler(enriched_event())  # the same document and state again, in a new event
    first, second = sender.sent
    assert first.idempotency_key == second.idempotency_key
    assert len(first.idempotency_key) == 64
    int(first.idempotency_key, 16)
    assert idempotency_key(DOCUMENT_ID, "sales-order-shipped", "Delivered") != first.idempotency_key
    assert idempotency_key(DOCUMENT_ID, "other-rule", "Shipped") != first.idempotency_key


@pytest.mark.parametrize("changes", [{"state": "New"}, {"type": "Demand", "entity": "demand"}])
def test_an_event_no_rule_matches_sends_nothing(changes: dict[str, Any]) -> None:
    sender = RecordingSender()
    _handler(sender)(enriched_event(**changes))
    assert sender.sent == []


@pytest.mark.parametrize(
    ("agent", "reason"),
    [
        (None, "no phone"),
        ({"id": "a1", "name": "R", "phone": None, "email": None}, "no phone"),
        ({"id": "a1", "name": "R", "phone": "call the office", "email": None}, "no valid mobile"),
        ({"id": "a1", "name": "R", "phone": "011-2345 6789", "email": None}, "no valid mobile"),
    ],
)
def test_an_event_without_a_usable_phone_is_logged_and_skipped(
    caplog: pytest.LogCaptureFixture, agent: dict[str, Any] | None, reason: str
) -> None:
    sender = RecordingSender()
    with caplog.at_level(logging.WARNING, logger="notifier.handlers"):
        _handler(sender)(enriched_event(agent=agent))
    assert sender.sent == []
    (record,) = caplog.records
    assert record.reason.startswith(reason)  # type: ignore[attr-defined]
    assert record.document_id == DOCUMENT_ID  # type: ignore[attr-defined]
    phone = (agent or {}).get("phone") or ""
    assert record.phone == "*" * max(len(phone) - 4, 0) + phone[-4:]  # type: ignore[attr-defined]


def test_sent_sms_are_logged_with_the_phone_masked(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="notifier.handlers"):
        _handler(RecordingSender())(enriched_event())
    (record,) = caplog.records
    assert record.message == "sms sent"
    assert record.to == "*********3210"  # type: ignore[attr-defined]
    assert "98765" not in caplog.text


def test_a_retriable_sender_error_propagates() -> None:
    sender = RecordingSender(SmsProviderUnavailable("gateway down", retry_after=3))
    with pytest.raises(SmsProviderUnavailable) as raised:
        _handler(sender)(enriched_event())
    assert raised.value.retry_after == 3


TWO_RULES = """
[[rule]]
name = "thanks"
type = "CustomerOrder"
state = "Shipped"
template = "Thank you, {customer}."

[[rule]]
name = "shipped"
type = "CustomerOrder"
state = "Shipped"
template = "{title} {number} is on its way."
"""


def test_every_matching_rule_sends_in_order() -> None:
    sender = RecordingSender()
    _handler(sender, RuleSet.parse(TWO_RULES, source="test"))(enriched_event())
    assert [sms.text for sms in sender.sent] == [
        "Thank you, Ravi Kumar.",
        "Sales Order 5643 is on its way.",
    ]
    assert sender.sent[0].idempotency_key != sender.sent[1].idempotency_key


def test_a_document_lacking_a_value_of_one_rule_sends_nothing_and_says_why() -> None:
    sender = RecordingSender()
    handler = _handler(sender, RuleSet.parse(TWO_RULES, source="test"))
    with pytest.raises(DocumentIncomplete, match=r"'shipped'.*number"):
        handler(enriched_event(number=None))
    assert sender.sent == []


def test_an_event_breaking_the_contract_is_refused_for_good() -> None:
    with pytest.raises(ContractViolation, match="sum"):
        _handler(RecordingSender())(enriched_event(sum={"minor": 1}))


def test_an_event_of_another_type_is_refused_for_good() -> None:
    raw = new_event(RAW_WEBHOOK, source="/test", document_id=DOCUMENT_ID, data={})
    with pytest.raises(ContractViolation):
        _handler(RecordingSender())(raw)
