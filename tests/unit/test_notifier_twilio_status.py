"""Twilio's status callbacks through the notifier's WSGI app, signed with Twilio's own
RequestValidator, into a real SQLite ledger."""

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from twilio.request_validator import RequestValidator
from werkzeug.test import Client, TestResponse

from notifier.delivery_reports import StatusReport, TwilioStatusHandler
from notifier.errors import LedgerUnavailable
from notifier.http_app import TWILIO_MOUNT, twilio_status_app
from notifier.ledger import DeliveryUpdate, Ledger, LedgerEntry
from notifier.ledger_schema import DeliveryStatus, open_engine
from shared.health import Readiness, health_app
from tests.helpers import SHIPPED_NOTIFICATION, record_sent

TOKEN = "tw-auth-token"
PUBLIC_URL = "https://notifier.example.com/twilio/status"
SID = "SM0123456789abcdef0123456789abcdef"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    """A ledger with one message Twilio accepted as ``SID``."""
    engine = open_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield record_sent(Ledger(engine), SID)
    engine.dispose()


def _client(handler: Any, readiness: Readiness | None = None) -> Client:
    callbacks = twilio_status_app(handler, RequestValidator(TOKEN), PUBLIC_URL)
    return Client(health_app(readiness or Readiness(), mounts={TWILIO_MOUNT: callbacks}))


@pytest.fixture
def client(ledger: Ledger) -> Client:
    return _client(TwilioStatusHandler(ledger))


def _report(status: str, sid: str = SID, **more: str) -> dict[str, str]:
    """A status callback's form, as Twilio posts it (phones included)."""
    return {
        "AccountSid": "AC123",
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "To": "+919876543210",
        "From": "+15005550006",
        "ApiVersion": "2010-04-01",
        **more,
    }


def _post(
    client: Client, form: dict[str, str], *, signed_for: str | None = PUBLIC_URL
) -> TestResponse:
    headers = {}
    if signed_for is not None:
        headers["X-Twilio-Signature"] = RequestValidator(TOKEN).compute_signature(signed_for, form)
    return client.post("/twilio/status", data=form, headers=headers)


def _entry(ledger: Ledger) -> LedgerEntry:
    entry = ledger.entry(SHIPPED_NOTIFICATION.key)
    assert entry is not None
    return entry


def test_a_signed_delivered_report_marks_the_row_delivered(client: Client, ledger: Ledger) -> None:
    response = _post(client, _report("delivered"))
    assert response.status_code == 200
    assert response.json == {"outcome": "recorded"}
    assert _entry(ledger).delivery_status is DeliveryStatus.DELIVERED


def _signature(token: str, url: str) -> Callable[[dict[str, str]], str]:
    return lambda form: RequestValidator(token).compute_signature(url, form)


@pytest.mark.parametrize(
    ("problem", "sign"),
    [
        ("missing", None),
        ("empty", lambda _form: ""),
        ("another token's", _signature("not-the-token", PUBLIC_URL)),
        # What this process sees: accepting it would mean checking the wrong URL.
        ("the internal URL's", _signature(TOKEN, "http://localhost/twilio/status")),
        ("another public URL's", _signature(TOKEN, "https://attacker.example.com/twilio/status")),
    ],
)
def test_a_report_without_twilios_signature_for_the_public_url_is_refused(
    client: Client,
    ledger: Ledger,
    problem: str,
    sign: Callable[[dict[str, str]], str] | None,
) -> None:
    form = _report("delivered")
    headers = {"X-Twilio-Signature": sign(form)} if sign else {}
    response = client.post("/twilio/status", data=form, headers=headers)
    assert response.status_code == 403, problem
    assert response.json is not None
    assert response.json["error"] == "invalid_signature"
    assert _entry(ledger).delivery_status is None


def test_a_form_changed_after_signing_is_refused(client: Client, ledger: Ledger) -> None:
    signed = _report("undelivered")
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL, signed)
    response = client.post(
        "/twilio/status",
        data={**signed, "MessageStatus": "delivered"},
        headers={"X-Twilio-Signature": signature},
    )
    assert response.status_code == 403
    assert _entry(ledger).delivery_status is None


def test_the_signature_of_the_url_with_its_default_port_is_accepted(
    client: Client, ledger: Ledger
) -> None:
    # Twilio signs some requests with ":443" in the URL; its validator accepts either form.
    response = _post(
        client,
        _report("sent"),
        signed_for="https://notifier.example.com:443/twilio/status",
    )
    assert response.status_code == 200
    assert _entry(ledger).delivery_status is DeliveryStatus.SENT


