import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, create_engine

from notifier.channels import Channel
from notifier.delivery import Delivery, SendPolicy
from notifier.errors import DocumentIncomplete, LedgerUnavailable
from notifier.handlers import NotifyHandler
from notifier.ledger import Ledger, Notification
from notifier.ledger_schema import Status, open_engine
from notifier.metrics import NotifierMetrics
from notifier.opt_outs import OptOutList, OptOutPolicy
from notifier.outbound import SmsChannel
from notifier.rules import RuleSet
from notifier.sms import Sms, idempotency_key
from shared.contracts import ContractViolation
from shared.events import DOCUMENT_DELETED, DOCUMENT_UNAVAILABLE, RAW_WEBHOOK, new_event
from tests.helpers import SEED_DOCUMENT_ID as DOCUMENT_ID
from tests.helpers import SEED_SMS as SEED_TEXT
from tests.helpers import enriched_event

NIGHT_IN_KOLKATA = datetime(2026, 6, 10, 18, 0, tzinfo=UTC)  # 23:30 IST
NOON_IN_KOLKATA = datetime(2026, 6, 10, 6, 30, tzinfo=UTC)


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[Sms] = []

    def send(self, sms: Sms) -> str | None:
        self.sent.append(sms)
        return f"msg-{len(self.sent)}"


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Engine]:
    engine = open_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def ledger(database: Engine) -> Ledger:
    return Ledger(database)


@pytest.fixture
def opt_out_list(database: Engine) -> OptOutList:
    return OptOutList(database)


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


def _handler(
    database: Engine,
    sender: RecordingSender,
    rules: RuleSet | None = None,
    now: datetime = NOON_IN_KOLKATA,
) -> NotifyHandler:
    delivery = Delivery(
        Ledger(database),
        {Channel.SMS: SmsChannel(sender)},
        SendPolicy(attempts=1),
        sleep=lambda _s: None,
    )
    opt_outs = OptOutPolicy(OptOutList(database), attribute_name="SMS opt-out", region="IN")
    return NotifyHandler(rules or RuleSet.load(None), delivery, opt_outs, "IN", clock=lambda: now)


def test_the_seed_event_sends_one_sms_with_the_exact_text_to_the_e164_number(
    database: Engine, ledger: Ledger, sender: RecordingSender
) -> None:
    _handler(database, sender)(enriched_event())
    assert sender.sent == [
        Sms(
            to="+919876543210",
            text=SEED_TEXT,
            idempotency_key=idempotency_key(DOCUMENT_ID, "sales-order-shipped", "Shipped"),
            dlt_template_id="1107161234567890123",
        )
    ]
    (entry,) = ledger.entries()
    assert (entry.status, entry.provider_message_id) == (Status.SENT, "msg-1")
    assert entry.notification.dlt_template_id == "1107161234567890123"
    assert entry.notification.key == sender.sent[0].idempotency_key


def test_the_same_document_in_the_same_state_again_sends_nothing_more(
    database: Engine, ledger: Ledger, sender: RecordingSender
) -> None:
    handler = _handler(database, sender)
    handler(enriched_event())
    handler(enriched_event(sum={"minor": 6000000, "amount": "60000.00", "currency": "INR"}))
    handler(enriched_event(state="Assembled"))  # no rule for it
    assert len(sender.sent) == 1
    assert len(ledger.entries()) == 1


def test_a_rule_without_a_state_sends_once_per_document_whatever_its_updates(
    database: Engine, ledger: Ledger, sender: RecordingSender
) -> None:
    rules = RuleSet.parse(
        '[[rule]]\nname = "order-seen"\ntype = "CustomerOrder"\ntemplate = "Order {number}"\n',
        source="test",
    )
    handler = _handler(database, sender, rules)
    handler(enriched_event(state=None))
    handler(enriched_event(state="New"))
    handler(enriched_event(state="Shipped", number="5643-A"))
    handler(enriched_event(id="another-order", state="Shipped"))
    assert [(sms.text, sms.idempotency_key) for sms in sender.sent] == [
        ("Order 5643", idempotency_key(DOCUMENT_ID, "order-seen", "*")),
        ("Order 5643", idempotency_key("another-order", "order-seen", "*")),
    ]
    assert len(ledger.entries()) == 2


def test_the_idempotency_key_is_a_stable_sha256_of_the_business_event() -> None:
    key = idempotency_key(DOCUMENT_ID, "sales-order-shipped", "Shipped")
    assert key == idempotency_key(DOCUMENT_ID, "sales-order-shipped", "Shipped")
    assert len(key) == 64
    int(key, 16)
    assert idempotency_key(DOCUMENT_ID, "sales-order-shipped", "Delivered") != key
    assert idempotency_key(DOCUMENT_ID, "other-rule", "Shipped") != key


