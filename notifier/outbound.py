"""One :class:`ChannelSender` per channel: a ledger's notification in, the provider's
message id out, through the channel's own sender (notifier/sms.py, notifier/whatsapp.py,
notifier/email_channel.py).

Each raises what its sender raises: :class:`SmsProviderUnavailable` (retriable) or
:class:`SmsRejected` (for good, which makes the delivery fall back to the next channel).
"""

from typing import Protocol

from notifier.email_channel import Email, EmailSender
from notifier.ledger import Notification
from notifier.sms import Sms, SmsSender
from notifier.whatsapp import WhatsAppMessage, WhatsAppSender


class ChannelSender(Protocol):
    def send(self, notification: Notification) -> str | None:
        """Send ``notification`` on its channel; the provider's message id when it gives one."""


class SmsChannel:
    def __init__(self, sender: SmsSender) -> None:
        self._sender = sender

    def send(self, notification: Notification) -> str | None:
        return self._sender.send(
            Sms(
                to=notification.address,
                text=notification.text,
                idempotency_key=notification.key,
                sender=notification.sender,
                dlt_template_id=notification.dlt_template_id,
            )
        )


class WhatsAppChannel:
    def __init__(self, sender: WhatsAppSender) -> None:
        self._sender = sender

    def send(self, notification: Notification) -> str | None:
        template = notification.whatsapp
        assert template is not None  # a notification on WhatsApp is made with its template
        return self._sender.send(
            WhatsAppMessage(
                to=notification.address,
                template=template.name,
                language=template.language,
                parameters=tuple(one_line(parameter) for parameter in template.parameters),
            )
        )


def one_line(parameter: str) -> str:
    """``parameter`` with each run of whitespace made one space: Meta refuses a template
    parameter with a newline, a tab or more than four consecutive spaces, and a document's
    text (an address, a comment) may hold any of them."""
    return " ".join(parameter.split())


class EmailChannel:
    def __init__(self, sender: EmailSender) -> None:
        self._sender = sender

    def send(self, notification: Notification) -> str | None:
        subject = notification.email_subject
        assert subject is not None  # a notification by email is made with its subject
        return self._sender.send(
            Email(to=notification.address, subject=subject, text=notification.text)
        )
