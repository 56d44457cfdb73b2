import re
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from notifier.errors import DocumentIncomplete, RulesError
from notifier.quiet_hours import QuietHours
from notifier.recipients import COUNTERPARTY, FieldPhone, FixedPhone
from notifier.rules import ONCE, PlannedMessage, RuleSet
from notifier.samples import SAMPLE_DOCUMENT, sample_document
from shared.contracts import validate_event
from shared.errors import SettingsError
from shared.events import ENRICHED_DOCUMENT, new_event
from shared.kladana_types import TRANSACTION_TYPES
from tests.helpers import ROOT, seed_document

GOOD = """
[[rule]]
name = "order-shipped"
type = "CustomerOrder"
state = "Shipped"
template = "Order {number} shipped"

[[rule]]
name = "invoice-issued"
type = "InvoiceOut"
state = "Issued"
template = "{title} {number} of {amount} {currency}"
phone = "agent.phone"
"""

FULL = """
[[rule]]
name = "big-order"
type = "CustomerOrder"
state = "Shipped"
template = "{agent.name}: {sum:currency} on {moment:d MMM y} via {attributes.Courier}"
recipient = { phone = "+91 98765 00000" }
sender = "ACME"
locale = "en_IN"
quiet_hours = "21:00-09:00"

[rule.when]
sum = { gte = 10000 }
"attributes.Courier" = { exists = true }
agent.tags = { contains = "vip" }
"""

STAFF = "= { phone = '+91 98765 00000' }"


def _rule(**fields: str) -> str:
    base = {
        "name": "order-shipped",
        "type": "CustomerOrder",
        "state": "Shipped",
        "template": "Order {number} shipped",
    }
    base.update(fields)
    lines = [f"{key} = {_toml(value)}" for key, value in base.items() if value != "<absent>"]
    return "[[rule]]\n" + "\n".join(lines) + "\n"


def _toml(value: str) -> str:
    return value[1:] if value.startswith("=") else f'"{value}"'


def _vip(**changes: Any) -> dict[str, Any]:
    agent = {"id": "a1", "name": "Ravi", "phone": "+91 98765 43210", "email": None}
    return seed_document(
        agent={**agent, "tags": ["VIP"]},
        attributes={"Courier": "BlueDart"},
        sum={"minor": 1500000, "amount": "15000.00", "currency": "INR"},
        **changes,
    )


def test_the_bundled_default_rules_load() -> None:
    rules = RuleSet.load(None)
    assert rules.source == "default_rules.toml"
    assert [(rule.name, rule.type, rule.state) for rule in rules.rules] == [
        ("order-confirmed", "CustomerOrder", "Confirmed"),
        ("sales-order-shipped", "CustomerOrder", "Shipped"),
        ("sales-order-shipped-other-currency", "CustomerOrder", "Shipped"),
        ("order-delivered", "CustomerOrder", "Delivered"),
        ("payment-received", "PaymentIn", None),
        ("payment-received-for-order", "PaymentIn", None),
        ("payment-received-balance-due", "PaymentIn", None),
        ("cash-received", "CashIn", None),
        ("cash-received-for-order", "CashIn", None),
        ("cash-received-balance-due", "CashIn", None),
        ("return-accepted", "SalesReturn", None),
    ]
    for rule in rules.rules:
        assert (rule.recipient, rule.locale, rule.sender, rule.quiet_hours) == (
            COUNTERPARTY,
            "en_IN",
            None,
            None,
        )


DEFAULT_SAMPLE_TEXTS = {
    "order-confirmed": (
        "Your order 5643 dated 10.06.2024 for ₹50,000 has been confirmed. Thank you!"
    ),
    "sales-order-shipped": (
        "Sales Order 5643 dated 10.06.2024 for an amount of 50,000 rupees has been handed"
        " over to the delivery service."
    ),
    "sales-order-shipped-other-currency": (
        "Sales Order 5643 dated 10.06.2024 for an amount of ₹50,000 has been handed over to"
        " the delivery service."
    ),
    "order-delivered": (
        "Your order 5643 dated 10.06.2024 has been delivered. Thank you for shopping with us!"
    ),
    "payment-received": "We have received your payment of ₹20,000. Thank you!",
    "payment-received-for-order": "Payment of ₹20,000 received for order 5643. Thank you!",
    "payment-received-balance-due": (
        "Payment of ₹20,000 received for order 5643. Balance due: ₹30,000."
    ),
    "cash-received": "We have received your payment of ₹20,000. Thank you!",
    "cash-received-for-order": "Payment of ₹20,000 received for order 5643. Thank you!",
    "cash-received-balance-due": (
        "Payment of ₹20,000 received for order 5643. Balance due: ₹30,000."
    ),
    "return-accepted": "Your return 5643 dated 10.06.2024 for ₹50,000 has been accepted.",
}


