"""MSG91's and Exotel's senders against the sandbox's fakes of them, over real HTTP: the
exact DLT fields each sends, and how each provider's failures are classified."""

import base64
from collections.abc import Iterator

import pytest
import requests
from pydantic import SecretStr

from devstack.broker import free_port
from devstack.http_server import BackgroundServer
from notifier.errors import SmsProviderUnavailable, SmsRejected
from notifier.exotel import ExotelSender
from notifier.msg91 import Msg91Sender
from notifier.sms import Sms, SmsSender
from sandbox.app import create_app
from sandbox.sms_gateways import SmsInbox
from tests.helpers import FakeProvider

SMS = Sms(
    to="+919876543210",
    text="Sales Order 5643 is on its way.",
    idempotency_key="k" * 64,
    dlt_template_id="1107161234567890123",
)
HINDI = Sms(
    to="+919876543210",
    text="ऑर्डर 5643 भेज दिया गया है।",
    idempotency_key="h" * 64,
    sender="ACMESH",
    dlt_template_id="1107169999999999999",
)
AUTH_KEY = "sandbox-msg91-authkey"
EXOTEL_TOKEN = "sandbox-exotel-token"
CALLBACK = "https://notifier.example.com/exotel/report/0123456789abcdef0123"


@pytest.fixture(scope="module")
def _sandbox() -> Iterator[tuple[SmsInbox, str]]:
    inbox = SmsInbox()
    with BackgroundServer(create_app(sms_inbox=inbox)) as server:
        yield inbox, server.url


@pytest.fixture
def sandbox(_sandbox: tuple[SmsInbox, str]) -> tuple[SmsInbox, str]:
    inbox, url = _sandbox
    inbox.clear("msg91")
    inbox.clear("exotel")
    return inbox, url


def _msg91(
    session: requests.Session, url: str, *, auth_key: str = AUTH_KEY, timeout_s: float = 5
) -> Msg91Sender:
    return Msg91Sender(
        session,
        api_url=url + "/msg91",
        auth_key=SecretStr(auth_key),
        sender="KLDANA",
        route="4",
        timeout_s=timeout_s,
    )


def _exotel(
    session: requests.Session,
    url: str,
    *,
    callback: str | None = CALLBACK,
    timeout_s: float = 5,
) -> ExotelSender:
    return ExotelSender(
        session,
        api_url=url + "/exotel",
        account_sid="sandbox",
        api_key="sandbox-exotel-key",
        api_token=SecretStr(EXOTEL_TOKEN),
        entity_id="1201100000000000001",
        sender="KLDANA",
        timeout_s=timeout_s,
        status_callback_url=callback,
    )


def test_msg91_gets_the_header_template_and_number_without_plus(
    sandbox: tuple[SmsInbox, str],
) -> None:
    inbox, url = sandbox
    with requests.Session() as session:
        request_id = _msg91(session, url).send(SMS)
    assert inbox.messages("msg91") == [
        {
            "message_id": request_id,
            "to": "919876543210",
            "text": "Sales Order 5643 is on its way.",
            "sender": "KLDANA",
            "entity_id": None,
            "template_id": "1107161234567890123",
            "callback_url": None,
        }
    ]
    assert isinstance(request_id, str)
    assert len(request_id) == 24


def test_exotel_gets_entity_template_header_and_callback(sandbox: tuple[SmsInbox, str]) -> None:
    inbox, url = sandbox
    with requests.Session() as session:
        sid = _exotel(session, url).send(SMS)
    assert inbox.messages("exotel") == [
        {
            "message_id": sid,
            "to": "+919876543210",
            "text": "Sales Order 5643 is on its way.",
            "sender": "KLDANA",
            "entity_id": "1201100000000000001",
            "template_id": "1107161234567890123",
            "callback_url": CALLBACK,
        }
    ]


