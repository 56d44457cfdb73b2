"""Who gets a rule's message: where in the document its phone number and email address
are written.

    recipient = "counterparty"                # default: agent.phone
    recipient = "first-contact"               # the counterparty's first contact person
    recipient = { contact = "Anil Gupta" }    # a contact person by name (case ignored)
    recipient = { attribute = "Receiver phone" }  # a document attribute by name
    recipient = { field = "agent.attributes.Mobile" }  # any text field
    recipient = { phone = "+91 98765 00000" } # a fixed number, e.g. for staff alerts

Every kind returns the phone and the email address as free text (Kladana's fields are
free text); the handler picks the first SMS-capable number and the first address from
them. The email address is the one written beside the phone: the counterparty's email,
the contact person's, or the named field itself (an attribute may hold an address); a
fixed number has none.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from notifier.errors import RuleProblem
from notifier.fields import Field, Kind, attribute, field_named, value_of
from notifier.phones import first_mobile_number

# No default region: a fixed number must carry its country code to be unambiguous.
_NO_REGION = "ZZ"


@dataclass(frozen=True)
class FieldPhone:
    """A text field of the document: ``agent.phone`` is the counterparty's phone."""

    field: Field

    def phone_text(self, document: Mapping[str, Any]) -> str | None:
        return _text(value_of(document, self.field))

    def email_text(self, document: Mapping[str, Any]) -> str | None:
        # Any other field is the recipient's own, which may hold an address
        # ({ field = "agent.email" }).
        field = COUNTERPARTY_EMAIL if self.is_counterparty else self.field
        return _text(value_of(document, field))

    def describe(self) -> str:
        return "counterparty phone" if self.is_counterparty else self.field.path

    def describe_email(self) -> str:
        return "counterparty email" if self.is_counterparty else self.field.path

    @property
    def is_counterparty(self) -> bool:
        return self.field.path == "agent.phone"


@dataclass(frozen=True)
class ContactPhone:
    """A contact person of the counterparty: by name, or the first when ``name`` is None."""

    name: str | None

    def phone_text(self, document: Mapping[str, Any]) -> str | None:
        contact = self._contact(document)
        return _text(contact.get("phone")) if contact is not None else None

    def email_text(self, document: Mapping[str, Any]) -> str | None:
        contact = self._contact(document)
        return _text(contact.get("email")) if contact is not None else None

    def describe(self) -> str:
        return "first contact person" if self.name is None else f"contact person {self.name!r}"

    def describe_email(self) -> str:
        return self.describe()

    def _contact(self, document: Mapping[str, Any]) -> Mapping[str, Any] | None:
        agent = document.get("agent")
        contacts = agent.get("contacts") if isinstance(agent, Mapping) else None
        wanted = self.name.strip().casefold() if self.name is not None else None
        for contact in contacts if isinstance(contacts, list) else []:
            if not isinstance(contact, Mapping):
                continue
            if wanted is None or str(contact.get("name")).strip().casefold() == wanted:
                return contact
        return None


@dataclass(frozen=True)
class AttributePhone:
    """A document attribute (additional field) by name."""

    name: str

    def phone_text(self, document: Mapping[str, Any]) -> str | None:
        return _text(attribute(document, self.name))

    def email_text(self, document: Mapping[str, Any]) -> str | None:
        # The attribute names whom to write to, so it may as well hold an address.
        return self.phone_text(document)

    def describe(self) -> str:
        return f"attribute {self.name!r}"

    def describe_email(self) -> str:
        return self.describe()


@dataclass(frozen=True)
class FixedPhone:
    number: str

    def phone_text(self, document: Mapping[str, Any]) -> str | None:
        return self.number

    def email_text(self, document: Mapping[str, Any]) -> str | None:
        return None

    def describe(self) -> str:
        return "fixed number"

    def describe_email(self) -> str:
        return self.describe()


Recipient = FieldPhone | ContactPhone | AttributePhone | FixedPhone

COUNTERPARTY = FieldPhone(Field("agent.phone", Kind.TEXT))
COUNTERPARTY_EMAIL = Field("agent.email", Kind.TEXT)
KINDS = '"counterparty", "first-contact", or a table with contact, attribute, field or phone'


def parse_recipient(value: object) -> Recipient:
    """The ``recipient`` of a rule; :class:`RuleProblem` says what is wrong."""
    if value == "counterparty":
        return COUNTERPARTY
    if value == "first-contact":
        return ContactPhone(None)
    if not isinstance(value, Mapping) or len(value) != 1:
        raise RuleProblem(f"recipient {value!r} is not one of: {KINDS}")
    ((kind, argument),) = value.items()
    if not isinstance(argument, str) or not argument.strip():
        raise RuleProblem(f"recipient {kind}: must be a non-empty text")
    if kind == "contact":
        return ContactPhone(argument)
    if kind == "attribute":
        return AttributePhone(argument)
    if kind == "field":
        return phone_field(argument)
    if kind == "phone":
        if first_mobile_number(argument, _NO_REGION) is None:
            raise RuleProblem(
                "recipient phone: not a valid mobile number with its country code, e.g. +91 ..."
            )
        return FixedPhone(argument)
    raise RuleProblem(f"recipient {value!r} is not one of: {KINDS}")


def phone_field(path: str) -> FieldPhone:
    """A text field holding a phone; the rules file's older ``phone = "path"`` key too."""
    field = field_named(path)
    if field is None or field.kind not in (Kind.TEXT, Kind.ANY):
        raise RuleProblem(f"phone path {path!r} is not a text field of the document")
    return FieldPhone(field)


def _text(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value.strip() else None
