"""WhatsApp over real HTTP: the client against the sandbox's fake Cloud API, the fake's
signed statuses arriving at the webhook endpoint mounted as on the notifier's port, and
Meta's error answers from a scripted provider."""

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from wsgiref.types import StartResponse, WSGIEnvironment

import pytest
import requests
from pydantic import SecretStr
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.wrappers import Request

from devstack.broker import free_port
from devstack.http_server import BackgroundServer
from notifier.errors import SmsProviderUnavailable, SmsRejected
from notifier.whatsapp import WhatsAppMessage, WhatsAppSender
from notifier.whatsapp_webhook import WHATSAPP_MOUNT, WhatsAppStatus, whatsapp_webhook_app
from sandbox.app import create_app
from sandbox.whatsapp import WHATSAPP_PREFIX, WhatsAppFake
from tests.helpers import FakeProvider, wait_until

TOKEN = "wa-system-user-token"
APP_SECRET = "wa-app-secret"
PHONE_NUMBER_ID = "106540352242922"
CONTROL = {"Authorization": "Bearer sandbox-token"}
ON_WHATSAPP = "+919876543210"
NOT_ON_WHATSAPP = "+919812345678"


def _message(to: str) -> WhatsAppMessage:
    return WhatsAppMessage(
        to=to, template="order_shipped", language="en", parameters=("5643", "50,000")
    )


class _Recorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.statuses: list[WhatsAppStatus] = []

    def record(self, statuses: list[WhatsAppStatus]) -> None:
        with self._lock:
            self.statuses.extend(statuses)

    def of(self, message_id: str) -> list[tuple[str, tuple[int, ...]]]:
        with self._lock:
            return [(s.status, s.error_codes) for s in self.statuses if s.message_id == message_id]


@dataclass
class _Stack:
    sandbox_url: str
    webhook_url: str
    recorder: _Recorder

    def sender(self, session: requests.Session, *, token: str = TOKEN) -> WhatsAppSender:
        return _sandbox_sender(self.sandbox_url, session, token=token)


def _sandbox_sender(
    sandbox_url: str, session: requests.Session, *, token: str = TOKEN
) -> WhatsAppSender:
    return WhatsAppSender(
        session,
        api_url=f"{sandbox_url}{WHATSAPP_PREFIX}/v21.0",
        token=SecretStr(token),
        phone_number_id=PHONE_NUMBER_ID,
        timeout_s=5,
    )


@pytest.fixture
def stack() -> Iterator[_Stack]:
    """The webhook endpoint on its own port, and the sandbox posting statuses to it."""
    recorder = _Recorder()
    webhook = whatsapp_webhook_app(
        recorder, verify_token=SecretStr("verify-me"), app_secret=SecretStr(APP_SECRET)
    )
    notifier_port = DispatcherMiddleware(NotFound(), {WHATSAPP_MOUNT: webhook})
    with BackgroundServer(notifier_port) as notifier:
        webhook_url = f"{notifier.url}/whatsapp/webhook"
        fake = WhatsAppFake(token=TOKEN, app_secret=APP_SECRET, webhook_url=webhook_url)
        with BackgroundServer(create_app(whatsapp=fake)) as sandbox:
            yield _Stack(sandbox.url, webhook_url, recorder)


def test_a_sent_message_is_reported_sent_then_delivered(stack: _Stack) -> None:
    with requests.Session() as session:
        wamid = stack.sender(session).send(_message(ON_WHATSAPP))
    assert wamid is not None
    assert wamid.startswith("wamid.")
    assert wait_until(lambda: len(stack.recorder.of(wamid)) == 2, timeout_s=10)
    assert stack.recorder.of(wamid) == [("sent", ()), ("delivered", ())]
    (received,) = requests.get(
        f"{stack.sandbox_url}/__sandbox/whatsapp/messages", headers=CONTROL, timeout=5
    ).json()["messages"]
    assert received == {
        "message_id": wamid,
        "phone_number_id": PHONE_NUMBER_ID,
        "to": ON_WHATSAPP,
        "template": "order_shipped",
        "language": "en",
        "parameters": ["5643", "50,000"],
        "statuses": [{"status": "sent", "answer": 200}, {"status": "delivered", "answer": 200}],
    }


