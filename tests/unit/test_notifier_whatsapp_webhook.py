"""Meta's WhatsApp webhooks: the signature, the subscription handshake, the statuses in a
notification, and the endpoint through Flask's test client."""

import hashlib
import hmac
import json

import pytest
from flask.testing import FlaskClient
from pydantic import SecretStr
from werkzeug.test import TestResponse

from notifier.errors import LedgerUnavailable
from notifier.whatsapp_webhook import (
    WhatsAppStatus,
    parse_statuses,
    signature_valid,
    subscription_challenge,
    whatsapp_webhook_app,
)

APP_SECRET = SecretStr("meta-app-secret")
VERIFY_TOKEN = SecretStr("meatyhamhock")
WAMID = "wamid.HBgLOTE5ODc2NTQzMjEwFQIAERgSQjZGOTUwRDRFNzg2MUEzN0VEAA=="


def _notification(*statuses: object) -> dict[str, object]:
    """Meta's ``messages`` webhook as its reference shows it."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": "106540352242922",
                            },
                            "statuses": list(statuses),
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


FAILED = {
    "id": WAMID,
    "status": "failed",
    "timestamp": "1750857384",
    "recipient_id": "919876543210",
    "errors": [
        {
            "code": 131026,
            "title": "Message undeliverable",
            "message": "Message undeliverable",
            "error_data": {"details": "Message Undeliverable."},
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
        }
    ],
}
DELIVERED = {
    "id": WAMID,
    "status": "delivered",
    "timestamp": "1750857390",
    "recipient_id": "919876543210",
    "conversation": {"id": "a75d17ad06104c51166f948319b03c6a", "origin": {"type": "utility"}},
    "pricing": {"billable": True, "pricing_model": "PMP", "category": "utility"},
}
INBOUND_MESSAGE = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                {
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {"display_phone_number": "15550783881"},
                        "contacts": [{"profile": {"name": "Ravi"}, "wa_id": "919876543210"}],
                        "messages": [
                            {
                                "from": "919876543210",
                                "id": "wamid.ID",
                                "timestamp": "1750857400",
                                "type": "text",
                                "text": {"body": "STOP"},
                            }
                        ],
                    },
                    "field": "messages",
                }
            ],
        }
    ],
}


def test_the_signature_is_hmac_sha256_of_the_body_with_a_known_vector() -> None:
    # RFC 4231, test case 2: key "Jefe".
    body = b"what do ya want for nothing?"
    digest = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert signature_valid(body, f"sha256={digest}", SecretStr("Jefe"))
    assert not signature_valid(body, digest, SecretStr("Jefe"))  # without "sha256="
    assert not signature_valid(body, f"sha1={digest}", SecretStr("Jefe"))
    assert not signature_valid(body + b" ", f"sha256={digest}", SecretStr("Jefe"))
    assert not signature_valid(body, f"sha256={digest}", SecretStr("jefe"))


def test_the_signature_covers_the_raw_bytes_not_the_parsed_json() -> None:
    body = json.dumps(_notification(FAILED)).encode()  # escaped unicode, as Meta signs
    header = "sha256=" + hmac.new(b"meta-app-secret", body, hashlib.sha256).hexdigest()
    assert signature_valid(body, header, APP_SECRET)
    respaced = json.dumps(json.loads(body), separators=(",", ":")).encode()
    assert not signature_valid(respaced, header, APP_SECRET)


def test_a_genuine_verification_request_gets_its_challenge() -> None:
    query = {
        "hub.mode": "subscribe",
        "hub.challenge": "1158201444",
        "hub.verify_token": "meatyhamhock",
    }
    assert subscription_challenge(query, VERIFY_TOKEN) == "1158201444"


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "wrong"},
        {"hub.mode": "subscribe", "hub.challenge": "1158201444"},
        {"hub.mode": "unsubscribe", "hub.challenge": "1", "hub.verify_token": "meatyhamhock"},
        {"hub.mode": "subscribe", "hub.verify_token": "meatyhamhock"},
        {},
    ],
)
def test_any_other_verification_request_gets_none(query: dict[str, str]) -> None:
    assert subscription_challenge(query, VERIFY_TOKEN) is None


def test_statuses_are_parsed_with_their_error_codes() -> None:
    assert parse_statuses(_notification(DELIVERED, FAILED)) == [
        WhatsAppStatus(WAMID, "delivered", 1750857390, (), recipient_id="919876543210"),
        WhatsAppStatus(WAMID, "failed", 1750857384, (131026,), recipient_id="919876543210"),
    ]


def test_the_recipients_number_stays_out_of_the_repr() -> None:
    (status,) = parse_statuses(_notification(FAILED))
    assert "98765" not in repr(status)


@pytest.mark.parametrize(
    "notification",
    [
        INBOUND_MESSAGE,
        {},
        [],
        "text",
        {"entry": "x"},
        {"entry": [{"changes": [{"value": {"statuses": [{"id": WAMID}]}}]}]},
        {"entry": [{"changes": [{"value": {"statuses": [{"status": "sent"}]}}]}]},
        {"entry": [{"changes": [{"value": {"statuses": ["sent", None, 3]}}]}]},
    ],
)
def test_a_notification_without_statuses_has_none(notification: object) -> None:
    assert parse_statuses(notification) == []


def test_odd_fields_of_a_status_are_left_out_rather_than_refused() -> None:
    odd = {"id": WAMID, "status": "sent", "timestamp": "soon", "errors": [{"code": "x"}, 7]}
    assert parse_statuses(_notification(odd)) == [WhatsAppStatus(WAMID, "sent", None, ())]


class _Recorder:
    def __init__(self, *, fails: bool = False) -> None:
        self.recorded: list[list[WhatsAppStatus]] = []
        self._fails = fails

    def record(self, statuses: list[WhatsAppStatus]) -> None:
        if self._fails:
            raise LedgerUnavailable("database is locked")
        self.recorded.append(statuses)


@pytest.fixture
def recorder() -> _Recorder:
    return _Recorder()


def _client(recorder: _Recorder) -> FlaskClient:
    app = whatsapp_webhook_app(recorder, verify_token=VERIFY_TOKEN, app_secret=APP_SECRET)
    return app.test_client()


def _signed_post(
    client: FlaskClient, body: bytes, secret: bytes = b"meta-app-secret"
) -> TestResponse:
    signature = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return client.post(
        "/webhook",
        data=body,
        headers={"X-Hub-Signature-256": signature, "Content-Type": "application/json"},
    )


def test_the_handshake_echoes_the_challenge_as_text(recorder: _Recorder) -> None:
    answer = _client(recorder).get(
        "/webhook",
        query_string={
            "hub.mode": "subscribe",
            "hub.challenge": "1158201444",
            "hub.verify_token": "meatyhamhock",
        },
    )
    assert answer.status_code == 200
    assert answer.mimetype == "text/plain"
    assert answer.get_data(as_text=True) == "1158201444"


def test_a_wrong_verify_token_is_refused_with_403(recorder: _Recorder) -> None:
    answer = _client(recorder).get(
        "/webhook",
        query_string={"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "no"},
    )
    assert answer.status_code == 403
    assert answer.json is not None
    assert answer.json["error"] == "invalid_verification"


def test_signed_statuses_go_to_the_handler(recorder: _Recorder) -> None:
    answer = _signed_post(_client(recorder), json.dumps(_notification(DELIVERED, FAILED)).encode())
    assert answer.status_code == 200
    assert answer.json == {"statuses": 2}
    (recorded,) = recorder.recorded
    assert [(s.status, s.error_codes) for s in recorded] == [
        ("delivered", ()),
        ("failed", (131026,)),
    ]


def test_a_notification_without_a_signature_is_401_and_records_nothing(recorder: _Recorder) -> None:
    answer = _client(recorder).post("/webhook", json=_notification(FAILED))
    assert answer.status_code == 401
    assert answer.json is not None
    assert answer.json["error"] == "missing_signature"
    assert recorder.recorded == []


def test_a_wrong_signature_is_403_and_records_nothing(recorder: _Recorder) -> None:
    body = json.dumps(_notification(FAILED)).encode()
    answer = _signed_post(_client(recorder), body, secret=b"another-app")
    assert answer.status_code == 403
    assert answer.json is not None
    assert answer.json["error"] == "invalid_signature"
    assert recorder.recorded == []


def test_an_inbound_message_is_answered_200_and_ignored(recorder: _Recorder) -> None:
    answer = _signed_post(_client(recorder), json.dumps(INBOUND_MESSAGE).encode())
    assert answer.status_code == 200
    assert answer.json == {"statuses": 0}
    assert recorder.recorded == []


def test_a_signed_body_that_is_not_json_is_400(recorder: _Recorder) -> None:
    answer = _signed_post(_client(recorder), b"\xff not json")
    assert answer.status_code == 400


def test_a_ledger_that_does_not_answer_makes_meta_retry() -> None:
    answer = _signed_post(
        _client(_Recorder(fails=True)), json.dumps(_notification(FAILED)).encode()
    )
    assert answer.status_code == 503
    assert answer.json is not None
    assert answer.json["error"] == "ledger_unavailable"


def test_other_methods_and_paths_are_json_errors(recorder: _Recorder) -> None:
    client = _client(recorder)
    assert client.put("/webhook").status_code == 405
    missing = client.get("/status")
    assert missing.status_code == 404
    assert missing.json is not None
    assert missing.json["error"] == "not_found"
