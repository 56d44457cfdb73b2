"""Rules registered as DLT content templates, with a segment limit and texts per language:
checked at start-up, and a message that a document's values make too long refused."""

from typing import Any

import pytest

from notifier.errors import RulesError
from notifier.rules import RuleSet
from notifier.segments import sms_length
from tests.helpers import SEED_SMS, seed_document

HINDI = "बिक्री ऑर्डर {number} दिनांक {date}, राशि {amount} रुपये, डिलीवरी सेवा को सौंप दिया गया है।"
HINDI_DLT = "बिक्री ऑर्डर {#var#} दिनांक {#var#}, राशि {#var#} रुपये, डिलीवरी सेवा को सौंप दिया गया है।"
HINDI_TEXT = "बिक्री ऑर्डर 5643 दिनांक 10.06.2024, राशि 50,000 रुपये, डिलीवरी सेवा को सौंप दिया गया है।"
SHIPPED = """
[[rule]]
name = "shipped"
type = "CustomerOrder"
state = "Shipped"
template = "Sales Order {number} dated {date} for an amount of {amount} rupees has been handed over to the delivery service."
dlt_template_id = "1107161234567890123"
dlt_template = "Sales Order {#var#} dated {#var#} for an amount of {#var#} rupees has been handed over to the delivery service."
"""  # noqa: E501
WITH_HINDI = (
    SHIPPED
    + f"""
[rule.templates]
ta = "ஆர்டர் {{number}} அனுப்பப்பட்டது."

[rule.templates.hi]
template = "{HINDI}"
dlt_template_id = "1107161234567890124"
dlt_template = "{HINDI_DLT}"
"""
)


def _in(language: object, **changes: Any) -> dict[str, Any]:
    """The seed order, its counterparty's Language attribute ``language``."""
    agent = {**seed_document()["agent"], "attributes": {"Language": language}}
    return seed_document(agent=agent, **changes)


def _error(text: str) -> str:
    with pytest.raises(RulesError) as raised:
        RuleSet.parse(text, source="t.toml")
    return str(raised.value)


def test_a_registered_rule_sends_its_text_with_its_dlt_template_id() -> None:
    (message,) = RuleSet.parse(SHIPPED, source="t.toml").plan(seed_document())
    assert (message.text, message.dlt_template_id, message.refusal) == (
        SEED_SMS,
        "1107161234567890123",
        None,
    )


def test_a_text_drifting_from_its_dlt_template_stops_the_load_at_the_first_difference() -> None:
    drifted = SHIPPED.replace("} dated {date}", "} on {date}")
    assert _error(drifted) == (
        "rules file t.toml: rule 'shipped': template: text drifts from DLT template"
        " 1107161234567890123: at character 22 of the rule's text the template has"
        ' "dated", the rule has "on"'
    )


def test_a_placeholder_where_the_dlt_template_has_fixed_text_stops_the_load() -> None:
    fixed = SHIPPED.replace("for an amount of {#var#} rupees", "for an amount of 50,000 rupees")
    assert _error(fixed).endswith(
        'the template has fixed text "50,000", the rule has the placeholder {amount}'
    )


@pytest.mark.parametrize("key", ["dlt_template_id", "dlt_template"])
def test_the_dlt_keys_go_together(key: str) -> None:
    alone = "\n".join(line for line in SHIPPED.splitlines() if not line.startswith(f"{key} "))
    assert "both or neither" in _error(alone)


def test_max_segments_refuses_a_rule_whose_sample_is_longer() -> None:
    hindi_in_one = WITH_HINDI.replace('state = "Shipped"', 'state = "Shipped"\nmax_segments = 1')
    assert _error(hindi_in_one) == (
        "rules file t.toml: rule 'shipped': on a sample CustomerOrder, templates.hi is 2 SMS"
        " segments long (89 UCS-2 characters); the rule allows at most 1"
    )


@pytest.mark.parametrize("value", ["0", "11", "true", '"2"'])
def test_max_segments_is_a_whole_number_up_to_the_cap(value: str) -> None:
    assert "'max_segments'" in _error(
        SHIPPED.replace('state = "Shipped"', f'state = "Shipped"\nmax_segments = {value}')
    )


