"""The SMS senders against a fake provider served over real HTTP."""

import base64
from collections.abc import Iterator

import pytest
import requests
from pydantic import SecretStr

from devstack.broker import free_port
from devstack.http_server import BackgroundServer
from notifier.errors import SmsProviderUnavailable, SmsRejected
from notifier.sms import HttpSender, Sms, TwilioSender
from tests.helpers import FakeProvider
from tests.unit.test_notifier_sms import SMS

TOKEN = "tw-secret-token"


@pytest.fixture(scope="module")
def _server() -> Iterator[tuple[FakeProvider, str]]:
    fake = FakeProvider()
    with BackgroundServer(fake.app()) as server:
        yield fake, server.url


@pytest.fixture
def provider(_server: tuple[FakeProvider, str]) -> tuple[FakeProvider, str]:
    """The module's fake provider, its script and records emptied for this test."""
    fake, url = _server
    fake.answers.clear()
    fake.requests.clear()
    fake.delay_s = 0.0
    return fake, url


def _twilio(
    url: str, session: requests.Session, status_callback_url: str | None = None
) -> TwilioSender:
    return TwilioSender(
        session,
        api_url=url + "/",
        account_sid="AC123",
        auth_token=SecretStr(TOKEN),
        sender="+15005550006",
        timeout_s=5,
        status_callback_url=status_callback_url,
    )


def test_http_sender_posts_json_with_the_idempotency_key(
    provider: tuple[FakeProvider, str],
) -> None:
    fake, url = provider
    with requests.Session() as session:
        assert HttpSender(session, url + "/sms", timeout_s=5).send(SMS) is None
    assert fake.requests == [
        {
            "path": "/sms",
            "json": {
                "to": SMS.to,
                "text": SMS.text,
                "idempotency_key": SMS.idempotency_key,
                "sender": None,
                "dlt_template_id": None,
                "dlt_entity_id": None,
            },
            "form": {},
            "authorization": None,
        }
    ]


def test_http_sender_posts_the_dlt_fields_and_the_default_header(
    provider: tuple[FakeProvider, str],
) -> None:
    fake, url = provider
    registered = Sms(
        to="+919876543210",
        text="Sales Order 5643 is on its way.",
        idempotency_key="k" * 64,
        dlt_template_id="1107161234567890123",
    )
    with requests.Session() as session:
        HttpSender(
            session,
            url + "/sms",
            timeout_s=5,
            entity_id="1201100000000000001",
            sender="KLDANA",
        ).send(registered)
    (seen,) = fake.requests
    assert seen["json"] == {
        "to": "+919876543210",
        "text": "Sales Order 5643 is on its way.",
        "idempotency_key": "k" * 64,
        "sender": "KLDANA",
        "dlt_template_id": "1107161234567890123",
        "dlt_entity_id": "1201100000000000001",
    }


def test_twilio_sender_posts_the_form_with_basic_auth_and_returns_the_sid(
    provider: tuple[FakeProvider, str],
) -> None:
    fake, url = provider
    fake.answers.append((201, {}, {"sid": "SM42", "status": "queued"}))
    with requests.Session() as session:
        assert _twilio(url, session).send(SMS) == "SM42"
    (seen,) = fake.requests
    assert seen["path"] == "/2010-04-01/Accounts/AC123/Messages.json"
    assert seen["form"] == {"To": SMS.to, "From": "+15005550006", "Body": SMS.text}
    assert seen["authorization"] == "Basic " + base64.b64encode(f"AC123:{TOKEN}".encode()).decode()


def test_twilio_is_asked_for_status_callbacks_only_when_a_url_is_configured(
    provider: tuple[FakeProvider, str],
) -> None:
    fake, url = provider
    callback = "https://notifier.example.com/twilio/status"
    with requests.Session() as session:
        _twilio(url, session, status_callback_url=callback).send(SMS)
        _twilio(url, session).send(SMS)
    with_callback, without = fake.requests
    assert with_callback["form"]["StatusCallback"] == callback
    assert "StatusCallback" not in without["form"]


def test_a_rules_sender_replaces_the_default_one(provider: tuple[FakeProvider, str]) -> None:
    fake, url = provider
    branded = Sms(to=SMS.to, text=SMS.text, idempotency_key=SMS.idempotency_key, sender="ACMESHOP")
    with requests.Session() as session:
        _twilio(url, session).send(branded)
        HttpSender(session, url + "/sms", timeout_s=5, sender="KLDANA").send(branded)
    twilio, http = fake.requests
    assert twilio["form"]["From"] == "ACMESHOP"
    assert http["json"]["sender"] == "ACMESHOP"


@pytest.mark.parametrize("status", [500, 502, 503, 429])
@pytest.mark.parametrize("kind", ["http", "twilio"])
def test_throttling_and_server_errors_are_retriable(
    provider: tuple[FakeProvider, str], status: int, kind: str
) -> None:
    fake, url = provider
    fake.answers.append((status, {}, {"message": "busy"}))
    with requests.Session() as session:
        sender = (
            HttpSender(session, url + "/sms", timeout_s=5)
            if kind == "http"
            else _twilio(url, session)
        )
        with pytest.raises(SmsProviderUnavailable, match=str(status)) as raised:
            sender.send(SMS)
    assert raised.value.retry_after is None


@pytest.mark.parametrize(("header", "expected"), [("7", 7.0), ("1.5", 1.5), ("soon", None)])
def test_retry_after_seconds_are_honoured(
    provider: tuple[FakeProvider, str], header: str, expected: float | None
) -> None:
    fake, url = provider
    fake.answers.append((429, {"Retry-After": header}, {}))
    with requests.Session() as session, pytest.raises(SmsProviderUnavailable) as raised:
        HttpSender(session, url + "/sms", timeout_s=5).send(SMS)
    assert raised.value.retry_after == expected


def test_a_refusal_is_permanent_and_names_the_provider_code_without_secrets(
    provider: tuple[FakeProvider, str],
) -> None:
    fake, url = provider
    error = {"code": 21211, "message": f"The 'To' number {SMS.to} is not valid", "status": 400}
    fake.answers.append((400, {}, error))
    with requests.Session() as session, pytest.raises(SmsRejected) as raised:
        _twilio(url, session).send(SMS)
    message = str(raised.value)
    assert "400" in message
    assert "21211" in message
    assert TOKEN not in message
    assert "98765" not in message


def test_http_sender_refusal_is_permanent(provider: tuple[FakeProvider, str]) -> None:
    fake, url = provider
    fake.answers.append((400, {}, "<html>bad request</html>"))
    with requests.Session() as session, pytest.raises(SmsRejected, match="HTTP 400"):
        HttpSender(session, url + "/sms", timeout_s=5).send(SMS)


def test_a_provider_that_does_not_answer_in_time_is_retriable(
    provider: tuple[FakeProvider, str],
) -> None:
    fake, url = provider
    fake.delay_s = 1.0
    with requests.Session() as session, pytest.raises(SmsProviderUnavailable, match="within"):
        HttpSender(session, url + "/sms", timeout_s=0.2).send(SMS)


def test_a_provider_that_cannot_be_reached_is_retriable() -> None:
    with requests.Session() as session, pytest.raises(SmsProviderUnavailable, match="reached"):
        HttpSender(session, f"http://127.0.0.1:{free_port()}/sms", timeout_s=2).send(SMS)
