"""The WhatsApp Cloud API client's pure parts: the request body, Meta's error codes, the
message id. Over real HTTP: tests/integration/test_notifier_whatsapp.py."""

import json

import pytest
import requests

from notifier.errors import SmsProviderUnavailable, SmsRejected
from notifier.whatsapp import (
    WhatsAppMessage,
    message_id,
    meta_error_code,
    refusal,
    request_body,
)

SHIPPED = WhatsAppMessage(
    to="+919876543210",
    template="order_shipped",
    language="en",
    parameters=("5643", "10.06.2024", "50,000"),
)


def _answer(status: int, body: object) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return response


def _graph_error(code: object) -> dict[str, object]:
    """A Graph API error body, its message quoting the number as Meta's may."""
    return {
        "error": {
            "message": "(#131026) Message undeliverable to +919876543210",
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": "+919876543210"},
            "fbtrace_id": "AbCdEf",
        }
    }


def test_a_template_message_carries_its_name_language_and_body_parameters() -> None:
    assert request_body(SHIPPED) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+919876543210",
        "type": "template",
        "template": {
            "name": "order_shipped",
            "language": {"code": "en"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "5643"},
                        {"type": "text", "text": "10.06.2024"},
                        {"type": "text", "text": "50,000"},
                    ],
                }
            ],
        },
    }


def test_a_template_without_parameters_sends_no_components() -> None:
    plain = WhatsAppMessage(to="+919876543210", template="hello_world", language="en_US")
    assert request_body(plain)["template"] == {
        "name": "hello_world",
        "language": {"code": "en_US"},
    }


@pytest.mark.parametrize("code", [4, 80007, 130429, 131048, 131056])
def test_metas_throttling_codes_are_retriable_though_answered_400(code: int) -> None:
    error = refusal(_answer(400, _graph_error(code)))
    assert isinstance(error, SmsProviderUnavailable)
    assert str(error) == f"WhatsApp throttled the message: HTTP 400 (Meta error {code})"


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, 131026), (400, 131047), (400, 132001), (400, 100), (401, 190), (403, 10)],
)
def test_other_refusals_are_permanent_and_name_the_code_only(status: int, code: int) -> None:
    error = refusal(_answer(status, _graph_error(code)))
    assert isinstance(error, SmsRejected)
    assert str(error) == f"WhatsApp refused the message: HTTP {status} (Meta error {code})"
    assert "98765" not in str(error)


@pytest.mark.parametrize(
    "body", ["<html>Bad Request</html>", {"error": "no"}, {"code": 131026}, [1], _graph_error("4")]
)
def test_a_refusal_without_metas_error_code_is_permanent(body: object) -> None:
    assert meta_error_code(_answer(400, body)) is None
    error = refusal(_answer(400, body))
    assert isinstance(error, SmsRejected)
    assert str(error) == "WhatsApp refused the message: HTTP 400"


def test_the_message_id_is_metas_wamid() -> None:
    answer = {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "+919876543210", "wa_id": "919876543210"}],
        "messages": [{"id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJCOTY3NDc0NDFDRUI3NTA0Q0UA"}],
    }
    assert (
        message_id(_answer(200, answer))
        == "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJCOTY3NDc0NDFDRUI3NTA0Q0UA"
    )


@pytest.mark.parametrize(
    "body", ["not json", {}, {"messages": []}, {"messages": [{}]}, {"messages": [{"id": 7}]}]
)
def test_an_accepted_message_without_an_id_has_none(body: object) -> None:
    assert message_id(_answer(200, body)) is None
