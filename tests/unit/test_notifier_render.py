from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from notifier.errors import DocumentIncomplete
from notifier.render import (
    PLACEHOLDERS,
    format_amount,
    format_date,
    placeholders,
    render,
    template_values,
)
from notifier.rules import load_rules
from shared.errors import MalformedEvent
from tests.helpers import seed_document

KOLKATA = ZoneInfo("Asia/Kolkata")


def _money(minor: int) -> dict[str, Any]:
    return {"minor": minor, "amount": f"{Decimal(minor).scaleb(-2):.2f}", "currency": "INR"}


def test_the_default_rule_renders_the_seed_sentence_exactly() -> None:
    (rule,) = load_rules(None).rules
    text = render(rule.template, template_values(seed_document(), KOLKATA))
    assert text == (
        "Sales Order 5643 dated 10.06.2024 for an amount of 50,000 rupees"
        " has been handed over to the delivery service."
    )


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
def test_amount_in_rupees_with_indian_grouping(minor: int, expected: str) -> None:
    values = template_values(seed_document(sum=_money(minor)), KOLKATA)
    assert values["amount"] == expected


def test_format_amount_shows_two_decimals_only_when_there_are_paise() -> None:
    assert format_amount(Decimal("1234.5")) == "1,234.50"
    assert format_amount(Decimal("1234.00")) == "1,234"


def test_late_evening_in_moscow_is_the_next_day_in_kolkata() -> None:
    values = template_values(seed_document(moment="2024-06-10T22:30:00+03:00"), KOLKATA)
    assert values["date"] == "11.06.2024"


def test_the_date_follows_the_configured_zone() -> None:
    assert format_date("2024-06-10T22:30:00+03:00", ZoneInfo("Europe/Moscow")) == "10.06.2024"


@pytest.mark.parametrize("moment", ["2024-06-10T12:57:00", "10.06.2024"])
def test_a_moment_without_offset_or_not_iso_is_malformed(moment: str) -> None:
    with pytest.raises(MalformedEvent, match="moment"):
        format_date(moment, KOLKATA)


def test_every_placeholder_has_a_value_from_theseed_document() -> None:
    values = template_values(seed_document(), KOLKATA)
    assert set(values) == set(PLACEHOLDERS)
    assert values == {
        "number": "5643",
        "date": "10.06.2024",
        "amount": "50,000",
        "currency": "INR",
        "state": "Shipped",
        "type": "CustomerOrder",
        "title": "Sales Order",
        "customer": "Ravi Kumar",
        "organization": "Acme Traders",
        "document_id": "34efe2ee-015e-11e6-9464-e4de0000006b",
    }


def test_values_the_document_lacks_are_none() -> None:
    values = template_values(
        seed_document(number=None, moment=None, sum=None, agent=None, organization=None), KOLKATA
    )
    for name in ("number", "date", "amount", "currency", "customer", "organization"):
        assert values[name] is None


def test_rendering_a_template_that_needs_a_missing_value_names_it() -> None:
    values = template_values(seed_document(number=None, sum=None), KOLKATA)
    with pytest.raises(DocumentIncomplete, match="amount, number"):
        render("{title} {number}: {amount}", values)


def test_a_template_that_does_not_use_the_missing_value_renders() -> None:
    values = template_values(seed_document(number=None), KOLKATA)
    assert render("Dear {customer}, {{thanks}}", values) == "Dear Ravi Kumar, {thanks}"


def test_placeholders_are_the_base_names_of_the_fields() -> None:
    assert placeholders("{number} {customer.upper} {amount:>10} {{literal}}") == {
        "number",
        "customer",
        "amount",
    }
