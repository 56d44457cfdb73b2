from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from notifier.errors import DocumentIncomplete, RuleProblem
from notifier.fields import ALIASES
from notifier.render import format_date, format_money, parse_template
from notifier.rules import RuleSet
from shared.errors import MalformedEvent
from tests.helpers import SEED_SMS, seed_document

KOLKATA = ZoneInfo("Asia/Kolkata")


def _render(template: str, locale: str = "en_IN", **changes: Any) -> str:
    return parse_template(template).render(seed_document(**changes), locale=locale, zone=KOLKATA)


def _money(minor: int, currency: str | None = "INR") -> dict[str, Any]:
    return {"minor": minor, "amount": f"{Decimal(minor).scaleb(-2):.2f}", "currency": currency}


def test_the_default_rule_renders_the_seed_sentence_exactly() -> None:
    (message,) = RuleSet.load(None).plan(seed_document())
    assert message.text == SEED_SMS


@pytest.mark.parametrize(
    ("minor", "expected"),
    [
        (5000000, "50,000"),
        (15000000, "1,50,000"),
        (123450, "1,234.50"),
        (123400, "1,234"),
        (5, "0.05"),
        (1234567899, "1,23,45,678.99"),
        (-123450, "-1,234.50"),
    ],
)
def test_money_in_rupees_with_indian_grouping(minor: int, expected: str) -> None:
    assert _render("{sum}", sum=_money(minor)) == expected
    assert _render("{amount}", sum=_money(minor)) == expected


@pytest.mark.parametrize(
    ("locale", "minor", "expected"),
    [
        ("en_US", 15000000, "150,000"),
        ("de_DE", 15000050, "150.000,50"),
        ("fr_FR", 15000000, "150\u202f000"),
    ],
)
def test_money_follows_the_rules_locale(locale: str, minor: int, expected: str) -> None:
    assert _render("{sum}", locale=locale, sum=_money(minor)) == expected


def test_the_currency_format_shows_the_sign_and_drops_zero_paise() -> None:
    assert _render("{sum:currency}", sum=_money(15000000)) == "₹1,50,000"
    assert _render("{sum:currency}", sum=_money(15000050)) == "₹1,50,000.50"
    assert _render("{sum:currency}", locale="de_DE", sum=_money(15000050)) == "150.000,50\xa0₹"
    assert _render("{sum:currency}", sum=_money(100, "USD")) == "$1"


def test_a_currency_format_without_a_currency_is_a_missing_value() -> None:
    with pytest.raises(DocumentIncomplete, match="sum"):
        _render("{sum:currency}", sum=_money(100, None))


def test_a_sum_beyond_the_default_decimal_precision_still_renders() -> None:
    thirty_digits = Decimal("123456789012345678901234567890.25")
    assert format_money(thirty_digits, "en_US") == "123,456,789,012,345,678,901,234,567,890.25"


@pytest.mark.parametrize("junk", [Decimal("1E+60"), Decimal("NaN"), Decimal("-Infinity")])
def test_a_sum_that_is_no_amount_of_money_is_refused_clearly(junk: Decimal) -> None:
    with pytest.raises(DocumentIncomplete, match="cannot be an amount of money"):
        format_money(junk, "en_IN")


def test_format_money_directly() -> None:
    assert format_money(Decimal("1234.5"), "en_IN") == "1,234.50"
    assert format_money(Decimal("1234.00"), "en_IN") == "1,234"


def test_dates_default_to_day_month_year_in_the_zone() -> None:
    assert _render("{moment}") == "10.06.2024"
    assert _render("{date}") == "10.06.2024"


def test_late_evening_in_moscow_is_the_next_day_in_kolkata() -> None:
    assert _render("{date}", moment="2024-06-10T22:30:00+03:00") == "11.06.2024"
    moscow = format_date("2024-06-10T22:30:00+03:00", ZoneInfo("Europe/Moscow"), "en_IN")
    assert moscow == "10.06.2024"


@pytest.mark.parametrize(
    ("template", "locale", "expected"),
    [
        ("{moment:d MMM y}", "en_IN", "10 Jun 2024"),
        ("{moment:d MMMM y}", "de_DE", "10 Juni 2024"),
        ("{moment:dd/MM/yy HH:mm}", "en_IN", "10/06/24 15:27"),
        ("{moment:long}", "en_US", "June 10, 2024"),
    ],
)
def test_a_date_format_is_a_babel_pattern_in_the_rules_locale(
    template: str, locale: str, expected: str
) -> None:
    assert _render(template, locale=locale) == expected


@pytest.mark.parametrize("moment", ["2024-06-10T12:57:00", "10.06.2024"])
def test_a_moment_without_offset_or_not_iso_is_malformed(moment: str) -> None:
    with pytest.raises(MalformedEvent, match="moment"):
        _render("{moment}", moment=moment)


