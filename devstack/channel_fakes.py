"""``make run``'s WhatsApp and email: the sandbox's fake WhatsApp Cloud API and a local
SMTP sink, unless the user configured real ones (docs/channels.md, "Trying it locally").

WhatsApp: the notifier sends to the sandbox's fake with its public demo token, and the
fake posts its signed statuses to the notifier's ``/whatsapp/webhook``. Email: the
notifier sends to :mod:`devstack.smtp_sink`, which prints each email on the console.
Values the user set win; the webhook's verify token is drawn afresh for this run.
"""

import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from devstack.sms_fakes import FakeEnvironment
from notifier.whatsapp_webhook import WEBHOOK_PATH, WHATSAPP_MOUNT
from sandbox.whatsapp import DEFAULT_APP_SECRET, DEFAULT_WHATSAPP_TOKEN, WHATSAPP_PREFIX

DEMO_PHONE_NUMBER_ID = "106540352242922"
"""A made-up business phone number id, as WhatsApp Manager shows one."""
DEMO_EMAIL_FROM = "Ganesh Traders <orders@ganeshtraders.example>"
"""The sandbox's shop (its documents' organization), as the sender of make run's email."""


def whatsapp_fake_environment(
    environ: Mapping[str, str], sandbox_url: str, notifier_url: str
) -> FakeEnvironment | None:
    """What points the notifier at the sandbox's fake and the fake back at the notifier;
    None when the user gave a WhatsApp token of their own (a real Cloud API)."""
    if environ.get("WHATSAPP_TOKEN"):
        return None
    return FakeEnvironment(
        notifier={
            "WHATSAPP_API_URL": f"{sandbox_url}{WHATSAPP_PREFIX}/v21.0",
            "WHATSAPP_TOKEN": DEFAULT_WHATSAPP_TOKEN,
            "WHATSAPP_PHONE_NUMBER_ID": DEMO_PHONE_NUMBER_ID,
            "WHATSAPP_APP_SECRET": DEFAULT_APP_SECRET,
            "WHATSAPP_VERIFY_TOKEN": secrets.token_urlsafe(24),
        },
        sandbox={"SANDBOX_WHATSAPP_WEBHOOK_URL": f"{notifier_url}{WHATSAPP_MOUNT}{WEBHOOK_PATH}"},
    )


@dataclass(frozen=True)
class EmailSink:
    port: int

    def notifier_environment(self, environ: Mapping[str, str]) -> dict[str, str]:
        return {
            "SMTP_URL": f"smtp://127.0.0.1:{self.port}",
            "EMAIL_FROM": environ.get("EMAIL_FROM") or DEMO_EMAIL_FROM,
        }

    def environment(self) -> dict[str, str]:
        """The sink process's own."""
        return {"SMTP_SINK_PORT": str(self.port)}


def email_sink(environ: Mapping[str, str], port: int) -> EmailSink | None:
    """The local sink on ``port``; None when the user gave an SMTP server of their own."""
    return None if environ.get("SMTP_URL") else EmailSink(port)
