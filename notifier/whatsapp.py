"""WhatsApp through Meta's WhatsApp Business Cloud API: one approved template per message.

``POST {api_url}/{phone_number_id}/messages`` with the system user's bearer token; Meta
answers the message's id (``wamid....``), which its status webhooks then name
(notifier/whatsapp_webhook.py). A business may only open a conversation with a template
approved in WhatsApp Manager, so the text itself is Meta's: we send its name, language
and body parameters. docs/channels.md, "WhatsApp", has the sources.

Failures are the SMS senders' (notifier/sms.py): :class:`SmsProviderUnavailable` for
timeouts, connection errors, 429, 5xx and Meta's throttling codes, :class:`SmsRejected`
for any other refusal, naming Meta's error code but never the number or the token.
"""

from dataclasses import dataclass
from typing import Any

import requests
from pydantic import SecretStr

from notifier.errors import SmsProviderUnavailable, SmsRejected
from notifier.sms import json_field, post

PROVIDER = "WhatsApp"
DEFAULT_API_URL = "https://graph.facebook.com/v21.0"
THROTTLING_CODES = frozenset({4, 80007, 130429, 131048, 131056})
"""Meta's "throttling errors", answered with HTTP 400 rather than 429: app, account and
phone-number throughput, spam rate limit, and the pair limit on one recipient. Codes that
mean Meta itself is unwell (1, 2, 131000, 131016) come with a 5xx, retriable already."""


@dataclass(frozen=True)
class WhatsAppMessage:
    to: str
    """The recipient in E.164 with its ``+``: without it, Meta prepends the business
    number's own country code."""
    template: str
    """The approved template's name, e.g. ``order_shipped``."""
    language: str
    """The template's language code as approved, e.g. ``en`` or ``hi``."""
    parameters: tuple[str, ...] = ()
    """The body's ``{{1}}``, ``{{2}}``, ... in order."""


def request_body(message: WhatsAppMessage) -> dict[str, Any]:
    """The JSON of the messages endpoint for ``message``."""
    template: dict[str, Any] = {"name": message.template, "language": {"code": message.language}}
    if message.parameters:
        template["components"] = [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": text} for text in message.parameters],
            }
        ]
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": message.to,
        "type": "template",
        "template": template,
    }


class WhatsAppSender:
    def __init__(
        self,
        session: requests.Session,
        *,
        api_url: str,
        token: SecretStr,
        phone_number_id: str,
        timeout_s: float,
    ) -> None:
        self._session = session
        self._url = f"{api_url.rstrip('/')}/{phone_number_id}/messages"
        self._token = token
        self._timeout_s = timeout_s

    def send(self, message: WhatsAppMessage) -> str | None:
        """Send one template message; Meta's message id (``wamid....``)."""
        answers: list[requests.Response] = []

        def keep(response: requests.Response, **_: Any) -> None:
            answers.append(response)

        try:
            response = post(
                self._session,
                PROVIDER,
                self._url,
                timeout_s=self._timeout_s,
                json=request_body(message),
                headers={"Authorization": f"Bearer {self._token.get_secret_value()}"},
                # post() reads a top-level "code"; Meta nests it in "error", so the refusal
                # is judged again from the answer itself.
                hooks={"response": keep},
            )
        except SmsRejected as refused:
            raise refusal(answers[-1]) from refused
        return message_id(response)


def refusal(response: requests.Response) -> SmsProviderUnavailable | SmsRejected:
    """What a 4xx answer of Meta's means: throttled (retriable) or refused."""
    code = meta_error_code(response)
    detail = f"HTTP {response.status_code}" + (f" (Meta error {code})" if code is not None else "")
    if code in THROTTLING_CODES:
        return SmsProviderUnavailable(f"{PROVIDER} throttled the message: {detail}")
    return SmsRejected(f"{PROVIDER} refused the message: {detail}")


def meta_error_code(response: requests.Response) -> int | None:
    """``error.code`` of a Graph API error body; its ``message`` may quote the number."""
    error = json_field(response, "error")
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def message_id(response: requests.Response) -> str | None:
    """The ``wamid`` Meta answered an accepted message with."""
    messages = json_field(response, "messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
        return None
    wamid = messages[0].get("id")
    return wamid if isinstance(wamid, str) and wamid else None