def test_every_old_placeholder_still_works() -> None:
    text = _render(
        "{number}|{date}|{amount}|{currency}|{state}|{type}|{title}|{customer}|"
        "{organization}|{document_id}"
    )
    assert text.split("|") == [
        "5643",
        "10.06.2024",
        "50,000",
        "INR",
        "Shipped",
        "CustomerOrder",
        "Sales Order",
        "Ravi Kumar",
        "Acme Traders",
        "34efe2ee-015e-11e6-9464-e4de0000006b",
    ]
    assert set(ALIASES) <= {"date", "amount", "currency", "customer", "organization", "document_id"}


def test_dotted_paths_reach_every_field() -> None:
    document = {
        "agent": {
            "id": "a1",
            "name": "Ravi",
            "phone": "+91 98765 43210",
            "email": "r@k.in",
            "tags": ["vip", "retail"],
            "attributes": {"Mobile": "+91 90000 00000"},
        },
        "attributes": {"Courier": "BlueDart", "Advance": 150000, "Paid": True},
    }
    text = _render(
        "{entity} {sum.amount} {sum.minor} {agent.email} {agent.tags} {attributes.Courier}"
        " {attributes.courier} {attributes.Advance:money} {attributes.Paid}"
        " {agent.attributes.Mobile}",
        **document,
    )
    assert text == (
        "customerorder 50,000 5000000 r@k.in vip, retail BlueDart BlueDart 1,50,000 yes"
        " +91 90000 00000"
    )


def test_link_fields_read_the_first_link_and_money_keeps_its_own_currency() -> None:
    links = [
        {
            "relation": "pays",
            "type": "CustomerOrder",
            "id": "o1",
            "number": "5643",
            "sum": _money(5000000),
            "applied": _money(2000000, "EUR"),
            "balance_due": _money(3000000),
        },
        {"relation": "pays", "type": "CustomerOrder", "id": "o2", "number": "5644"},
    ]
    text = _render(
        "{link.relation} {link.type} {link.id} {link.number} {link.sum:currency}"
        " {link.applied:currency} {link.balance_due} {balance_due:currency}",
        links=links,
        balance_due=_money(4000000),
    )
    assert text == "pays CustomerOrder o1 5643 ₹50,000 €20,000 30,000 ₹40,000"
    with pytest.raises(DocumentIncomplete, match=r"balance_due, link\.number"):
        _render("{link.number} {balance_due}", links=[], balance_due=None)


def test_attributes_in_kladanas_list_form_and_references_render() -> None:
    attributes = [
        {"name": "Courier", "value": {"name": "BlueDart", "meta": {}}},
        {"name": "Weight", "value": 2.5},
    ]
    assert _render("{attributes.Courier} {attributes.Weight}", attributes=attributes) == (
        "BlueDart 2.5"
    )


def test_one_field_can_be_shown_in_several_formats() -> None:
    assert _render("{moment} = {moment:long} = {date}") == "10.06.2024 = 10 June 2024 = 10.06.2024"
    template = parse_template("{attributes.Advance} = {attributes.Advance:money} {attributes.X}")
    assert template.sample_attributes() == {
        "attributes.Advance": "1500",
        "attributes.X": "<attributes.X>",
    }


def test_literal_braces_and_text_around_placeholders() -> None:
    assert _render("Dear {customer}, {{thanks}}") == "Dear Ravi Kumar, {thanks}"


def test_rendering_a_template_that_needs_missing_values_names_them() -> None:
    with pytest.raises(DocumentIncomplete, match="amount, number"):
        _render("{title} {number}: {amount}", number=None, sum=None)
    with pytest.raises(DocumentIncomplete, match=r"attributes\.Courier"):
        _render("{attributes.Courier}")
    with pytest.raises(DocumentIncomplete, match=r"attributes\.Note"):
        _render("{attributes.Note:money}", attributes={"Note": "soon"})


def test_a_template_that_does_not_use_the_missing_value_renders() -> None:
    assert _render("Dear {customer}", number=None) == "Dear Ravi Kumar"


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("Order {numbr}", "unknown field {numbr}"),
        ("Order {}", "unknown field {}"),
        ("Order {0}", "unknown field {0}"),
        ("Order {agent}", "unknown field {agent}"),
        ("Order {attributes.}", "unknown field {attributes.}"),
        ("Order {number", "template is not valid"),
        ("Order {number!r}", "'!' is not supported"),
        ("Order {number:>10}", "format '>10' does not apply to {number}"),
        ("Order {sum:money}", "use {sum}, {sum:currency}"),
        ("Order {attributes.X:currency}", "does not apply"),
    ],
)
def test_a_bad_template_is_a_rule_problem(template: str, fragment: str) -> None:
    with pytest.raises(RuleProblem) as raised:
        parse_template(template)
    assert fragment in str(raised.value)


def test_a_date_the_zone_moves_beyond_year_9999_is_incomplete() -> None:
    # Found by tests/unit/test_properties_notifier.py: it raised OverflowError.
    with pytest.raises(DocumentIncomplete, match="cannot be shown in Asia/Kolkata"):
        format_date("9999-12-31T23:00:00+00:00", KOLKATA, "en_IN")
    with pytest.raises(DocumentIncomplete, match="cannot be shown"):
        _render("{date}", moment="9999-12-31T23:00:00+00:00")
