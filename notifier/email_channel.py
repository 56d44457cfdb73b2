"""Email through an SMTP server of the shop's, with the standard library's smtplib.

``SMTP_URL`` names the server: ``smtp://[user[:password]@]host[:port]`` (port 587 unless
given) upgrades to TLS with STARTTLS whenever the server offers it, and sends the
credentials only once it has; ``smtps://`` (port 465) speaks TLS from the start. The
password is percent-decoded and never logged. ``EMAIL_FROM`` is the sender.

Failures are the SMS senders' classes (notifier/errors.py): a server that cannot be
reached, times out or answers 4xx (try later) is :class:`SmsProviderUnavailable`; a 5xx
(no such mailbox, message refused, wrong credentials) is :class:`SmsRejected`, naming the
SMTP code but never the address.
"""

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr

from notifier.errors import SmsProviderUnavailable, SmsRejected

DEFAULT_PORTS = {"smtp": 587, "smtps": 465}
"""Message submission (RFC 6409) and submission over implicit TLS (RFC 8314)."""


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    implicit_tls: bool
    username: str | None = None
    password: SecretStr | None = None


def parse_smtp_url(url: str) -> SmtpServer:
    """SMTP_URL's parts; a ValueError names what is wrong, never quoting the URL."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError("must start with smtp:// or smtps://")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    if not parts.hostname:
        raise ValueError("must name a host, e.g. smtp://mail.example.com:587")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("must be only smtp[s]://[user[:password]@]host[:port]")
    username = unquote(parts.username) if parts.username else None
    if parts.password is not None and username is None:
        raise ValueError("a password needs a user name")
    return SmtpServer(
        host=parts.hostname,
        port=port,
        implicit_tls=parts.scheme == "smtps",
        username=username,
        password=SecretStr(unquote(parts.password)) if parts.password is not None else None,
    )


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str | None = None
    """An HTML alternative to ``text``, for clients that show it."""


class EmailSender:
    def __init__(
        self,
        server: SmtpServer,
        sender: str,
        *,
        timeout_s: float,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """``tls`` checks the server's certificate: the system's CAs unless given."""
        local, at, domain = parseaddr(sender)[1].rpartition("@")
        if not (local and at and domain):
            raise ValueError("the sender must be an address, e.g. Shop <orders@example.com>")
        self._server = server
        self._sender = sender
        self._domain = domain
        self._timeout_s = timeout_s
        self._tls = tls or ssl.create_default_context()

    def send(self, email: Email) -> str:
        """Send ``email``; its Message-ID, the provider id of an email."""
        try:
            message = self._message(email)
        except ValueError:
            # The email package refuses a line break in a header, which would forge others.
            raise SmsRejected("the email's To or Subject is not a valid header") from None
        try:
            with self._connect() as smtp:
                self._secure_and_log_in(smtp)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            (code, _reply) = next(iter(error.recipients.values()))
            raise _answered(code, "refused the recipient") from None
        except smtplib.SMTPResponseException as error:
            raise _answered(error.smtp_code, "refused the message") from None
        except smtplib.SMTPNotSupportedError as error:
            raise SmsRejected(f"SMTP server cannot do what is needed: {error}") from None
        except (smtplib.SMTPException, OSError) as error:
            # OSError covers refused connections, timeouts and TLS handshakes that fail;
            # these texts are smtplib's and the OS's, quoting no address.
            raise SmsProviderUnavailable(
                f"SMTP server could not be used: {type(error).__name__}: {error}"
            ) from None
        return str(message["Message-ID"])

    def _message(self, email: Email) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = email.to
        message["Subject"] = email.subject
        message["Message-ID"] = make_msgid(domain=self._domain)
        message.set_content(email.text)
        if email.html is not None:
            message.add_alternative(email.html, subtype="html")
        return message

    def _connect(self) -> smtplib.SMTP:
        server = self._server
        if server.implicit_tls:
            return smtplib.SMTP_SSL(
                server.host, server.port, timeout=self._timeout_s, context=self._tls
            )
        return smtplib.SMTP(server.host, server.port, timeout=self._timeout_s)

    def _secure_and_log_in(self, smtp: smtplib.SMTP) -> None:
        server = self._server
        smtp.ehlo()
        encrypted = server.implicit_tls
        if not encrypted and smtp.has_extn("starttls"):
            smtp.starttls(context=self._tls)
            smtp.ehlo()
            encrypted = True
        if server.username is None:
            return
        if not encrypted:
            # A password is never sent in clear, whatever the server offers.
            raise SmsRejected("SMTP server offers no STARTTLS: the credentials stay unsent")
        password = server.password.get_secret_value() if server.password else ""
        smtp.login(server.username, password)


def _answered(code: int, what: str) -> SmsProviderUnavailable | SmsRejected:
    # Only a 5xx is final (RFC 5321); smtplib's -1 is a connection that closed instead.
    if 500 <= code < 600:
        return SmsRejected(f"SMTP server {what}: {code}")
    return SmsProviderUnavailable(f"SMTP server {what} for now: {code}")