def test_the_exact_request_each_gateway_receives() -> None:
    fake = FakeProvider(
        answers=[
            (200, {}, {"message": "3662706a4a52313938343739", "type": "success"}),
            (200, {}, {"SMSMessage": {"Sid": "b6cf3f1b2e6d4a1c", "Status": "queued"}}),
        ]
    )
    with BackgroundServer(fake.app()) as server, requests.Session() as session:
        assert _msg91(session, server.url).send(HINDI) == "3662706a4a52313938343739"
        assert _exotel(session, server.url, callback=None).send(HINDI) == "b6cf3f1b2e6d4a1c"
    msg91, exotel = fake.requests
    assert msg91["path"] == "/msg91/api/v2/sendsms"
    assert msg91["json"] == {
        "sender": "ACMESH",
        "route": "4",
        "unicode": 1,
        "sms": [{"message": "ऑर्डर 5643 भेज दिया गया है।", "to": ["919876543210"]}],
        "DLT_TE_ID": "1107169999999999999",
    }
    assert exotel["path"] == "/exotel/v1/Accounts/sandbox/Sms/send.json"
    assert exotel["form"] == {
        "From": "ACMESH",
        "To": "+919876543210",
        "Body": "ऑर्डर 5643 भेज दिया गया है।",
        "DltEntityId": "1201100000000000001",
        "DltTemplateId": "1107169999999999999",
        "EncodingType": "unicode",
    }
    expected = base64.b64encode(f"sandbox-exotel-key:{EXOTEL_TOKEN}".encode()).decode()
    assert exotel["authorization"] == f"Basic {expected}"


def test_a_message_to_india_without_a_template_is_refused_for_good(
    sandbox: tuple[SmsInbox, str],
) -> None:
    inbox, url = sandbox
    untemplated = Sms(to=SMS.to, text=SMS.text, idempotency_key=SMS.idempotency_key)
    with requests.Session() as session:
        with pytest.raises(SmsRejected, match="MSG91"):
            _msg91(session, url).send(untemplated)
        with pytest.raises(SmsRejected, match="Exotel refused the message: HTTP 400"):
            _exotel(session, url).send(untemplated)
    assert inbox.messages("msg91") == []
    assert inbox.messages("exotel") == []


def test_wrong_credentials_are_refused_for_good_without_the_secret_in_the_error(
    sandbox: tuple[SmsInbox, str],
) -> None:
    _, url = sandbox
    with requests.Session() as session, pytest.raises(SmsRejected, match="HTTP 401") as raised:
        _msg91(session, url, auth_key="not-the-key-of-this-account").send(SMS)
    assert "not-the-key" not in str(raised.value)
    assert "98765" not in str(raised.value)


@pytest.mark.parametrize("status", [429, 500, 503])
@pytest.mark.parametrize("kind", ["msg91", "exotel"])
def test_throttling_and_server_errors_are_retriable(status: int, kind: str) -> None:
    fake = FakeProvider(answers=[(status, {}, {"message": "busy"})])
    with BackgroundServer(fake.app()) as server, requests.Session() as session:
        sender: SmsSender = (
            _msg91(session, server.url) if kind == "msg91" else _exotel(session, server.url)
        )
        with pytest.raises(SmsProviderUnavailable, match=f"HTTP {status}"):
            sender.send(SMS)


@pytest.mark.parametrize("kind", ["msg91", "exotel"])
def test_other_refusals_are_permanent(kind: str) -> None:
    body = {"RestException": {"Status": 403, "Message": f"{SMS.to} is blocked"}}
    fake = FakeProvider(answers=[(403, {}, body)])
    with BackgroundServer(fake.app()) as server, requests.Session() as session:
        sender: SmsSender = (
            _msg91(session, server.url) if kind == "msg91" else _exotel(session, server.url)
        )
        with pytest.raises(SmsRejected, match="HTTP 403") as raised:
            sender.send(SMS)
    assert "98765" not in str(raised.value)


@pytest.mark.parametrize("kind", ["msg91", "exotel"])
def test_a_gateway_that_does_not_answer_in_time_or_at_all_is_retriable(kind: str) -> None:
    fake = FakeProvider(delay_s=1.0)
    gone = f"http://127.0.0.1:{free_port()}"
    with BackgroundServer(fake.app()) as server, requests.Session() as session:
        build = _msg91 if kind == "msg91" else _exotel
        with pytest.raises(SmsProviderUnavailable, match="within"):
            build(session, server.url, timeout_s=0.2).send(SMS)
        with pytest.raises(SmsProviderUnavailable, match="reached"):
            build(session, gone).send(SMS)