def test_a_number_not_on_whatsapp_is_accepted_then_reported_failed_131026(stack: _Stack) -> None:
    marked = requests.put(
        f"{stack.sandbox_url}/__sandbox/whatsapp/not-on-whatsapp/{NOT_ON_WHATSAPP}",
        headers=CONTROL,
        timeout=5,
    )
    assert marked.status_code == 204
    with requests.Session() as session:
        wamid = stack.sender(session).send(_message(NOT_ON_WHATSAPP))
    assert wamid is not None
    assert wait_until(lambda: stack.recorder.of(wamid) != [], timeout_s=10)
    assert stack.recorder.of(wamid) == [("failed", (131026,))]
    (status,) = [s for s in stack.recorder.statuses if s.message_id == wamid]
    assert status.recipient_id == "919812345678"


def test_statuses_signed_with_another_secret_are_refused_and_not_recorded(stack: _Stack) -> None:
    impostor = WhatsAppFake(token=TOKEN, app_secret="another-app", webhook_url=stack.webhook_url)
    with BackgroundServer(create_app(whatsapp=impostor)) as sandbox, requests.Session() as session:
        _sandbox_sender(sandbox.url, session).send(_message(ON_WHATSAPP))
        control = f"{sandbox.url}/__sandbox/whatsapp/messages"

        def answers() -> list[object]:
            (received,) = requests.get(control, headers=CONTROL, timeout=5).json()["messages"]
            return [posted["answer"] for posted in received["statuses"]]

        assert wait_until(lambda: len(answers()) == 2, timeout_s=10)
        assert answers() == [403, 403]
    assert stack.recorder.statuses == []


def test_a_wrong_token_is_a_permanent_refusal_with_metas_code(stack: _Stack) -> None:
    with requests.Session() as session, pytest.raises(SmsRejected) as refused:
        stack.sender(session, token="expired").send(_message(ON_WHATSAPP))
    assert str(refused.value) == "WhatsApp refused the message: HTTP 401 (Meta error 190)"
    assert "expired" not in str(refused.value)


@pytest.fixture(scope="module")
def _meta() -> Iterator[tuple[FakeProvider, str]]:
    fake = FakeProvider()
    with BackgroundServer(fake.app()) as server:
        yield fake, server.url


@pytest.fixture
def meta(_meta: tuple[FakeProvider, str]) -> tuple[FakeProvider, str]:
    """A scripted Graph API, emptied for this test."""
    fake, url = _meta
    fake.answers.clear()
    fake.requests.clear()
    fake.delay_s = 0.0
    return fake, url


def _scripted(url: str, session: requests.Session, timeout_s: float = 5) -> WhatsAppSender:
    return WhatsAppSender(
        session,
        api_url=url + "/v21.0/",
        token=SecretStr(TOKEN),
        phone_number_id=PHONE_NUMBER_ID,
        timeout_s=timeout_s,
    )


def _graph_error(code: int) -> dict[str, object]:
    return {
        "error": {
            "message": f"(#{code}) for {ON_WHATSAPP}",
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": ON_WHATSAPP},
            "fbtrace_id": "Az8or2yhqkZfEZ",
        }
    }


def test_the_request_is_the_documented_one(meta: tuple[FakeProvider, str]) -> None:
    fake, url = meta
    fake.answers.append((200, {}, {"messages": [{"id": "wamid.X"}]}))
    with requests.Session() as session:
        assert _scripted(url, session).send(_message(ON_WHATSAPP)) == "wamid.X"
    (seen,) = fake.requests
    assert seen["path"] == f"/v21.0/{PHONE_NUMBER_ID}/messages"
    assert seen["authorization"] == f"Bearer {TOKEN}"
    assert seen["json"]["to"] == ON_WHATSAPP
    assert seen["json"]["template"]["components"][0]["parameters"][1] == {
        "type": "text",
        "text": "50,000",
    }


