"""The channels a message can go out on, and what each needs beside the text.

A rule lists its channels in order of preference (``channels = ["whatsapp", "sms"]``);
a message goes out on the first one the customer has an address for and, when that one
fails for good, on the next one, once (docs/channels.md, "Fallback").
"""

from dataclasses import dataclass
from enum import StrEnum


class Channel(StrEnum):
    WHATSAPP = "whatsapp"
    SMS = "sms"
    EMAIL = "email"

    @property
    def needs_phone(self) -> bool:
        return self is not Channel.EMAIL


DEFAULT_CHANNELS = (Channel.SMS,)


@dataclass(frozen=True)
class WhatsAppTemplate:
    """An approved WhatsApp template with its body parameters rendered for one document."""

    name: str
    language: str
    """The template's language code as approved in WhatsApp Manager, e.g. ``en``."""
    parameters: tuple[str, ...] = ()
    """The body's ``{{1}}``, ``{{2}}``, ... in order."""
