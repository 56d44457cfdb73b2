"""The runner's own reading of its rules: the SMS a document must cause, written out by
hand, held to bench/scenario/rules.toml and to hand-written examples."""

import tomllib
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from bench.scenario.documents import PlannedDocument
from bench.scenario.expectations import RULES, day, expected_sms, rule_states, rupees
from bench.scenario.stack import RULES_PATH
from shared.kladana_types import TRANSACTION_TYPES

ORDER = PlannedDocument(
    id="7d6f1a52-0000-4000-8000-000000000001",
    type="CustomerOrder",
    number="00042",
    moment=datetime(2024, 6, 10, 21, 45),  # 00:15 on the 11th in Kolkata
    sum_paise=45_678_50,
    state="Shipped",
    phone="098765-43210",
    mobile="+919876543210",
    opt_out=None,
    opted_out=False,
)


@pytest.mark.parametrize(
    ("paise", "shown"),
    [
        (100, "1"),
        (5, "0.05"),
        (99_999, "999.99"),
        (123_450, "1,234.50"),
        (50_000_00, "50,000"),
        (1_50_000_00, "1,50,000"),
        (100_000_01, "1,00,000.01"),
        (12_34_56_789_00, "12,34,56,789"),
    ],
)
def test_rupees_are_grouped_as_en_in_writes_them(paise: int, shown: str) -> None:
    assert rupees(paise) == shown


@pytest.mark.parametrize(
    ("moscow", "kolkata"),
    [
        (datetime(2024, 6, 10, 12, 57), "10.06.2024"),
        (datetime(2024, 6, 10, 21, 29), "10.06.2024"),
        (datetime(2024, 6, 10, 21, 30), "11.06.2024"),
        (datetime(2024, 12, 31, 23, 0), "01.01.2025"),
    ],
)
def test_the_date_is_the_day_in_kolkata_of_kladanas_moscow_time(
    moscow: datetime, kolkata: str
) -> None:
    assert day(moscow) == kolkata


def _toml_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = tomllib.loads(RULES_PATH.read_text())["rule"]
    return rules


def test_the_runners_rules_are_the_rules_file_by_name_type_state_and_condition() -> None:
    toml = {rule["name"]: rule for rule in _toml_rules()}
    assert [rule.name for rule in RULES] == list(toml)
    for rule in RULES:
        written = toml[rule.name]
        assert (rule.type, rule.state) == (written["type"], written["state"])
        when = written.get("when")
        expected_minimum = None if when is None else when["sum"]["gte"] * 100
        assert rule.min_sum_paise == expected_minimum
        assert set(written) <= {"name", "type", "state", "template", "when"}


def test_each_rules_text_is_its_template_filled_with_the_documents_values() -> None:
    """Filled by str.format with values written here, not by the notifier's renderer."""
    for written in _toml_rules():
        rule = next(r for r in RULES if r.name == written["name"])
        document = replace(ORDER, type=written["type"], state="SHIPPED")
        kind = TRANSACTION_TYPES.by_name(document.type)
        assert kind is not None
        filled = written["template"].format(
            number="00042", date="11.06.2024", amount="45,678.50", title=kind.title, state="SHIPPED"
        )
        assert rule.text(document) == filled, rule.name


def test_a_shipped_order_causes_one_sms_and_a_big_one_two_in_file_order() -> None:
    shipped = expected_sms(ORDER)
    assert [(s.rule, s.to, s.document_id) for s in shipped] == [
        ("sales-order-shipped", "+919876543210", ORDER.id)
    ]
    assert shipped[0].text == (
        "Sales Order 00042 dated 11.06.2024 for an amount of 45,678.50 rupees"
        " has been handed over to the delivery service."
    )
    big = expected_sms(replace(ORDER, sum_paise=100_000_00))
    assert [s.rule for s in big] == ["sales-order-shipped", "sales-order-big"]
    assert big[1].text == "Thank you for your large order 00042 of 1,00,000 rupees."
    assert [s.rule for s in expected_sms(replace(ORDER, sum_paise=99_999_99))] == [
        "sales-order-shipped"
    ]


def test_states_match_ignoring_case_and_the_text_shows_the_state_as_written() -> None:
    supply = replace(ORDER, type="Supply", state="shipped")
    assert [s.text for s in expected_sms(supply)] == ["Receiving 00042 is now shipped."]
    assert expected_sms(replace(ORDER, state="Cancelled")) == ()
    assert [s.rule for s in expected_sms(replace(ORDER, state="new"))] == ["sales-order-new"]


def test_no_sms_without_a_mobile_number_for_an_opted_out_counterparty_or_a_type_without_rules() -> (
    None
):
    assert expected_sms(replace(ORDER, phone="080 2345 6789", mobile=None)) == ()
    assert expected_sms(replace(ORDER, opt_out="Yes", opted_out=True)) == ()
    assert len(expected_sms(replace(ORDER, opt_out="no", opted_out=False))) == 1
    assert expected_sms(replace(ORDER, type="Move")) == ()


def test_rule_states_name_each_state_of_a_type_once() -> None:
    assert rule_states("CustomerOrder") == ("Shipped", "New")
    assert rule_states("Move") == ()
