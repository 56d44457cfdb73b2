"""The email sender against real SMTP servers (aiosmtpd) on loopback ports: plain,
STARTTLS and implicit TLS with a certificate from a test CA (trustme), with and without
credentials, and the server's refusals."""

import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from devstack.broker import free_port
from notifier.email_channel import Email, EmailSender, parse_smtp_url
from notifier.errors import SmsProviderUnavailable, SmsRejected

SENDER = "Acme Shop <orders@acme.example>"
USER, PASSWORD = "orders@acme.example", "p@ss:w/rd"
URL_CREDENTIALS = "orders%40acme.example:p%40ss%3Aw%2Frd"
SHIPPED = Email(
    to="ravi@example.in",
    subject="Sales Order 5643 has been handed over to the delivery service",
    text="Sales Order 5643 dated 10.06.2024 for 50,000 rupees is on its way.",
)


@dataclass
class _Mailbox:
    """aiosmtpd's handler: refuses some recipients, keeps what it accepts."""

    refused: dict[str, str] = field(default_factory=dict)
    received: list[tuple[Envelope, bool]] = field(default_factory=list)
    logins: list[tuple[bytes, bytes]] = field(default_factory=list)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refused:
            return self.refused[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.received.append((envelope, session.ssl is not None))
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login, data.password))
        # handled=False: aiosmtpd then answers a failure with 535 itself.
        ok = (data.login, data.password) == (USER.encode(), PASSWORD.encode())
        return AuthResult(success=ok, handled=False)

    def email(self) -> EmailMessage:
        ((envelope, _encrypted),) = self.received
        parsed = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass(frozen=True)
class _Tls:
    server: ssl.SSLContext
    client: ssl.SSLContext


@pytest.fixture(scope="module")
def tls() -> _Tls:
    authority = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    authority.configure_trust(client)
    return _Tls(server, client)


@pytest.fixture
def mailbox() -> _Mailbox:
    return _Mailbox()


def _serve(mailbox: _Mailbox, **options: Any) -> Iterator[int]:
    port = free_port()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, authenticator=mailbox.authenticate, **options
    )
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def plain(mailbox: _Mailbox) -> Iterator[int]:
    """A server that offers neither STARTTLS nor, without it, AUTH."""
    yield from _serve(mailbox)


@pytest.fixture
def starttls(mailbox: _Mailbox, tls: _Tls) -> Iterator[int]:
    yield from _serve(mailbox, tls_context=tls.server)


@pytest.fixture
def implicit_tls(mailbox: _Mailbox, tls: _Tls) -> Iterator[int]:
    # aiosmtpd counts only STARTTLS as TLS for its AUTH rule; this connection is TLS throughout.
    yield from _serve(mailbox, ssl_context=tls.server, auth_require_tls=False)


def _sender(url: str, tls: _Tls | None = None, timeout_s: float = 5) -> EmailSender:
    return EmailSender(
        parse_smtp_url(url), SENDER, timeout_s=timeout_s, tls=tls.client if tls else None
    )


def test_a_plain_text_email_is_delivered_with_its_message_id(plain: int, mailbox: _Mailbox) -> None:
    message_id = _sender(f"smtp://127.0.0.1:{plain}").send(SHIPPED)
    assert message_id.startswith("<")
    assert message_id.endswith("@acme.example>")
    ((envelope, encrypted),) = mailbox.received
    assert (envelope.mail_from, envelope.rcpt_tos, encrypted) == (
        "orders@acme.example",
        ["ravi@example.in"],
        False,
    )
    email = mailbox.email()
    assert email["Message-ID"] == message_id
    assert (email["From"], email["To"], email["Subject"]) == (SENDER, SHIPPED.to, SHIPPED.subject)
    assert email.get_content_type() == "text/plain"
    assert email.get_content().strip() == SHIPPED.text


def test_an_html_alternative_goes_beside_the_text(plain: int, mailbox: _Mailbox) -> None:
    html = "<p>Sales Order <b>5643</b> is on its way.</p>"
    _sender(f"smtp://127.0.0.1:{plain}").send(
        Email(to=SHIPPED.to, subject=SHIPPED.subject, text=SHIPPED.text, html=html)
    )
    email = mailbox.email()
    assert email.get_content_type() == "multipart/alternative"
    text, rich = email.get_body(("plain",)), email.get_body(("html",))
    assert text is not None
    assert rich is not None
    assert text.get_content().strip() == SHIPPED.text
    assert rich.get_content().strip() == html


