"""The sandbox's fakes of MSG91 and Exotel through Flask's test client: what they refuse
(credentials, DLT fields) and answer, and their control endpoints."""

import base64

import pytest
from flask.testing import FlaskClient

from sandbox.app import create_app
from sandbox.sms_gateways import SmsInbox

CONTROL = {"Authorization": "Bearer sandbox-token"}
MSG91_KEY = {"authkey": "sandbox-msg91-authkey"}
EXOTEL_AUTH = {
    "Authorization": "Basic "
    + base64.b64encode(b"sandbox-exotel-key:sandbox-exotel-token").decode()
}
EXOTEL_SEND = "/exotel/v1/Accounts/sandbox/Sms/send.json"
EXOTEL_FORM = {
    "From": "KLDANA",
    "To": "+919876543210",
    "Body": "Order shipped.",
    "DltEntityId": "1201100000000000001",
    "DltTemplateId": "1107161234567890123",
}


def _msg91_body(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "sender": "KLDANA",
        "route": "4",
        "DLT_TE_ID": "1107161234567890123",
        "sms": [{"message": "Order shipped.", "to": ["919876543210"]}],
    }
    return body | changes


@pytest.fixture
def inbox() -> SmsInbox:
    return SmsInbox()


@pytest.fixture
def client(inbox: SmsInbox) -> FlaskClient:
    return create_app(sms_inbox=inbox).test_client()


def test_msg91_answers_a_request_id_and_records_the_message(
    client: FlaskClient, inbox: SmsInbox
) -> None:
    answer = client.post("/msg91/api/v2/sendsms", json=_msg91_body(), headers=MSG91_KEY)
    assert answer.status_code == 200
    assert answer.json is not None
    assert answer.json["type"] == "success"
    listed = client.get("/__sandbox/sms/msg91/messages", headers=CONTROL).json
    assert listed == {
        "messages": [
            {
                "message_id": answer.json["message"],
                "to": "919876543210",
                "text": "Order shipped.",
                "sender": "KLDANA",
                "entity_id": None,
                "template_id": "1107161234567890123",
                "callback_url": None,
            }
        ]
    }
    assert client.delete("/__sandbox/sms/msg91/messages", headers=CONTROL).status_code == 204
    assert inbox.messages("msg91") == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"DLT_TE_ID": None}, "DLT_TE_ID is required for Indian numbers"),
        ({"sender": "KLADANASHOP"}, "Sender ID must be the 6-character DLT header"),
        ({"sms": [{"message": "Hi", "to": ["+919876543210"]}]}, "Invalid mobile number"),
        ({"sms": []}, "sms is required"),
    ],
)
def test_msg91_refuses_content_with_type_error(
    client: FlaskClient, inbox: SmsInbox, changes: dict[str, object], message: str
) -> None:
    answer = client.post("/msg91/api/v2/sendsms", json=_msg91_body(**changes), headers=MSG91_KEY)
    assert (answer.status_code, answer.json) == (200, {"message": message, "type": "error"})
    assert inbox.messages("msg91") == []


def test_msg91_refuses_a_wrong_authkey(client: FlaskClient) -> None:
    answer = client.post("/msg91/api/v2/sendsms", json=_msg91_body(), headers={"authkey": "x"})
    assert (answer.status_code, answer.json) == (
        401,
        {"message": "Authentication failure", "type": "error"},
    )


def test_exotel_answers_an_sms_message_and_records_it(client: FlaskClient) -> None:
    form = EXOTEL_FORM | {"StatusCallback": "http://127.0.0.1:9/exotel/report/t"}
    answer = client.post(EXOTEL_SEND, data=form, headers=EXOTEL_AUTH)
    assert answer.status_code == 200
    assert answer.json is not None
    message = answer.json["SMSMessage"]
    assert (message["Status"], message["To"], message["AccountSid"]) == (
        "queued",
        "+919876543210",
        "sandbox",
    )
    messages = client.get("/__sandbox/sms/exotel/messages", headers=CONTROL).json
    assert messages is not None
    (listed,) = messages["messages"]
    assert listed == {
        "message_id": message["Sid"],
        "to": "+919876543210",
        "text": "Order shipped.",
        "sender": "KLDANA",
        "entity_id": "1201100000000000001",
        "template_id": "1107161234567890123",
        "callback_url": "http://127.0.0.1:9/exotel/report/t",
    }


@pytest.mark.parametrize(
    ("dropped", "message"),
    [
        ("DltEntityId", "DltEntityId is mandatory for SMS to India"),
        ("DltTemplateId", "DltTemplateId is mandatory for SMS to India"),
        ("From", "From, To and Body are required"),
    ],
)
def test_exotel_refuses_a_message_to_india_without_its_dlt_fields(
    client: FlaskClient, inbox: SmsInbox, dropped: str, message: str
) -> None:
    form = {name: value for name, value in EXOTEL_FORM.items() if name != dropped}
    answer = client.post(EXOTEL_SEND, data=form, headers=EXOTEL_AUTH)
    assert (answer.status_code, answer.json) == (
        400,
        {"RestException": {"Status": 400, "Message": message}},
    )
    assert inbox.messages("exotel") == []


def test_exotel_lets_a_message_abroad_go_without_dlt_fields(client: FlaskClient) -> None:
    form = {"From": "KLDANA", "To": "+447700900123", "Body": "Order shipped."}
    assert client.post(EXOTEL_SEND, data=form, headers=EXOTEL_AUTH).status_code == 200


@pytest.mark.parametrize("path", [EXOTEL_SEND, "/exotel/v1/Accounts/other/Sms/send.json"])
def test_exotel_refuses_other_credentials_or_accounts(client: FlaskClient, path: str) -> None:
    wrong = {"Authorization": "Basic " + base64.b64encode(b"sandbox-exotel-key:x").decode()}
    headers = wrong if path == EXOTEL_SEND else EXOTEL_AUTH
    assert client.post(path, data=EXOTEL_FORM, headers=headers).status_code == 401


def test_the_control_endpoints_need_the_sandbox_token(client: FlaskClient) -> None:
    refused = client.get("/__sandbox/sms/msg91/messages", headers={"Authorization": "Bearer x"})
    assert refused.status_code == 401
    unknown = client.get("/__sandbox/sms/pigeon/messages", headers=CONTROL)
    assert unknown.status_code == 404


def test_a_report_needs_a_known_message_and_somewhere_to_go(client: FlaskClient) -> None:
    missing = client.post(
        "/__sandbox/sms/msg91/reports", json={"message_id": "nope", "status": "X"}, headers=CONTROL
    )
    assert missing.status_code == 404
    sent = client.post("/msg91/api/v2/sendsms", json=_msg91_body(), headers=MSG91_KEY).json
    assert sent is not None
    nowhere = client.post(
        "/__sandbox/sms/msg91/reports",
        json={"message_id": sent["message"], "status": "DELIVERED"},
        headers=CONTROL,
    )
    assert nowhere.status_code == 400
    assert nowhere.json == {"errors": [{"error": "callback_url: none configured for this message"}]}