@pytest.mark.parametrize(("status", "code"), [(400, 130429), (400, 131056), (400, 80007)])
def test_metas_throttling_is_retriable(
    meta: tuple[FakeProvider, str], status: int, code: int
) -> None:
    fake, url = meta
    fake.answers.append((status, {}, _graph_error(code)))
    with requests.Session() as session, pytest.raises(SmsProviderUnavailable) as raised:
        _scripted(url, session).send(_message(ON_WHATSAPP))
    assert str(raised.value) == f"WhatsApp throttled the message: HTTP 400 (Meta error {code})"


@pytest.mark.parametrize("status", [429, 500, 503])
def test_429_and_server_errors_are_retriable_and_keep_retry_after(
    meta: tuple[FakeProvider, str], status: int
) -> None:
    fake, url = meta
    fake.answers.append((status, {"Retry-After": "3"}, _graph_error(2)))
    with requests.Session() as session, pytest.raises(SmsProviderUnavailable) as raised:
        _scripted(url, session).send(_message(ON_WHATSAPP))
    assert raised.value.retry_after == 3.0


@pytest.mark.parametrize("code", [131026, 131047, 132001, 100])
def test_other_refusals_are_permanent_without_the_number(
    meta: tuple[FakeProvider, str], code: int
) -> None:
    fake, url = meta
    fake.answers.append((400, {}, _graph_error(code)))
    with requests.Session() as session, pytest.raises(SmsRejected) as refused:
        _scripted(url, session).send(_message(ON_WHATSAPP))
    assert str(refused.value) == f"WhatsApp refused the message: HTTP 400 (Meta error {code})"
    assert TOKEN not in str(refused.value)


def test_a_graph_api_that_does_not_answer_in_time_is_retriable(
    meta: tuple[FakeProvider, str],
) -> None:
    fake, url = meta
    fake.delay_s = 1.0
    with requests.Session() as session, pytest.raises(SmsProviderUnavailable, match="within"):
        _scripted(url, session, timeout_s=0.2).send(_message(ON_WHATSAPP))


def test_a_graph_api_that_cannot_be_reached_is_retriable() -> None:
    with requests.Session() as session, pytest.raises(SmsProviderUnavailable, match="reached"):
        _scripted(f"http://127.0.0.1:{free_port()}", session).send(_message(ON_WHATSAPP))


def test_a_status_the_webhook_could_not_take_is_posted_again(stack: _Stack) -> None:
    """As Meta does: a 5xx (the ledger did not answer, or the send's answer is not yet
    recorded) gets the status again, until the webhook takes it."""
    refusals = [503, 503]
    taken: list[str] = []

    def flaky(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if refusals:
            start_response(f"{refusals.pop()} Service Unavailable", [])
            return [b""]
        taken.append(Request(environ).get_data(as_text=True))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    with BackgroundServer(flaky) as webhook:
        fake = WhatsAppFake(token=TOKEN, app_secret=APP_SECRET, webhook_url=webhook.url)
        with BackgroundServer(create_app(whatsapp=fake)) as sandbox, requests.Session() as s:
            wamid = _sandbox_sender(sandbox.url, s).send(_message(ON_WHATSAPP))
            control = f"{sandbox.url}/__sandbox/whatsapp/messages"

            def answers() -> list[object]:
                (received,) = requests.get(control, headers=CONTROL, timeout=5).json()["messages"]
                return [posted["answer"] for posted in received["statuses"]]

            assert wait_until(lambda: len(answers()) == 4, timeout_s=30)
            assert answers() == [503, 503, 200, 200]
    sent, delivered = taken
    assert wamid is not None
    assert f'"id": "{wamid}", "status": "sent"' in sent
    assert f'"id": "{wamid}", "status": "delivered"' in delivered
