import re
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from notifier.errors import DocumentIncomplete, RulesError
from notifier.quiet_hours import QuietHours
from notifier.recipients import COUNTERPARTY, FieldPhone, FixedPhone
from notifier.rules import PlannedMessage, RuleSet
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
    (rule,) = rules.rules
    assert (rule.name, rule.type, rule.state, rule.recipient, rule.locale) == (
        "sales-order-shipped",
        "CustomerOrder",
        "Shipped",
        COUNTERPARTY,
        "en_IN",
    )
    assert (rule.sender, rule.quiet_hours, rule.conditions) == (None, None, ())


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
