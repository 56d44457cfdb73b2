"""DLT content templates against rules' templates and rendered texts, and the choice of a
customer's language."""

import pytest

from notifier.dlt import DltTemplate, drift, oversized_variable
from notifier.languages import chosen_language
from notifier.render import parse_template

SEED_DLT = DltTemplate(
    "1107161234567890123",
    "Sales Order {#var#} dated {#var#} for an amount of {#var#} rupees has been handed over"
    " to the delivery service.",
)
SEED_TEMPLATE = (
    "Sales Order {number} dated {date} for an amount of {amount} rupees has been handed over"
    " to the delivery service."
)
SEED_TEXT = (
    "Sales Order 5643 dated 10.06.2024 for an amount of 50,000 rupees has been handed over"
    " to the delivery service."
)


def test_the_seed_template_matches_its_registration() -> None:
    assert drift(parse_template(SEED_TEMPLATE), SEED_DLT) is None


def test_fixed_text_of_ours_may_sit_inside_a_variable() -> None:
    dlt = DltTemplate("1", "Paid {#var#}. Thank you!")
    assert drift(parse_template("Paid Rs. {amount} for {number}. Thank you!"), dlt) is None


@pytest.mark.parametrize(
    ("template", "difference"),
    [
        (
            SEED_TEMPLATE.replace("dated", "on"),
            'at character 22 of the rule\'s text the template has "dated", the rule has "on"',
        ),
        (
            SEED_TEMPLATE.replace("delivery service.", "delivery service. Thanks"),
            'at character 113 of the rule\'s text the template has ended, the rule has " Thanks"',
        ),
        (
            SEED_TEMPLATE.replace(" to the delivery service.", ""),
            'at character 88 of the rule\'s text the template has " to", the rule has ended',
        ),
    ],
)
def test_fixed_text_that_drifts_is_named_at_its_first_difference(
    template: str, difference: str
) -> None:
    assert drift(parse_template(template), SEED_DLT) == difference


def test_a_placeholder_where_the_template_has_fixed_text_is_named() -> None:
    dlt = DltTemplate("1", "Sales Order {#var#} dated 10.06.2024 for {#var#}.")
    assert drift(parse_template("Sales Order {number} dated {date} for {amount}."), dlt) == (
        'at character 28 of the rule\'s text the template has fixed text "10.06.2024",'
        " the rule has the placeholder {date}"
    )


def test_a_rendered_text_gives_the_variables_values() -> None:
    assert SEED_DLT.variables(SEED_TEXT) == ("5643", "10.06.2024", "50,000")
    assert SEED_DLT.variables("Sales Order 5643 shipped.") is None


def test_a_variable_of_30_characters_fits_and_of_31_is_named_without_its_value() -> None:
    name = "R" * 30
    assert oversized_variable(SEED_DLT, SEED_TEXT.replace("5643", name)) is None
    reason = oversized_variable(SEED_DLT, SEED_TEXT.replace("5643", name + "x"))
    assert reason == (
        "variable 1 of DLT template 1107161234567890123 would be 31 characters long;"
        " TRAI allows at most 30"
    )


def test_a_text_that_does_not_match_at_all_is_refused() -> None:
    assert oversized_variable(SEED_DLT, "Hello") == (
        "the text does not match DLT template 1107161234567890123"
    )


@pytest.mark.parametrize(
    ("said", "chosen"),
    [
        ("hi", "hi"),
        ("hi_IN", "hi"),
        ("hi-IN", "hi"),
        (" HI ", "hi"),
        ("Hindi", "hi"),
        ("hindi", "hi"),
        ("हिन्दी", "hi"),
        ("Tamil", "ta"),
        ("English", None),
        ("Klingon", None),
        ("", None),
        (None, None),
        (42, None),
    ],
)
def test_the_language_is_chosen_by_code_or_by_name(said: object, chosen: str | None) -> None:
    assert chosen_language(said, {"hi", "ta"}) == chosen