@pytest.mark.parametrize("changes", [{"state": "New"}, {"type": "Demand", "entity": "demand"}])
def test_an_event_no_rule_matches_sends_nothing(
    database: Engine, ledger: Ledger, sender: RecordingSender, changes: dict[str, Any]
) -> None:
    _handler(database, sender)(enriched_event(**changes))
    assert sender.sent == []
    assert ledger.entries() == []


@pytest.mark.parametrize("event_type", ["document-unavailable", "document-deleted"])
def test_a_document_gone_from_kladana_sends_nothing(
    database: Engine, sender: RecordingSender, ledger: Ledger, event_type: str
) -> None:
    spec = DOCUMENT_UNAVAILABLE if event_type == "document-unavailable" else DOCUMENT_DELETED
    gone = {"status": 404, "reason": "Kladana answered 404"}
    deleted = {"received_at": "2024-06-10T12:27:00Z"}
    event = new_event(
        spec,
        source="/kladana-pipeline/enricher",
        document_id=DOCUMENT_ID,
        data={
            "raw_event_id": "raw-1",
            "document_id": DOCUMENT_ID,
            "type": "CustomerOrder",
            "entity": "customerorder",
            **(gone if spec is DOCUMENT_UNAVAILABLE else deleted),
        },
    )
    _handler(database, sender)(event)
    assert sender.sent == []
    assert ledger.entries() == []


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
    database: Engine,
    ledger: Ledger,
    sender: RecordingSender,
    caplog: pytest.LogCaptureFixture,
    agent: dict[str, Any] | None,
    reason: str,
) -> None:
    with caplog.at_level(logging.WARNING, logger="notifier.handlers"):
        _handler(database, sender)(enriched_event(agent=agent))
    assert sender.sent == []
    (record,) = caplog.records
    assert record.reason.startswith(reason)  # type: ignore[attr-defined]
    assert record.document_id == DOCUMENT_ID  # type: ignore[attr-defined]
    phone = (agent or {}).get("phone") or ""
    assert record.phone == "*" * max(len(phone) - 4, 0) + phone[-4:]  # type: ignore[attr-defined]


def test_sent_sms_are_logged_with_the_phone_masked(
    database: Engine, ledger: Ledger, sender: RecordingSender, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="notifier"):
        _handler(database, sender)(enriched_event())
    (record,) = caplog.records
    assert record.message == "sms sent"
    assert record.to == "*********3210"  # type: ignore[attr-defined]
    assert "98765" not in caplog.text


def test_an_unreachable_ledger_is_retriable_and_nothing_is_sent(
    tmp_path: Path, sender: RecordingSender
) -> None:
    missing = create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'ledger.db'}")
    with pytest.raises(LedgerUnavailable) as raised:
        _handler(missing, sender)(enriched_event())
    assert raised.value.retriable
    assert sender.sent == []


QUIET_RULE = """
[[rule]]
name = "shipped"
type = "CustomerOrder"
state = "Shipped"
template = "{title} {number} is on its way."
quiet_hours = "21:00-09:00"
"""


def test_a_message_due_in_quiet_hours_is_held_until_they_end(
    database: Engine, ledger: Ledger, sender: RecordingSender
) -> None:
    rules = RuleSet.parse(QUIET_RULE, source="test")
    _handler(database, sender, rules, now=NIGHT_IN_KOLKATA)(enriched_event())
    assert sender.sent == []
    (entry,) = ledger.entries()
    assert entry.status is Status.HELD
    assert entry.due_at == datetime(2026, 6, 11, 3, 30, tzinfo=UTC)  # 09:00 IST


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


def test_every_matching_rule_sends_in_order(
    database: Engine, ledger: Ledger, sender: RecordingSender
) -> None:
    _handler(database, sender, RuleSet.parse(TWO_RULES, source="test"))(enriched_event())
    assert [sms.text for sms in sender.sent] == [
        "Thank you, Ravi Kumar.",
        "Sales Order 5643 is on its way.",
    ]
    assert sender.sent[0].idempotency_key != sender.sent[1].idempotency_key


def test_a_document_lacking_a_value_of_one_rule_sends_nothing_and_says_why(
    database: Engine, ledger: Ledger, sender: RecordingSender
) -> None:
    handler = _handler(database, sender, RuleSet.parse(TWO_RULES, source="test"))
    with pytest.raises(DocumentIncomplete, match=r"'shipped'.*number"):
        handler(enriched_event(number=None))
    assert sender.sent == []
    assert ledger.entries() == []


def test_an_event_breaking_the_contract_is_refused_for_good(
    database: Engine, ledger: Ledger, sender: RecordingSender
) -> None:
    with pytest.raises(ContractViolation, match="sum"):
        _handler(database, sender)(enriched_event(sum={"minor": 1}))