@pytest.mark.parametrize(
    ("twilio_status", "recorded"),
    [
        ("queued", DeliveryStatus.QUEUED),
        ("sending", DeliveryStatus.SENDING),
        ("sent", DeliveryStatus.SENT),
        ("delivered", DeliveryStatus.DELIVERED),
        ("undelivered", DeliveryStatus.UNDELIVERED),
        ("failed", DeliveryStatus.UNDELIVERED),
    ],
)
def test_twilios_statuses_map_onto_the_ledgers(
    client: Client, ledger: Ledger, twilio_status: str, recorded: DeliveryStatus
) -> None:
    assert _post(client, _report(twilio_status)).status_code == 200
    assert _entry(ledger).delivery_status is recorded


def test_an_undelivered_report_keeps_twilios_error_code(client: Client, ledger: Ledger) -> None:
    _post(client, _report("undelivered", ErrorCode="30003"))
    assert _entry(ledger).last_error == "Twilio reported undelivered (Twilio error 30003)"


def test_reports_out_of_order_never_downgrade_a_final_status(
    client: Client, ledger: Ledger
) -> None:
    outcomes = [
        _post(client, _report(status)).json
        for status in ("sent", "delivered", "queued", "sent", "undelivered")
    ]
    assert outcomes == [
        {"outcome": "recorded"},
        {"outcome": "recorded"},
        {"outcome": "stale"},
        {"outcome": "stale"},
        {"outcome": "stale"},
    ]
    assert _entry(ledger).delivery_status is DeliveryStatus.DELIVERED


def test_a_report_on_an_unknown_message_is_accepted_and_logged(
    client: Client, ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="notifier.delivery_reports"):
        response = _post(client, _report("delivered", sid="SMnot-ours"))
    assert response.status_code == 200  # Twilio would only repeat it
    assert response.json == {"outcome": "unknown_message"}
    (record,) = caplog.records
    assert record.getMessage() == "twilio status report for an unknown message"
    assert record.provider_id == "SMnot-ours"  # type: ignore[attr-defined]
    assert "+919876543210" not in caplog.text
    assert _entry(ledger).delivery_status is None


def test_a_status_no_outbound_sms_has_is_ignored(client: Client, ledger: Ledger) -> None:
    response = _post(client, _report("receiving"))
    assert (response.status_code, response.json) == (200, {"outcome": "ignored"})
    assert _entry(ledger).delivery_status is None


def test_a_signed_report_without_its_sid_or_status_is_a_bad_request(client: Client) -> None:
    form = _report("delivered")
    del form["MessageSid"]
    response = _post(client, form)
    assert response.status_code == 400
    assert response.json is not None
    assert response.json["error"] == "invalid_report"


def test_the_endpoint_takes_posts_only_and_answers_json(client: Client) -> None:
    response = client.get("/twilio/status")
    assert response.status_code == 405
    assert response.json is not None
    assert response.json["error"] == "method_not_allowed"


def test_a_ledger_that_does_not_answer_gives_503_for_twilio_to_retry() -> None:
    class DownLedger:
        def record_delivery(self, *_args: object, **_kwargs: object) -> DeliveryUpdate:
            raise LedgerUnavailable("ledger database: OperationalError")

    client = _client(TwilioStatusHandler(DownLedger()))  # type: ignore[arg-type]
    response = _post(client, _report("delivered"))
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["error"] == "ledger_unavailable"


def test_health_and_readiness_are_served_beside_the_callback(client: Client) -> None:
    assert client.get("/healthz").status_code == 200
    readiness = Readiness()
    readiness.ready()
    assert Client(health_app(readiness)).get("/readyz").status_code == 200
    readiness.not_ready("ledger database: OperationalError")
    answer = Client(health_app(readiness)).get("/readyz")
    assert (answer.status_code, answer.json) == (
        503,
        {"status": "not ready", "reason": "ledger database: OperationalError"},
    )


def test_without_twilio_callbacks_the_path_is_not_served() -> None:
    response = Client(health_app(Readiness())).post("/twilio/status", data={})
    assert response.status_code == 404


def test_the_handler_reads_the_status_case_insensitively(ledger: Ledger) -> None:
    handler = TwilioStatusHandler(ledger)
    assert handler.handle(StatusReport(SID, "Delivered")) is DeliveryUpdate.RECORDED
    assert _entry(ledger).delivery_status is DeliveryStatus.DELIVERED
