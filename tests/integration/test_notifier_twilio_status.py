"""Twilio as the sender, end to end through a running notifier: the message goes to a fake
Twilio Messages API asking for status callbacks, then a signed callback posted to the
notifier's port marks the ledger row delivered. Real broker, both databases."""

import json
from collections.abc import Iterator

import pytest
import requests
from twilio.request_validator import RequestValidator

from devstack.broker import free_port
from devstack.http_server import BackgroundServer
from notifier.__main__ import main
from notifier.ledger import Ledger, LedgerEntry
from notifier.ledger_schema import DeliveryStatus, Status, open_engine
from notifier.settings import NotifierSettings
from shared.events import to_record
from shared.settings import environment_variables
from tests.conftest import PipelineTopics
from tests.helpers import FakeProvider, enriched_event, publish_records, wait_until
from tests.notifier_running import notifier_settings, running_notifier

pytestmark = pytest.mark.broker

TOKEN = "tw-auth-token"
SID = "SM0123456789abcdef0123456789abcdef"
PUBLIC_URL = "https://notifier.example.com"
CALLBACK_URL = PUBLIC_URL + "/twilio/status"


@pytest.fixture
def twilio() -> Iterator[tuple[FakeProvider, str]]:
    """A fake Twilio Messages API that accepts one message as ``SID``."""
    fake = FakeProvider(answers=[(201, {}, {"sid": SID, "status": "queued"})])
    with BackgroundServer(fake.app()) as server:
        yield fake, server.url


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


def _report(status: str) -> dict[str, str]:
    return {
        "AccountSid": "AC123",
        "MessageSid": SID,
        "MessageStatus": status,
        "To": "+919876543210",
        "From": "+15005550006",
    }


def _post_report(port: int, status: str, *, token: str = TOKEN) -> requests.Response:
    form = _report(status)
    signature = RequestValidator(token).compute_signature(CALLBACK_URL, form)
    return requests.post(
        f"http://127.0.0.1:{port}/twilio/status",
        data=form,
        headers={"X-Twilio-Signature": signature},
        timeout=10,
    )


def test_a_signed_status_callback_marks_the_twilio_message_delivered(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    database_url: str,
    twilio: tuple[FakeProvider, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake, api_url = twilio
    port = free_port()
    settings = notifier_settings(
        kafka_bootstrap,
        topics,
        database_url,
        sms_url=api_url,
        sms_provider="twilio",
        twilio_api_url=api_url,
        twilio_account_sid="AC123",
        twilio_auth_token=TOKEN,
        twilio_from="+15005550006",
        metrics_port=port,
        notifier_public_url=PUBLIC_URL,
    )
    engine = open_engine(database_url)
    ledger = Ledger(engine)

    def sent() -> LedgerEntry | None:
        entries = ledger.entries()
        return entries[0] if entries and entries[0].status is Status.SENT else None

    try:
        with running_notifier(settings):
            assert wait_until(lambda: _answers(f"http://127.0.0.1:{port}/readyz"))
            publish_records(kafka_bootstrap, topics.enriched, [to_record(enriched_event())])
            assert wait_until(lambda: sent() is not None)
            (request,) = fake.requests
            assert request["form"]["StatusCallback"] == CALLBACK_URL
            accepted = sent()
            assert accepted is not None
            assert accepted.provider_message_id == SID

            forged = _post_report(port, "undelivered", token="not-the-token")
            assert forged.status_code == 403
            assert forged.json()["error"] == "invalid_signature"
            assert _post_report(port, "sent").json() == {"outcome": "recorded"}
            assert _post_report(port, "delivered").json() == {"outcome": "recorded"}
            assert _post_report(port, "sent").json() == {"outcome": "stale"}  # late, out of order
        (entry,) = ledger.entries()
    finally:
        engine.dispose()
    assert (entry.status, entry.delivery_status) == (Status.SENT, DeliveryStatus.DELIVERED)

    for name in environment_variables(NotifierSettings):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", database_url)
    assert main(["ledger", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["delivery_status"] == "delivered"