def test_an_event_of_another_type_is_refused_for_good(
    database: Engine, ledger: Ledger, sender: RecordingSender
) -> None:
    raw = new_event(RAW_WEBHOOK, source="/test", document_id=DOCUMENT_ID, data={})
    with pytest.raises(ContractViolation):
        _handler(database, sender)(raw)


def test_a_number_on_the_opt_out_list_gets_nothing_and_the_ledger_says_why(
    database: Engine, ledger: Ledger, opt_out_list: OptOutList, sender: RecordingSender
) -> None:
    opt_out_list.add("+919876543210", "replied STOP")
    handler = _handler(database, sender)
    handler(enriched_event())
    handler(enriched_event())
    assert sender.sent == []
    (entry,) = ledger.entries()
    assert entry.status is Status.SKIPPED
    assert entry.last_error == "opted out: the number is on the opt-out list"


@pytest.mark.parametrize("flag", [True, "Yes", " TRUE "])
def test_a_counterparty_flagged_opted_out_gets_nothing(
    database: Engine, ledger: Ledger, sender: RecordingSender, flag: object
) -> None:
    agent = {
        "id": "a1",
        "name": "Ravi Kumar",
        "phone": "+91 98765 43210",
        "email": None,
        "attributes": {"SMS opt-out": flag},
    }
    _handler(database, sender)(enriched_event(agent=agent))
    assert sender.sent == []
    (entry,) = ledger.entries()
    assert entry.status is Status.SKIPPED
    assert entry.last_error == "opted out: counterparty attribute 'SMS opt-out'"


STAFF_ALERT = """
[[rule]]
name = "staff-alert"
type = "CustomerOrder"
state = "Shipped"
template = "{title} {number} shipped."
recipient = { phone = "+91 98765 00000" }
"""


def test_a_counterparty_opt_out_does_not_stop_a_staff_alert(
    database: Engine, sender: RecordingSender
) -> None:
    agent = {
        "id": "a1",
        "name": "Ravi Kumar",
        "phone": "+91 98765 43210",
        "email": None,
        "attributes": {"SMS opt-out": True},
    }
    rules = RuleSet.parse(STAFF_ALERT, source="test")
    _handler(database, sender, rules)(enriched_event(agent=agent))
    assert [sms.to for sms in sender.sent] == ["+919876500000"]


@pytest.mark.parametrize("flag", [False, "no", None])
def test_an_unset_opt_out_attribute_does_not_stop_messages(
    database: Engine, sender: RecordingSender, flag: object
) -> None:
    agent = {
        "id": "a1",
        "name": "Ravi Kumar",
        "phone": "+91 98765 43210",
        "email": None,
        "attributes": {"SMS opt-out": flag},
    }
    _handler(database, sender)(enriched_event(agent=agent))
    assert len(sender.sent) == 1


def test_a_dlt_variable_over_30_characters_is_refused_and_nothing_is_sent(
    database: Engine, ledger: Ledger, sender: RecordingSender, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="notifier")
    registry = CollectorRegistry()
    delivery = Delivery(
        Ledger(database), {Channel.SMS: SmsChannel(sender)}, metrics=NotifierMetrics(registry)
    )
    opt_outs = OptOutPolicy(OptOutList(database), attribute_name="SMS opt-out", region="IN")
    handler = NotifyHandler(
        RuleSet.load(None), delivery, opt_outs, "IN", clock=lambda: NOON_IN_KOLKATA
    )
    long_number = "SO-" + "7" * 28
    handler(enriched_event(number=long_number))
    assert sender.sent == []
    (entry,) = ledger.entries()
    assert (entry.status, entry.last_error) == (
        Status.REFUSED,
        "variable 1 of DLT template 1107161234567890123 would be 31 characters long;"
        " TRAI allows at most 30",
    )
    assert registry.get_sample_value("notifier_sms_total", {"status": "refused"}) == 1
    assert registry.get_sample_value("notifier_sms_total", {"status": "sent"}) is None
    (logged,) = [record for record in caplog.records if record.getMessage() == "sms refused"]
    assert "TRAI allows at most 30" in logged.__dict__["reason"]
    assert "98765" not in caplog.text
    assert long_number not in caplog.text


def test_a_held_message_is_released_with_its_dlt_template_id(
    database: Engine, ledger: Ledger, sender: RecordingSender
) -> None:
    delivery = Delivery(Ledger(database), {Channel.SMS: SmsChannel(sender)}, SendPolicy(attempts=1))
    notification = Notification(
        key="k1",
        document_id=DOCUMENT_ID,
        rule="sales-order-shipped",
        state="Shipped",
        phone="+919876543210",
        text=SEED_TEXT,
        dlt_template_id="1107161234567890123",
    )
    delivery.deliver(notification, held_until=NOON_IN_KOLKATA)
    (due,) = Ledger(database, clock=lambda: NOON_IN_KOLKATA).claim_due()
    delivery.send_released(due)
    assert [sms.dlt_template_id for sms in sender.sent] == ["1107161234567890123"]
