"""Sending an SMS: the message, the sender interface and one sender per provider.

Every sender gets its HTTP session or output stream in the constructor, so tests hand
in real ones pointed at local fakes. Provider failures become
:class:`SmsProviderUnavailable` (retriable: timeouts, connection errors, 429, 5xx) or
:class:`SmsRejected` (permanent: any other refusal).
"""

import hashlib
import json
import math
import threading
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

import requests
from pydantic import SecretStr

from notifier.errors import SmsProviderUnavailable, SmsRejected


@dataclass(frozen=True)
class Sms:
    to: str
    """The recipient in E.164, e.g. +919876543210."""
    text: str
    idempotency_key: str
    """The same for every send of one business event, so a provider can drop repeats."""
    sender: str | None = None
    """The sender id or number the rule names; ``None``: the provider's default."""
    dlt_template_id: str | None = None
    """The DLT content template the text was registered as (India's TRAI rules); ``None``
    for a rule without one."""


def idempotency_key(document_id: str, rule_name: str, state: str) -> str:
    """sha256 hex of what makes a notification the same business event."""
    identity = json.dumps([document_id, rule_name, state], ensure_ascii=False)
    return hashlib.sha256(identity.encode()).hexdigest()


class SmsSender(Protocol):
    def send(self, sms: Sms) -> str | None:
        """Send one SMS; the provider's message id when it gives one."""


class ConsoleSender:
    """Prints each SMS as one line (for local runs and demos)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        # Documents are sent from several threads at once; a line must never interleave.
        self._lock = threading.Lock()

    def send(self, sms: Sms) -> str | None:
        one_line = sms.text.replace("\r", "\\r").replace("\n", "\\n")
        # After the text, so a line still starts "SMS to <phone>: <text>" for whoever reads it.
        template = f" [DLT template {sms.dlt_template_id}]" if sms.dlt_template_id else ""
        with self._lock:
            self._stream.write(f"SMS to {sms.to}: {one_line}{template}\n")
            self._stream.flush()
        return None


class HttpSender:
    """POSTs ``{"to", "text", "idempotency_key", "sender", "dlt_template_id",
    "dlt_entity_id"}`` as JSON to a gateway of your own (``null`` where unknown)."""

    def __init__(
        self,
        session: requests.Session,
        url: str,
        *,
        timeout_s: float,
        entity_id: str | None = None,
        sender: str | None = None,
    ) -> None:
        self._session = session
        self._url = url
        self._timeout_s = timeout_s
        self._entity_id = entity_id
        self._sender = sender

    def send(self, sms: Sms) -> str | None:
        body = {
            "to": sms.to,
            "text": sms.text,
            "idempotency_key": sms.idempotency_key,
            "sender": sms.sender or self._sender,
            "dlt_template_id": sms.dlt_template_id,
            "dlt_entity_id": self._entity_id,
        }
        post(self._session, "SMS gateway", self._url, timeout_s=self._timeout_s, json=body)
        return None


class TwilioSender:
    """Twilio's Messages API; returns the message sid.

    With ``status_callback_url``, Twilio posts each change of the message's status there
    (notifier/http_app.py).
    """

    def __init__(
        self,
        session: requests.Session,
        *,
        api_url: str,
        account_sid: str,
        auth_token: SecretStr,
        sender: str,
        timeout_s: float,
        status_callback_url: str | None = None,
    ) -> None:
        self._session = session
        self._url = f"{api_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._sender = sender
        self._timeout_s = timeout_s
        self._status_callback_url = status_callback_url

    def send(self, sms: Sms) -> str | None:
        message = {"To": sms.to, "From": sms.sender or self._sender, "Body": sms.text}
        if self._status_callback_url:
            message["StatusCallback"] = self._status_callback_url
        response = post(
            self._session,
            "Twilio",
            self._url,
            timeout_s=self._timeout_s,
            data=message,
            auth=(self._account_sid, self._auth_token.get_secret_value()),
        )
        sid = json_field(response, "sid")
        return sid if isinstance(sid, str) else None


def post(
    session: requests.Session, provider: str, url: str, *, timeout_s: float, **request: Any
) -> requests.Response:
    try:
        response = session.post(url, timeout=timeout_s, **request)
    except requests.Timeout as error:
        raise SmsProviderUnavailable(f"{provider} did not answer within {timeout_s}s") from error
    except requests.ConnectionError as error:
        raise SmsProviderUnavailable(f"{provider} could not be reached") from error
    status = response.status_code
    if status == 429 or status >= 500:
        raise SmsProviderUnavailable(
            f"{provider} answered HTTP {status}", retry_after=_retry_after(response)
        )
    if not response.ok:
        # The provider's error code only: its message may quote the phone number.
        code = json_field(response, "code")
        detail = f" (provider code {code})" if isinstance(code, int | str) else ""
        raise SmsRejected(f"{provider} refused the message: HTTP {status}{detail}")
    return response


def _retry_after(response: requests.Response) -> float | None:
    """The Retry-After header in seconds; an HTTP-date or garbage counts as absent."""
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def json_field(response: requests.Response, name: str) -> object:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get(name) if isinstance(body, dict) else None
