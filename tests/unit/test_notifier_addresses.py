import pytest

from notifier.addresses import first_email_address


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("priya.sharma@example.in", "priya.sharma@example.in"),
        ("  r@k.in ", "r@k.in"),
        # The domain is case-insensitive and normalised; the mailbox is the server's.
        ("Priya.Sharma@Example.IN", "Priya.Sharma@example.in"),
        ("not-an-address, orders@shop.example", "orders@shop.example"),
        ("bad@; orders@shop.example", "orders@shop.example"),
        ("a@shop.example, b@shop.example", "a@shop.example"),
        ("रवि@उदाहरण.भारत", "रवि@उदाहरण.भारत"),
    ],
)
def test_the_first_valid_address_is_taken(text: str, address: str) -> None:
    assert first_email_address(text) == address


@pytest.mark.parametrize(
    "text",
    [None, "", "   ", "none", "a@b", "+91 98765 43210", "Ravi <r@k.in>", "r@@k.in", ", ;"],
)
def test_text_without_an_address_gives_none(text: str | None) -> None:
    assert first_email_address(text) is None
