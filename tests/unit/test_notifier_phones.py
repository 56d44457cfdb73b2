import pytest

from notifier.phones import first_mobile_number, is_known_region

SEED_MOBILE = "+919876543210"


@pytest.mark.parametrize(
    "text",
    [
        "+91 98765 43210",
        "098765 43210",
        "98765-43210",
        "9876543210",
        "+919876543210",
        "  mobile: 98765 43210 (Ravi)  ",
    ],
)
def test_the_free_text_forms_of_one_indian_mobile(text: str) -> None:
    assert first_mobile_number(text, "IN") == SEED_MOBILE


@pytest.mark.parametrize(
    "text",
    ["98765 43210, 91234 56789", "98765 43210 / 91234 56789", "98765 43210/91234 56789"],
)
def test_of_several_numbers_the_first_is_taken(text: str) -> None:
    assert first_mobile_number(text, "IN") == SEED_MOBILE


def test_a_landline_is_skipped_for_the_next_mobile() -> None:
    assert first_mobile_number("011-2345 6789, 98765 43210", "IN") == SEED_MOBILE


@pytest.mark.parametrize("text", ["+91 11 2345 6789", "011-23456789"])
def test_a_landline_alone_cannot_receive_an_sms(text: str) -> None:
    assert first_mobile_number(text, "IN") is None


@pytest.mark.parametrize("text", [None, "", "   ", "junk", "call Ravi", "12345", "98765"])
def test_no_usable_number(text: str | None) -> None:
    assert first_mobile_number(text, "IN") is None


def test_a_number_with_a_country_code_keeps_it() -> None:
    assert first_mobile_number("+44 7911 123456", "IN") == "+447911123456"


def test_the_region_applies_to_numbers_without_a_country_code() -> None:
    assert first_mobile_number("07911 123456", "GB") == "+447911123456"


def test_known_regions() -> None:
    assert is_known_region("IN")
    assert not is_known_region("XX")