def test_starttls_is_used_when_offered_and_then_the_credentials(
    starttls: int, mailbox: _Mailbox, tls: _Tls
) -> None:
    _sender(f"smtp://{URL_CREDENTIALS}@127.0.0.1:{starttls}", tls).send(SHIPPED)
    assert mailbox.logins == [(USER.encode(), PASSWORD.encode())]
    ((_envelope, encrypted),) = mailbox.received
    assert encrypted


def test_starttls_without_credentials(starttls: int, mailbox: _Mailbox, tls: _Tls) -> None:
    _sender(f"smtp://127.0.0.1:{starttls}", tls).send(SHIPPED)
    ((_envelope, encrypted),) = mailbox.received
    assert encrypted
    assert mailbox.logins == []


def test_smtps_speaks_tls_from_the_start(implicit_tls: int, mailbox: _Mailbox, tls: _Tls) -> None:
    _sender(f"smtps://{URL_CREDENTIALS}@127.0.0.1:{implicit_tls}", tls).send(SHIPPED)
    assert mailbox.logins == [(USER.encode(), PASSWORD.encode())]
    assert len(mailbox.received) == 1


def test_a_certificate_the_sender_does_not_trust_is_not_used(
    starttls: int, mailbox: _Mailbox
) -> None:
    with pytest.raises(SmsProviderUnavailable, match="SSLCertVerificationError"):
        _sender(f"smtp://{URL_CREDENTIALS}@127.0.0.1:{starttls}").send(SHIPPED)
    assert mailbox.logins == []
    assert mailbox.received == []


def test_credentials_are_never_sent_without_tls(plain: int, mailbox: _Mailbox) -> None:
    with pytest.raises(SmsRejected, match="no STARTTLS") as refused:
        _sender(f"smtp://{URL_CREDENTIALS}@127.0.0.1:{plain}").send(SHIPPED)
    assert "p@ss" not in str(refused.value)
    assert mailbox.logins == []
    assert mailbox.received == []


def test_wrong_credentials_are_a_permanent_refusal(starttls: int, tls: _Tls) -> None:
    with pytest.raises(SmsRejected, match="535") as refused:
        _sender(f"smtp://orders:guess@127.0.0.1:{starttls}", tls).send(SHIPPED)
    assert "guess" not in str(refused.value)


def test_a_mailbox_that_does_not_exist_is_a_permanent_refusal(
    plain: int, mailbox: _Mailbox
) -> None:
    mailbox.refused[SHIPPED.to] = "550 5.1.1 <ravi@example.in>: Recipient address rejected"
    with pytest.raises(SmsRejected) as refused:
        _sender(f"smtp://127.0.0.1:{plain}").send(SHIPPED)
    assert str(refused.value) == "SMTP server refused the recipient: 550"


def test_a_mailbox_that_is_busy_is_retriable(plain: int, mailbox: _Mailbox) -> None:
    mailbox.refused[SHIPPED.to] = "450 4.2.1 Mailbox busy, try again later"
    with pytest.raises(SmsProviderUnavailable) as raised:
        _sender(f"smtp://127.0.0.1:{plain}").send(SHIPPED)
    assert str(raised.value) == "SMTP server refused the recipient for now: 450"


def test_a_server_that_cannot_be_reached_is_retriable() -> None:
    with pytest.raises(SmsProviderUnavailable, match="ConnectionRefusedError"):
        _sender(f"smtp://127.0.0.1:{free_port()}").send(SHIPPED)


def test_a_server_that_never_greets_is_retriable_after_the_timeout() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        with pytest.raises(SmsProviderUnavailable, match="timed out"):
            _sender(f"smtp://127.0.0.1:{port}", timeout_s=0.3).send(SHIPPED)


def test_a_line_break_in_the_subject_is_refused_before_connecting() -> None:
    forged = Email(to=SHIPPED.to, subject="Order\r\nBcc: everyone@example.com", text="x")
    with pytest.raises(SmsRejected, match="not a valid header"):
        _sender(f"smtp://127.0.0.1:{free_port()}").send(forged)
