from typing import Any

import pytest

from notifier.errors import RuleProblem
from notifier.recipients import (
    AttributePhone,
    ContactPhone,
    FieldPhone,
    FixedPhone,
    parse_recipient,
    phone_field,
)
from tests.helpers import seed_document

AGENT = {
    "id": "a1",
    "name": "Ravi Kumar",
    "phone": "+91 98765 43210",
    "email": "ravi@kumar.example",
    "contacts": [
        {"name": "Anil Gupta", "phone": "+91 98765 43211", "email": "anil@kumar.example"},
        {"name": "Sita Rao", "phone": "98765 43212, office 080 2345 6789", "email": None},
    ],
    "attributes": {"Mobile": "+91 90000 00001", "Billing email": "accounts@kumar.example"},
}
DOCUMENT = seed_document(
    agent=AGENT,
    attributes={"Receiver phone": "+91 90000 00002", "Receiver email": "neha@shop.example"},
)


@pytest.mark.parametrize(
    ("recipient", "phone"),
    [
        ("counterparty", "+91 98765 43210"),
        ("first-contact", "+91 98765 43211"),
        ({"contact": "sita rao"}, "98765 43212, office 080 2345 6789"),
        ({"contact": "Nobody"}, None),
        ({"attribute": "Receiver phone"}, "+91 90000 00002"),
        ({"attribute": "Courier phone"}, None),
        ({"field": "agent.attributes.Mobile"}, "+91 90000 00001"),
        ({"field": "organization.name"}, "Acme Traders"),
        ({"phone": "+91 98765 00000"}, "+91 98765 00000"),
    ],
)
def test_each_recipient_kind_finds_its_phone(recipient: object, phone: str | None) -> None:
    assert parse_recipient(recipient).phone_text(DOCUMENT) == phone


@pytest.mark.parametrize(
    ("recipient", "email"),
    [
        ("counterparty", "ravi@kumar.example"),
        ("first-contact", "anil@kumar.example"),
        ({"contact": "ANIL GUPTA"}, "anil@kumar.example"),
        ({"contact": "sita rao"}, None),
        ({"contact": "Nobody"}, None),
        ({"attribute": "Receiver email"}, "neha@shop.example"),
        ({"attribute": "Receiver phone"}, "+91 90000 00002"),
        ({"attribute": "Courier email"}, None),
        ({"field": "agent.attributes.Billing email"}, "accounts@kumar.example"),
        ({"field": "agent.email"}, "ravi@kumar.example"),
        ({"field": "agent.phone"}, "ravi@kumar.example"),
        ({"phone": "+91 98765 00000"}, None),
    ],
)
def test_each_recipient_kind_finds_its_email(recipient: object, email: str | None) -> None:
    assert parse_recipient(recipient).email_text(DOCUMENT) == email


def test_a_contact_without_an_email_key_has_none() -> None:
    agent = {**AGENT, "contacts": [{"name": "Anil Gupta", "phone": "+91 98765 43211"}]}
    assert parse_recipient("first-contact").email_text(seed_document(agent=agent)) is None


def test_the_kinds_are_what_they_say() -> None:
    assert parse_recipient("counterparty") == phone_field("agent.phone")
    assert isinstance(parse_recipient("first-contact"), ContactPhone)
    assert isinstance(parse_recipient({"attribute": "X"}), AttributePhone)
    assert isinstance(parse_recipient({"field": "agent.email"}), FieldPhone)
    assert isinstance(parse_recipient({"phone": "+1 415 555 0100"}), FixedPhone)


@pytest.mark.parametrize(
    "agent",
    [None, {"id": "a1", "name": "R", "phone": None, "email": None}, {"contacts": "Anil"}],
)
def test_a_document_without_the_phone_gives_none(agent: Any) -> None:
    document = seed_document(agent=agent)
    assert parse_recipient("counterparty").phone_text(document) is None
    assert parse_recipient("first-contact").phone_text(document) is None
    assert parse_recipient({"contact": "Anil"}).phone_text(document) is None
    assert parse_recipient("counterparty").email_text(document) is None
    assert parse_recipient("first-contact").email_text(document) is None


def test_every_recipient_describes_itself_without_the_full_number() -> None:
    described = [
        parse_recipient(value).describe()
        for value in (
            "counterparty",
            "first-contact",
            {"contact": "Anil"},
            {"attribute": "Receiver phone"},
            {"field": "agent.email"},
            {"phone": "+91 98765 00000"},
        )
    ]
    assert described == [
        "counterparty phone",
        "first contact person",
        "contact person 'Anil'",
        "attribute 'Receiver phone'",
        "agent.email",
        "fixed number",
    ]


def test_every_recipient_says_whose_email_it_reads() -> None:
    described = [
        parse_recipient(value).describe_email()
        for value in (
            "counterparty",
            "first-contact",
            {"contact": "Anil"},
            {"attribute": "Receiver email"},
            {"field": "agent.attributes.Billing email"},
        )
    ]
    assert described == [
        "counterparty email",
        "first contact person",
        "contact person 'Anil'",
        "attribute 'Receiver email'",
        "agent.attributes.Billing email",
    ]


@pytest.mark.parametrize(
    ("recipient", "fragment"),
    [
        ("customer", "is not one of"),
        (5, "is not one of"),
        ({}, "is not one of"),
        ({"contact": "A", "phone": "+91 98765 00000"}, "is not one of"),
        ({"email": "x@y.in"}, "is not one of"),
        ({"contact": ""}, "contact: must be a non-empty text"),
        ({"phone": "98765 00000"}, "with its country code"),
        ({"phone": "+91 80 2345 6789"}, "not a valid mobile number"),
        ({"phone": "call the office"}, "not a valid mobile number"),
        ({"field": "agent.mobile"}, "phone path 'agent.mobile'"),
        ({"field": "sum"}, "phone path 'sum'"),
    ],
)
def test_a_bad_recipient_is_a_rule_problem(recipient: object, fragment: str) -> None:
    with pytest.raises(RuleProblem) as raised:
        parse_recipient(recipient)
    assert fragment in str(raised.value)