def test_a_message_over_max_segments_is_refused_when_planned() -> None:
    unregistered = "\n".join(line for line in SHIPPED.splitlines() if "dlt_" not in line)
    rules = RuleSet.parse(
        unregistered.replace('state = "Shipped"', 'state = "Shipped"\nmax_segments = 1'),
        source="t.toml",
    )
    (fits,) = rules.plan(seed_document(number="5643" + "9" * 50))
    (message,) = rules.plan(seed_document(number="5643" + "9" * 51))
    assert (len(fits.text), fits.refusal) == (160, None)
    assert message.refusal == (
        "template is 2 SMS segments long (161 GSM-7 characters); the rule allows at most 1"
    )


def test_a_dlt_variable_over_30_characters_is_refused_when_planned() -> None:
    rules = RuleSet.parse(SHIPPED, source="t.toml")
    (fits,) = rules.plan(seed_document(number="N" * 30))
    (message,) = rules.plan(seed_document(number="N" * 31))
    assert fits.refusal is None
    assert message.refusal == (
        "variable 1 of DLT template 1107161234567890123 would be 31 characters long;"
        " TRAI allows at most 30"
    )


@pytest.mark.parametrize("said", ["hi", "hi_IN", "Hindi", "HINDI", "हिन्दी"])
def test_a_counterparty_whose_language_is_hindi_gets_the_hindi_text(said: str) -> None:
    (message,) = RuleSet.parse(WITH_HINDI, source="t.toml").plan(_in(said))
    assert (message.text, message.dlt_template_id) == (HINDI_TEXT, "1107161234567890124")


@pytest.mark.parametrize("said", [None, "", "English", "Klingon", "fr"])
def test_no_or_an_unknown_language_gets_the_default_text(said: object) -> None:
    (message,) = RuleSet.parse(WITH_HINDI, source="t.toml").plan(_in(said))
    assert (message.text, message.dlt_template_id) == (SEED_SMS, "1107161234567890123")


def test_a_language_in_string_form_has_no_dlt_registration_of_its_own() -> None:
    (message,) = RuleSet.parse(WITH_HINDI, source="t.toml").plan(_in("Tamil"))
    assert (message.text, message.dlt_template_id) == ("ஆர்டர் 5643 அனுப்பப்பட்டது.", None)


def test_the_language_attribute_is_the_one_named_by_the_setting() -> None:
    agent = {**seed_document()["agent"], "attributes": {"Bhasha": "Hindi", "Language": "en"}}
    rules = RuleSet.parse(WITH_HINDI, source="t.toml", language_attribute="Bhasha")
    (message,) = rules.plan(seed_document(agent=agent))
    assert message.text == HINDI_TEXT


def test_the_hindi_text_is_ucs2_and_checked_against_its_own_dlt_template() -> None:
    length = sms_length(HINDI_TEXT)
    assert (length.encoding, length.segments) == ("UCS-2", 2)
    drifted = WITH_HINDI.replace(f'template = "{HINDI}"', 'template = "ऑर्डर {number}"')
    assert _error(drifted) == (
        "rules file t.toml: rule 'shipped': templates.hi: text drifts from DLT template"
        " 1107161234567890124: at character 1 of the rule's text the template has"
        ' "बिक्री", the rule has "ऑर्डर"'
    )


@pytest.mark.parametrize(
    ("templates", "fragment"),
    [
        ('[rule.templates]\nxx = "Hi"', "'xx' is not a language code"),
        ('[rule.templates]\nhi = "{numbr}"', "unknown field {numbr}"),
        ('[rule.templates.hi]\ndlt_template_id = "1"', "templates.hi: a text, or a table"),
        ('[rule.templates.hi]\ntemplate = "x"\nsender = "A"', "templates.hi: a text, or a table"),
        ('[rule.templates]\nhi = "{moment:qqqqqq}"', "templates.hi does not render"),
    ],
)
def test_each_language_is_checked_as_the_default_text(templates: str, fragment: str) -> None:
    assert fragment in _error(SHIPPED + templates)


def test_a_type_without_counterparty_has_no_language_to_choose_by() -> None:
    move = '[[rule]]\nname = "m"\ntype = "Move"\ntemplate = "Move {number}"\n'
    assert "no counterparty" in _error(
        move + 'recipient = { phone = "+91 98765 00000" }\n[rule.templates]\nhi = "{number}"'
    )
