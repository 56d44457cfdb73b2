"""SMTP_URL and the sender's address, read without a server; sending is in
tests/integration/test_notifier_email_channel.py."""

import re

import pytest
from pydantic import SecretStr

from notifier.email_channel import EmailSender, SmtpServer, parse_smtp_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", SmtpServer("mail.example.com", 587, implicit_tls=False)),
        ("smtp://127.0.0.1:2525", SmtpServer("127.0.0.1", 2525, implicit_tls=False)),
        ("smtps://mail.example.com", SmtpServer("mail.example.com", 465, implicit_tls=True)),
        ("smtps://mail.example.com:8465/", SmtpServer("mail.example.com", 8465, implicit_tls=True)),
        (
            "smtp://orders@mail.example.com:25",
            SmtpServer("mail.example.com", 25, implicit_tls=False, username="orders"),
        ),
        (
            "smtp://orders%40shop.in:p%40ss%3Aw%2Fd@smtp.example.com:587",
            SmtpServer(
                "smtp.example.com",
                587,
                implicit_tls=False,
                username="orders@shop.in",
                password=SecretStr("p@ss:w/d"),
            ),
        ),
        (
            "smtps://apikey:@smtp.example.com",
            SmtpServer(
                "smtp.example.com",
                465,
                implicit_tls=True,
                username="apikey",
                password=SecretStr(""),
            ),
        ),
    ],
)
def test_smtp_urls_are_read(url: str, expected: SmtpServer) -> None:
    assert parse_smtp_url(url) == expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://mail.example.com", "smtp:// or smtps://"),
        ("mail.example.com:587", "smtp:// or smtps://"),
        ("smtp://", "must name a host"),
        ("smtp://:secret@:25", "must name a host"),
        ("smtp://mail.example.com:smtp", "port"),
        ("smtp://mail.example.com:70000", "port"),
        ("smtp://mail.example.com/relay", "only smtp[s]://"),
        ("smtp://mail.example.com?tls=no", "only smtp[s]://"),
        ("smtp://:hunter2@mail.example.com", "a password needs a user name"),
    ],
)
def test_a_malformed_url_is_refused_without_quoting_it(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)) as refused:
        parse_smtp_url(url)
    assert "hunter2" not in str(refused.value)
    assert "secret" not in str(refused.value)


def test_the_password_stays_out_of_the_repr() -> None:
    server = parse_smtp_url("smtp://orders:hunter2@mail.example.com")
    assert "hunter2" not in repr(server)


@pytest.mark.parametrize("sender", ["orders", "", "Shop <>"])
def test_the_sender_must_be_an_address(sender: str) -> None:
    server = parse_smtp_url("smtp://mail.example.com")
    with pytest.raises(ValueError, match="sender must be an address"):
        EmailSender(server, sender, timeout_s=5)