def test_each_default_rule_renders_its_text_on_the_sample_of_its_type() -> None:
    rules = RuleSet.load(None)
    texts = {rule.name: rule.render(rule.sample(), rules.timezone) for rule in rules.rules}
    assert texts == DEFAULT_SAMPLE_TEXTS


def _payment(link: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    """A payment of 20,000 rupees for order 5643 (50,000), 30,000 left to pay on it; ``link``
    changes the link to the order."""
    order = {
        "relation": "pays",
        "type": "CustomerOrder",
        "id": "o1",
        "number": "5643",
        "sum": {"minor": 5000000, "amount": "50000.00", "currency": "INR"},
        "applied": {"minor": 2000000, "amount": "20000.00", "currency": "INR"},
        "balance_due": {"minor": 3000000, "amount": "30000.00", "currency": "INR"},
    }
    payment = {
        "type": "PaymentIn",
        "entity": "paymentin",
        "number": "00031",
        "state": None,
        "sum": {"minor": 2000000, "amount": "20000.00", "currency": "INR"},
        "links": [{**order, **(link or {})}],
        "balance_due": None,
    }
    return seed_document(**{**payment, **changes})


@pytest.mark.parametrize(
    ("changes", "rule", "text"),
    [
        ({}, "payment-received-balance-due", DEFAULT_SAMPLE_TEXTS["payment-received-balance-due"]),
        (
            {"link": {"balance_due": None}},
            "payment-received-for-order",
            DEFAULT_SAMPLE_TEXTS["payment-received-for-order"],
        ),
        (
            {"links": []},
            "payment-received",
            DEFAULT_SAMPLE_TEXTS["payment-received"],
        ),
        (
            {"link": {"balance_due": {"minor": 0, "amount": "0.00", "currency": "INR"}}},
            "payment-received-balance-due",
            "Payment of ₹20,000 received for order 5643. Balance due: ₹0.",
        ),
    ],
)
def test_a_payment_gets_exactly_one_of_the_default_payment_messages(
    changes: dict[str, Any], rule: str, text: str
) -> None:
    (message,) = RuleSet.load(None).plan(_payment(**changes))
    assert (message.rule, message.state, message.text) == (rule, ONCE, text)


@pytest.mark.parametrize(
    ("currency", "rule", "text"),
    [
        ("INR", "sales-order-shipped", DEFAULT_SAMPLE_TEXTS["sales-order-shipped"]),
        (
            "USD",
            "sales-order-shipped-other-currency",
            "Sales Order 5643 dated 10.06.2024 for an amount of $50,000 has been handed over"
            " to the delivery service.",
        ),
    ],
)
def test_a_shipped_order_gets_the_message_of_its_currency(
    currency: str, rule: str, text: str
) -> None:
    order = seed_document(sum={"minor": 5000000, "amount": "50000.00", "currency": currency})
    (message,) = RuleSet.load(None).plan(order)
    assert (message.rule, message.text) == (rule, text)


def test_a_payment_rule_shows_the_linked_order_and_the_amount_applied_to_it() -> None:
    text = _rule(
        type="PaymentIn",
        state="<absent>",
        template="{link.applied:currency} of {sum:currency} paid {link.relation} {link.type}"
        " {link.number} ({link.sum}); {link.balance_due} due",
    )
    payment = _payment(sum={"minor": 2500000, "amount": "25000.00", "currency": "INR"})
    (message,) = RuleSet.parse(text, source="test").plan(payment)
    assert message.text == "₹20,000 of ₹25,000 paid pays CustomerOrder 5643 (50,000); 30,000 due"


def test_money_in_a_link_is_shown_in_its_own_currency() -> None:
    text = _rule(type="PaymentIn", state="<absent>", template="{link.applied:currency}")
    applied = {"minor": 10000, "amount": "100.00", "currency": "EUR"}
    (message,) = RuleSet.parse(text, source="test").plan(_payment(link={"applied": applied}))
    assert message.text == "€100"


def test_a_rule_without_a_state_matches_its_type_in_any_state_or_none() -> None:
    rules = RuleSet.parse(_rule(state="<absent>"), source="test")
    (rule,) = rules.rules
    assert rule.state is None
    for state in ("Shipped", "New", None):
        (message,) = rules.plan(seed_document(state=state))
        assert (message.rule, message.state) == ("order-shipped", ONCE)
    assert rules.plan(seed_document(type="Demand")) == []


@pytest.mark.parametrize(
    ("rule", "fragments"),
    [
        (
            _rule(name="move-total", type="Move", template="Transfer {number}: {sum}"),
            ["rule 'move-total'", "does not render on a sample Move", "has no sum"],
        ),
        (
            _rule(
                name="job", type="ProductionTask", template="{number} {agent.name}", recipient=STAFF
            ),
            ["rule 'job'", "sample ProductionTask", "has no agent.name"],
        ),
        (
            _rule(name="move", type="Move", template="Transfer {number}"),
            ["rule 'move'", "recipient counterparty phone: a Move has no counterparty"],
        ),
        (
            _rule(name="move", type="Move", template="{number}", recipient="first-contact"),
            ["rule 'move'", "recipient first contact person: a Move has no counterparty"],
        ),
        (
            _rule(name="order-pays", template="Order {link.number}"),
            ["rule 'order-pays'", "sample CustomerOrder", "has no link.number"],
        ),
        (
            _rule(name="payment-state", type="PaymentIn", state="<absent>", template="{state}"),
            ["rule 'payment-state'", "sample PaymentIn", "has no state"],
        ),
        (
            _rule(
                name="part-paid",
                type="PaymentIn",
                state="<absent>",
                when="= { balance_due = { gt = 0 } }",
            ),
            ["rule 'part-paid'", "'when' balance_due: a sample PaymentIn has no such value"],
        ),
        (
            _rule(name="move", type="Move", recipient=STAFF, when="= { sum = { ne = 5 } }"),
            ["rule 'move'", "'when' sum: a sample Move has no such value"],
        ),
    ],
)
def test_a_field_or_recipient_the_rules_type_lacks_is_refused_naming_the_rule(
    rule: str, fragments: list[str]
) -> None:
    with pytest.raises(RulesError) as raised:
        RuleSet.parse(rule, source="rules.toml")
    for fragment in fragments:
        assert fragment in str(raised.value)


def test_a_condition_that_a_field_is_absent_may_name_one_the_type_never_has() -> None:
    text = _rule(when="= { link.number = { exists = false } }")
    (rule,) = RuleSet.parse(text, source="test").rules
    assert [condition.describe() for condition in rule.conditions] == ["link.number is not set"]


def test_a_type_without_a_counterparty_can_text_a_fixed_number() -> None:
    text = _rule(type="Move", template="Transfer {number}", recipient=STAFF)
    (rule,) = RuleSet.parse(text, source="test").rules
    assert rule.render(rule.sample(), ZoneInfo("Asia/Kolkata")) == "Transfer 5643"


def test_an_old_format_file_loads_in_order(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(GOOD)
    rules = RuleSet.load(path)
    assert rules.source == str(path)
    assert [rule.name for rule in rules.rules] == ["order-shipped", "invoice-issued"]
    assert [rule.recipient for rule in rules.rules] == [COUNTERPARTY, COUNTERPARTY]


def test_every_key_of_a_rule_is_read() -> None:
    (rule,) = RuleSet.parse(FULL, source="test").rules
    assert rule.recipient == FixedPhone("+91 98765 00000")
    assert rule.sender == "ACME"
    assert rule.quiet_hours == QuietHours(time(21), time(9), ZoneInfo("Asia/Kolkata"))
    assert [c.describe() for c in rule.conditions] == [
        "sum >= 10000",
        "attributes.Courier is set",
        "agent.tags contains 'vip'",
    ]


def test_plan_renders_every_matching_rule_with_its_settings() -> None:
    (message,) = RuleSet.parse(FULL, source="test").plan(_vip())
    assert message == PlannedMessage(
        rule="big-order",
        state="Shipped",
        phone_text="+91 98765 00000",
        text="Ravi: ₹15,000 on 10 Jun 2024 via BlueDart",
        sender="ACME",
        quiet_hours=QuietHours(time(21), time(9), ZoneInfo("Asia/Kolkata")),
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"sum": {"minor": 999999, "amount": "9999.99", "currency": "INR"}},
        {"attributes": {}},
        {"agent": {"id": "a1", "name": "Ravi", "phone": None, "email": None, "tags": []}},
        {"state": "New"},
    ],
)
def test_plan_skips_a_rule_whose_condition_fails(changes: dict[str, Any]) -> None:
    rules = RuleSet.parse(FULL, source="test")
    assert rules.plan({**_vip(), **changes}) == []


