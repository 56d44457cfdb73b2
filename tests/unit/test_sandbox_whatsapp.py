"""The sandbox's fake WhatsApp Cloud API through Flask's test client: what it refuses,
what it answers and records, and its control endpoints. Its signed statuses, posted over
real HTTP, are in tests/integration/test_notifier_whatsapp.py."""

import hashlib
import hmac

import pytest
from flask.testing import FlaskClient

from sandbox.app import create_app
from sandbox.whatsapp import WhatsAppFake, sign, wa_id

CONTROL = {"Authorization": "Bearer sandbox-token"}
SEND = "/whatsapp/v21.0/106540352242922/messages"
BEARER = {"Authorization": "Bearer sandbox-whatsapp-token"}
TEMPLATE_MESSAGE = {
    "messaging_product": "whatsapp",
    "recipient_type": "individual",
    "to": "+919876543210",
    "type": "template",
    "template": {
        "name": "order_shipped",
        "language": {"code": "en"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "5643"}]}],
    },
}


@pytest.fixture
def client() -> FlaskClient:
    return create_app().test_client()


def test_a_template_message_is_answered_as_meta_does_and_recorded(client: FlaskClient) -> None:
    answer = client.post(SEND, json=TEMPLATE_MESSAGE, headers=BEARER)
    assert answer.status_code == 200
    assert answer.json is not None
    (message,) = answer.json["messages"]
    assert message["id"].startswith("wamid.")
    assert answer.json == {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "+919876543210", "wa_id": "919876543210"}],
        "messages": [{"id": message["id"]}],
    }
    listed = client.get("/__sandbox/whatsapp/messages", headers=CONTROL).json
    assert listed == {
        "messages": [
            {
                "message_id": message["id"],
                "phone_number_id": "106540352242922",
                "to": "+919876543210",
                "template": "order_shipped",
                "language": "en",
                "parameters": ["5643"],
                "statuses": [],
            }
        ]
    }
    assert client.delete("/__sandbox/whatsapp/messages", headers=CONTROL).status_code == 204
    assert client.get("/__sandbox/whatsapp/messages", headers=CONTROL).json == {"messages": []}


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", "sandbox-whatsapp-token", "Basic c2FuZGJveA=="]
)
def test_a_wrong_token_gets_metas_oauth_error(
    client: FlaskClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = client.post(SEND, json=TEMPLATE_MESSAGE, headers=headers)
    assert answer.status_code == 401
    assert answer.json is not None
    assert answer.json["error"]["code"] == 190
    assert answer.json["error"]["type"] == "OAuthException"


@pytest.mark.parametrize(
    "changes",
    [
        {"messaging_product": "sms"},
        {"type": "text"},
        {"to": ""},
        {"template": {"name": "order_shipped"}},
        {"template": {"language": {"code": "en"}}},
    ],
)
def test_a_request_that_is_not_a_template_message_gets_error_100(
    client: FlaskClient, changes: dict[str, object]
) -> None:
    answer = client.post(SEND, json=TEMPLATE_MESSAGE | changes, headers=BEARER)
    assert answer.status_code == 400
    assert answer.json is not None
    assert answer.json["error"]["code"] == 100
    assert client.get("/__sandbox/whatsapp/messages", headers=CONTROL).json == {"messages": []}


def test_the_fake_takes_the_token_it_is_configured_with() -> None:
    client = create_app(whatsapp=WhatsAppFake(token="own-token")).test_client()
    refused = client.post(SEND, json=TEMPLATE_MESSAGE, headers=BEARER)
    accepted = client.post(
        SEND, json=TEMPLATE_MESSAGE, headers={"Authorization": "Bearer own-token"}
    )
    assert (refused.status_code, accepted.status_code) == (401, 200)


def test_the_control_endpoints_need_the_sandbox_token(client: FlaskClient) -> None:
    assert client.get("/__sandbox/whatsapp/messages").status_code == 401
    assert client.put("/__sandbox/whatsapp/not-on-whatsapp/+919876543210").status_code == 401
    marked = client.put("/__sandbox/whatsapp/not-on-whatsapp/+919876543210", headers=CONTROL)
    assert marked.status_code == 204
    unmarked = client.delete("/__sandbox/whatsapp/not-on-whatsapp/919876543210", headers=CONTROL)
    assert unmarked.status_code == 204


def test_the_fake_signs_as_meta_does() -> None:
    body = b'{"object":"whatsapp_business_account"}'
    expected = hmac.new(b"app-secret", body, hashlib.sha256).hexdigest()
    assert sign(body, "app-secret") == f"sha256={expected}"


def test_a_wa_id_is_the_numbers_digits() -> None:
    assert wa_id("+91 98765-43210") == "919876543210"
