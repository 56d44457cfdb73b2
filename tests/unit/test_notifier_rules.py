from pathlib import Path
from typing import Any

import pytest

from notifier.errors import RulesError
from notifier.rules import SAMPLE_DOCUMENT, Rule, load_rules, parse_rules
from shared.contracts import validate_event
from shared.errors import SettingsError
from shared.events import ENRICHED_DOCUMENT, new_event

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


def _rule(**fields: str) -> str:
    base = {
        "name": "order-shipped",
        "type": "CustomerOrder",
        "state": "Shipped",
        "template": "Order {number} shipped",
    }
    base.update(fields)
    lines = [f'{key} = "{value}"' for key, value in base.items() if value != "<absent>"]
    return "[[rule]]\n" + "\n".join(lines) + "\n"


def test_the_bundled_default_rules_load() -> None:
    rules = load_rules(None)
    assert rules.source == "default_rules.toml"
    assert [rule.name for rule in rules.rules] == ["sales-order-shipped"]
    (rule,) = rules.rules
    assert (rule.type, rule.state, rule.phone_path) == (
        "CustomerOrder",
        "Shipped",
        ("agent", "phone"),
    )


def test_a_rules_file_loads_in_order_with_the_default_phone_path(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(GOOD)
    rules = load_rules(path)
    assert rules.source == str(path)
    assert rules.rules == (
        Rule(
            "order-shipped",
            "CustomerOrder",
            "Shipped",
            "Order {number} shipped",
            ("agent", "phone"),
        ),
        Rule(
            "invoice-issued",
            "InvoiceOut",
            "Issued",
            "{title} {number} of {amount} {currency}",
            ("agent", "phone"),
        ),
    )


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
        (_rule(template="Order {numbr}"), ["'order-shipped'", "unknown placeholder {numbr}"]),
        (_rule(template="Order {}"), ["'order-shipped'", "unknown placeholder {}"]),
        (_rule(template="Order {number"), ["'order-shipped'", "not a valid format string"]),
        (_rule(template="Order {number.nope}"), ["'order-shipped'", "cannot be rendered"]),
        (_rule(template="Order {amount:d}"), ["'order-shipped'", "cannot be rendered"]),
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
        ('title = "rules"\n' + _rule(), ["unknown top-level key(s) title"]),
    ],
)
def test_a_bad_rules_file_is_refused_naming_the_rule_and_problem(
    tmp_path: Path, text: str, fragments: list[str]
) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(RulesError) as raised:
        load_rules(path)
    message = str(raised.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message


def test_a_missing_rules_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot be read"):
        load_rules(tmp_path / "absent.toml")


def test_a_rules_error_stops_start_up_like_a_settings_error() -> None:
    assert issubclass(RulesError, SettingsError)


def _document(**changes: Any) -> dict[str, Any]:
    return {**SAMPLE_DOCUMENT, **changes}


def test_matching_needs_the_type_and_the_state() -> None:
    rules = parse_rules(GOOD, source="test")
    assert [r.name for r in rules.matching(_document())] == ["order-shipped"]
    assert [r.name for r in rules.matching(_document(type="InvoiceOut", state="Issued"))] == [
        "invoice-issued"
    ]
    assert rules.matching(_document(state="New")) == []
    assert rules.matching(_document(type="Demand")) == []
    assert rules.matching(_document(state=None)) == []


def test_state_names_match_ignoring_case_and_surrounding_spaces() -> None:
    rules = parse_rules(GOOD, source="test")
    assert len(rules.matching(_document(state=" shipped "))) == 1


def test_phone_text_follows_the_path_and_tolerates_a_missing_agent() -> None:
    (rule, _) = parse_rules(GOOD, source="test").rules
    assert rule.phone_text(_document()) == "+91 98765 43210"
    assert rule.phone_text(_document(agent=None)) is None
    assert rule.phone_text(_document(agent={**SAMPLE_DOCUMENT["agent"], "phone": None})) is None


def test_another_text_field_can_hold_the_phone() -> None:
    rules = parse_rules(_rule(phone="organization.name"), source="test")
    assert rules.rules[0].phone_text(_document()) == "Acme Traders"


def test_the_sample_document_rules_are_checked_against_follows_the_schema() -> None:
    event = new_event(
        ENRICHED_DOCUMENT,
        source="/test",
        document_id=SAMPLE_DOCUMENT["id"],
        data={"raw_event_id": "raw-1", "document": SAMPLE_DOCUMENT, "kladana": {}},
    )
    validate_event(event)