def test_plan_keeps_file_order_and_gives_the_documents_state_and_phone() -> None:
    text = GOOD.replace(
        'type = "InvoiceOut"\nstate = "Issued"', 'type = "CustomerOrder"\nstate = "shipped"'
    )
    messages = RuleSet.parse(text, source="test").plan(seed_document(state=" SHIPPED "))
    assert [(m.rule, m.state, m.phone_text) for m in messages] == [
        ("order-shipped", " SHIPPED ", "+91 98765 43210"),
        ("invoice-issued", " SHIPPED ", "+91 98765 43210"),
    ]
    assert messages[1].text == "Sales Order 5643 of 50,000 INR"


def test_matching_needs_the_type_and_the_state() -> None:
    rules = RuleSet.parse(GOOD, source="test")
    assert [m.rule for m in rules.plan(seed_document())] == ["order-shipped"]
    invoice = seed_document(type="InvoiceOut", state="issued")
    assert [m.rule for m in rules.plan(invoice)] == ["invoice-issued"]
    assert rules.plan(seed_document(state="New")) == []
    assert rules.plan(seed_document(type="Demand")) == []
    assert rules.plan(seed_document(state=None)) == []


def test_a_document_lacking_a_value_names_the_rule_and_the_document() -> None:
    rules = RuleSet.parse(GOOD, source="test")
    with pytest.raises(DocumentIncomplete, match=r"rule 'order-shipped', document 34efe.*number"):
        rules.plan(seed_document(number=None))


