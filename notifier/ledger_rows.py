"""What a ledger row holds, and how it is written to and read from the ``notifications``
table (notifier/ledger_schema.py). The operations on rows are notifier/ledger.py's."""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from notifier.channels import DEFAULT_CHANNELS, Channel, WhatsAppTemplate
from notifier.ledger_schema import DeliveryStatus, Status


@dataclass(frozen=True)
class Notification:
    """What one business event sends: everything needed to send it again later, on each
    channel it may use."""

    key: str
    document_id: str
    rule: str
    state: str
    phone: str | None
    """E.164; stored whole (it is needed to send), masked in every output. None: the
    document has no mobile number (an email may still go out)."""
    text: str
    """The SMS text, which is also the email's body."""
    sender: str | None = None
    dlt_template_id: str | None = None
    """The registered DLT content template ``text`` matches (Indian carriers need it)."""
    channels: tuple[Channel, ...] = DEFAULT_CHANNELS
    """The channels it may use, in the rule's order: each has its address here."""
    channel: Channel = Channel.SMS
    """The one it is (being) sent on."""
    email: str | None = None
    email_subject: str | None = None
    whatsapp: WhatsAppTemplate | None = None

    def __post_init__(self) -> None:
        # A row that could not be sent on one of its channels would fail only when its
        # turn comes, possibly hours later in the releaser: refuse it before the claim.
        if self.channel not in self.channels:
            raise ValueError(f"channel {self.channel} is not one of {self.channels}")
        for channel in self.channels:
            missing = {
                Channel.SMS: not self.phone,
                Channel.WHATSAPP: not self.phone or self.whatsapp is None,
                Channel.EMAIL: not self.email or self.email_subject is None,
            }[channel]
            if missing:
                raise ValueError(f"a notification on {channel} lacks its address or content")

    def channel_after(self, channel: Channel) -> Channel | None:
        """The channel to fall back to from ``channel``; None when it is the last one."""
        if channel not in self.channels:
            return None
        position = self.channels.index(channel)
        return self.channels[position + 1] if position + 1 < len(self.channels) else None

    @property
    def address(self) -> str:
        """Where :attr:`channel` sends it: the phone, or the email address."""
        address = self.email if self.channel is Channel.EMAIL else self.phone
        assert address is not None  # checked when the notification was made
        return address


@dataclass(frozen=True)
class LedgerEntry:
    notification: Notification
    status: Status
    provider_message_id: str | None
    attempts: int
    last_error: str | None
    due_at: datetime | None
    created_at: datetime
    updated_at: datetime
    delivery_status: DeliveryStatus | None = None
    """The provider's last report on the message; None until it sends one."""
    fallback_from: Channel | None = None
    """The channel it was first sent on, when it fell back to :attr:`Notification.channel`."""
    fallback_reason: str | None = None
    """Why the first channel failed for good."""
    replaced_message_id: str | None = None
    """The first channel's message id, when it fell back after that channel accepted it."""


def row_values(notification: Notification) -> dict[str, Any]:
    """The notification's columns of a new row."""
    whatsapp = notification.whatsapp
    return {
        "key": notification.key,
        "document_id": notification.document_id,
        "rule": notification.rule,
        "state": notification.state,
        # The column predates email and is NOT NULL: "" stands for no phone.
        "phone": notification.phone or "",
        "text": notification.text,
        "sender": notification.sender,
        "dlt_template_id": notification.dlt_template_id,
        "channel": notification.channel,
        "channels": ",".join(notification.channels),
        "email": notification.email,
        "email_subject": notification.email_subject,
        "whatsapp": json.dumps(
            {
                "name": whatsapp.name,
                "language": whatsapp.language,
                "parameters": list(whatsapp.parameters),
            },
            ensure_ascii=False,
        )
        if whatsapp
        else None,
    }


def entry_of(row: Row[Any]) -> LedgerEntry:
    """The row as an entry; columns a row of an SMS-only version lacks read as SMS."""
    return LedgerEntry(
        notification=Notification(
            key=row.key,
            document_id=row.document_id,
            rule=row.rule,
            state=row.state,
            phone=row.phone or None,
            text=row.text,
            sender=row.sender,
            dlt_template_id=row.dlt_template_id,
            channels=tuple(Channel(name) for name in row.channels.split(","))
            if row.channels
            else DEFAULT_CHANNELS,
            channel=Channel(row.channel) if row.channel else Channel.SMS,
            email=row.email,
            email_subject=row.email_subject,
            whatsapp=_template(row.whatsapp),
        ),
        status=Status(row.status),
        provider_message_id=row.provider_message_id,
        attempts=row.attempts,
        last_error=row.last_error,
        due_at=row.due_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        delivery_status=DeliveryStatus(row.delivery_status) if row.delivery_status else None,
        fallback_from=Channel(row.fallback_from) if row.fallback_from else None,
        fallback_reason=row.fallback_reason,
        replaced_message_id=row.replaced_message_id,
    )


def _template(stored: str | None) -> WhatsAppTemplate | None:
    if stored is None:
        return None
    fields = json.loads(stored)
    return WhatsAppTemplate(
        name=fields["name"], language=fields["language"], parameters=tuple(fields["parameters"])
    )