def test_a_missing_phone_is_planned_without_one() -> None:
    (message,) = RuleSet.parse(GOOD, source="test").plan(seed_document(agent=None))
    assert message.phone_text is None


def test_the_old_phone_key_names_a_text_field() -> None:
    (rule,) = RuleSet.parse(_rule(phone="organization.name"), source="test").rules
    assert isinstance(rule.recipient, FieldPhone)
    assert rule.recipient.phone_text(seed_document()) == "Acme Traders"


def test_dates_are_shown_in_the_rule_sets_zone() -> None:
    text = _rule(template="{date}")
    late = seed_document(moment="2024-06-10T22:30:00+03:00")
    assert RuleSet.parse(text, source="t").plan(late)[0].text == "11.06.2024"
    moscow = RuleSet.parse(text, source="t", timezone=ZoneInfo("Europe/Moscow"))
    assert moscow.plan(late)[0].text == "10.06.2024"


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ('[[rule]\nname = "x"', ["TOML syntax error"]),
        (
            _rule(type="SalesOrder"),
            ["'order-shipped'", "unknown type 'SalesOrder'", "CustomerOrder"],
        ),
        (_rule(template="<absent>"), ["'order-shipped'", "missing key 'template'"]),
        (_rule(name="<absent>"), ["rule #1", "missing key 'name'"]),
        (_rule(template="Order {numbr}"), ["'order-shipped'", "unknown field {numbr}"]),
        (_rule(template="Order {}"), ["'order-shipped'", "unknown field {}"]),
        (_rule(template="Order {number"), ["'order-shipped'", "template is not valid"]),
        (_rule(template="Order {number.nope}"), ["'order-shipped'", "unknown field {number.nope}"]),
        (_rule(template="Order {amount:d}"), ["'order-shipped'", "format 'd' does not apply"]),
        (
            _rule(template="Order {moment:qqqqqq}"),
            ["'order-shipped'", "does not render on a sample"],
        ),
        (_rule(phone="agent.mobile"), ["'order-shipped'", "phone path 'agent.mobile'"]),
        (_rule(phone="agent"), ["'order-shipped'", "phone path 'agent'"]),
        (_rule(phone="sum.minor"), ["'order-shipped'", "phone path 'sum.minor'"]),
        (_rule(templte="x"), ["'order-shipped'", "unknown key(s) templte"]),
        (_rule(state=""), ["'order-shipped'", "'state' must be a non-empty string"]),
        (_rule() + "priority = 1\n", ["'order-shipped'", "unknown key(s) priority"]),
        (
            "[[rule]]\nname = 'n'\ntype = 'CustomerOrder'\nstate = 1\ntemplate = 't'\n",
            ["'n'", "'state'"],
        ),
        (_rule() + _rule(), ["'order-shipped'", "used twice"]),
        ("", ["no [[rule]] tables"]),
        ("rule = 5", ["no [[rule]] tables"]),
        ("rule = [5]", ["rule #1", "is not a table"]),
        ('title = "rules"\n' + _rule(), ["unknown top-level key(s) title"]),
        (_rule(when="= 5"), ["'order-shipped'", "'when' must be a table"]),
        (_rule(when="= { summ = 1 }"), ["'order-shipped'", "unknown field 'summ'"]),
        (_rule(when="= { sum = { gte = 'x' } }"), ["'order-shipped'", "gte takes a number"]),
        (_rule(recipient="customer"), ["'order-shipped'", "recipient 'customer'"]),
        (_rule(recipient="= { phone = '12' }"), ["'order-shipped'", "not a valid mobile"]),
        (
            _rule(recipient="counterparty", phone="agent.phone"),
            ["'order-shipped'", "not both"],
        ),
        (_rule(sender=""), ["'order-shipped'", "'sender' must be a non-empty string"]),
        (_rule(sender="= 5"), ["'order-shipped'", "'sender' must be a non-empty string"]),
        (_rule(locale="xx_YY"), ["'order-shipped'", "locale 'xx_YY'"]),
        (_rule(locale="en-IN"), ["'order-shipped'", "locale 'en-IN'"]),
        (_rule(quiet_hours="night"), ["'order-shipped'", "quiet_hours 'night'"]),
        (_rule(quiet_hours="= 21:00:00"), ["'order-shipped'", "quiet_hours"]),
        (_rule(quiet_hours="21:00-09:00 Nowhere"), ["'order-shipped'", "zone 'Nowhere'"]),
        (
            _rule(template="Order {moment:dd.MM.yyyy 'at}"),
            ["'order-shipped'", 'date format "dd.MM.yyyy \'at"', "unterminated quote"],
        ),
        (
            _rule(template="Order {number} on {moment:' '}"),
            ["'order-shipped'", "{moment:' '} render as nothing"],
        ),
        (
            _rule(template="x" * 1531),
            ["'order-shipped'", "11 SMS segments", "1531 GSM-7 characters", "at most 10"],
        ),
        (
            _rule(template="आ" * 671),
            ["'order-shipped'", "11 SMS segments", "671 UCS-2 characters"],
        ),
    ],
)
def test_a_bad_rules_file_is_refused_naming_the_rule_and_problem(
    tmp_path: Path, text: str, fragments: list[str]
) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(RulesError) as raised:
        RuleSet.load(path)
    message = str(raised.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize("template", ["x" * 1530, "आ" * 670])
def test_a_template_of_ten_segments_is_still_allowed(tmp_path: Path, template: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(_rule(template=template))
    assert [rule.name for rule in RuleSet.load(path).rules] == ["order-shipped"]


def test_a_missing_rules_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot be read"):
        RuleSet.load(tmp_path / "absent.toml")


def test_a_rules_error_stops_start_up_like_a_settings_error() -> None:
    assert issubclass(RulesError, SettingsError)


@pytest.mark.parametrize("type_name", TRANSACTION_TYPES.names)
def test_the_sample_of_every_type_follows_the_schema(type_name: str) -> None:
    document = sample_document(type_name, "Any state", {"attributes.Courier": "x"})
    assert document["type"] == type_name
    event = new_event(
        ENRICHED_DOCUMENT,
        source="/test",
        document_id=document["id"],
        data={"raw_event_id": "raw-1", "document": document, "kladana": {}},
    )
    validate_event(event)
    assert SAMPLE_DOCUMENT["type"] == "CustomerOrder"


def test_the_toml_examples_of_the_docs_load() -> None:
    docs = (ROOT / "docs" / "rules.md").read_text() + (ROOT / "README.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", docs, re.DOTALL)
    assert len(blocks) >= 3
    for block in blocks:
        rule = "" if "[[rule]]" in block else _rule(template="{number}")
        assert RuleSet.parse(rule + block, source="docs").rules


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 3000 + "]" * 3000,
        '[[rule]]\nname = "x"\nwhen = ' + "{a = " * 3000 + "1" + "}" * 3000,
    ],
)
def test_toml_nested_too_deeply_is_a_rules_error(text: str) -> None:
    # Found by tests/unit/test_properties_notifier.py: tomllib raised RecursionError.
    with pytest.raises(
        RulesError, match=r"rules file deep\.toml: arrays or tables nested too deeply"
    ):
        RuleSet.parse(text, source="deep.toml")
