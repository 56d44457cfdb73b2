"""Property tests: the rules loader only ever refuses with RulesError, and a loaded
rule set never fails on a document for a reason of its own."""

import contextlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.errors import DocumentIncomplete, RulesError
from notifier.rules import ALLOWED_KEYS, RuleSet
from shared.kladana_types import TRANSACTION_TYPES

FIELD_PATHS = [
    "sum",
    "sum.minor",
    "number",
    "state",
    "moment",
    "agent.tags",
    "agent.name",
    "attributes.Courier",
    "agent.attributes.Tier",
    "nope",
    "",
]
OPERATORS = ["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "exists", "x"]
TEMPLATES = [
    "{number} {date} {amount} {customer}",
    "{sum:currency} {moment:d MMM y} {attributes.Courier} {agent.tags}",
    "{attributes.Advance:money} {agent.attributes.Tier}",
    "{moment:qqqqqq}",
    "{number!r}",
    "{",
    "}",
    "{sum:x}",
    "{0}",
]
STATES = ["Shipped", "New", "shipped ", "Issued"]

scalars = st.one_of(
    st.text(max_size=12),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.sampled_from([*FIELD_PATHS, *OPERATORS, *STATES, *TRANSACTION_TYPES.names]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from([*FIELD_PATHS, *OPERATORS, "phone", "contact"]), inner, max_size=3
        ),
    ),
    max_leaves=8,
)
when = st.dictionaries(
    st.sampled_from(FIELD_PATHS),
    st.one_of(scalars, st.dictionaries(st.sampled_from(OPERATORS), values, max_size=2)),
    max_size=3,
)
rule_values: dict[str, Any] = {
    "name": st.one_of(st.sampled_from(["a", "b"]), st.text(max_size=5), values),
    "type": st.one_of(st.sampled_from([*TRANSACTION_TYPES.names, "SalesOrder"]), values),
    "state": st.one_of(st.sampled_from(STATES), values),
    "template": st.one_of(st.sampled_from(TEMPLATES), st.text(max_size=20), values),
    "when": st.one_of(when, values),
    "recipient": st.one_of(
        st.sampled_from(
            [
                "counterparty",
                "first-contact",
                {"contact": "Anil"},
                {"attribute": "Receiver"},
                {"field": "agent.phone"},
                {"phone": "+91 98765 00000"},
                {"phone": "12"},
            ]
        ),
        values,
    ),
    "sender": st.one_of(st.just("ACME"), values),
    "locale": st.one_of(st.sampled_from(["en_IN", "de_DE", "xx", "en-IN"]), values),
    "quiet_hours": st.one_of(
        st.sampled_from(["21:00-09:00", "21:00-09:00 Europe/London", "9-5", "10:00-10:00"]), values
    ),
    "phone": st.one_of(st.sampled_from(["agent.phone", "agent", "sum"]), values),
    "dlt_template_id": st.one_of(st.just("1107161234567890123"), values),
    "dlt_template": st.one_of(st.sampled_from(["{#var#} {#var#}", "Order {#var#}"]), values),
    "max_segments": st.one_of(st.integers(-1, 12), values),
    "templates": st.one_of(
        st.dictionaries(
            st.sampled_from(["hi", "ta", "Hindi", "xx"]),
            st.one_of(st.sampled_from(TEMPLATES), values),
            max_size=2,
        ),
        values,
    ),
    "channels": st.one_of(
        st.sampled_from([["sms"], ["whatsapp", "sms"], ["email"], ["sms", "sms"], [], ["fax"]]),
        values,
    ),
    "whatsapp_template": st.one_of(st.sampled_from(["order_shipped", "Order Shipped"]), values),
    "whatsapp_language": st.one_of(st.sampled_from(["en", "en_US", "EN", "en-US"]), values),
    "whatsapp_parameters": st.one_of(st.lists(st.sampled_from(TEMPLATES), max_size=3), values),
    "email_subject": st.one_of(st.sampled_from(TEMPLATES), st.text(max_size=20), values),
    "extra": values,
}
junk_tables = st.lists(
    st.sampled_from([*ALLOWED_KEYS, "extra"]), unique=True, max_size=len(ALLOWED_KEYS)
).flatmap(lambda keys: st.fixed_dictionaries({key: rule_values[key] for key in keys}))
good_when = st.dictionaries(
    st.sampled_from(["sum", "number", "agent.tags", "attributes.Courier", "state"]),
    st.one_of(
        st.sampled_from(["Shipped", "BlueDart"]),
        st.fixed_dictionaries(
            {},
            optional={
                "gte": st.integers(0, 10**6),
                "contains": st.sampled_from(["vip", "Blue"]),
                "exists": st.booleans(),
                "in": st.lists(st.sampled_from(["Shipped", "New"]), min_size=1),
            },
        ).filter(bool),
    ),
    max_size=2,
)
good_channel_keys = st.sampled_from(
    [
        {},
        {
            "channels": ["whatsapp", "sms"],
            "whatsapp_template": "order_shipped",
            "whatsapp_parameters": ["{number}", "{date}", "{amount}"],
        },
        {"channels": ["email", "sms"], "email_subject": "Order {number} for {customer}"},
    ]
)
good_tables = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["a", "b", "c"]),
        "type": st.sampled_from(["CustomerOrder", "InvoiceOut", "PaymentIn"]),
        "state": st.sampled_from(STATES),
        "template": st.sampled_from(TEMPLATES[:3]),
    },
    optional={
        "when": good_when,
        "recipient": st.sampled_from(
            ["counterparty", "first-contact", {"contact": "Anil"}, {"phone": "+91 98765 00000"}]
        ),
        "sender": st.just("ACME"),
        "locale": st.sampled_from(["en_IN", "de_DE", "fr_FR"]),
        "quiet_hours": st.sampled_from(["21:00-09:00", "21:00-09:00 Europe/London"]),
    },
).flatmap(lambda table: good_channel_keys.map(lambda keys: {**table, **keys}))
rule_tables = st.one_of(good_tables, junk_tables)


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, float) and abs(value) == float("inf"):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{_toml(k)} = {_toml(v)}" for k, v in value.items()) + "}"


def _rules_file(tables: list[dict[str, Any]]) -> str:
    return "".join(
        "[[rule]]\n" + "".join(f"{_toml(k)} = {_toml(v)}\n" for k, v in table.items())
        for table in tables
    )


@given(st.text())
def test_any_text_loads_or_is_refused_with_rules_error(text: str) -> None:
    with contextlib.suppress(RulesError):
        RuleSet.parse(text, source="fuzz")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rule_tables, min_size=1, max_size=3))
def test_any_rules_table_loads_or_is_refused_with_rules_error(tables: list[dict[str, Any]]) -> None:
    try:
        RuleSet.parse(_rules_file(tables), source="fuzz")
    except RulesError as error:
        message = str(error)
    else:
        return
    assert message.startswith("rules file fuzz: ")


texts = st.one_of(st.none(), st.text(max_size=10))
documents = st.fixed_dictionaries(
    {
        "id": st.just("doc-1"),
        "type": st.sampled_from(TRANSACTION_TYPES.names),
        "entity": st.just("x"),
        "href": texts,
        "number": texts,
        "moment": st.one_of(
            st.none(),
            st.datetimes(timezones=st.just(UTC), min_value=datetime(1900, 1, 1)).map(
                datetime.isoformat
            ),
        ),
        "sum": st.one_of(
            st.none(),
            st.integers(min_value=-(10**15), max_value=10**15).map(
                lambda minor: {
                    "minor": minor,
                    "amount": f"{Decimal(minor).scaleb(-2):.2f}",
                    "currency": "INR",
                }
            ),
        ),
        "state": st.one_of(st.none(), st.sampled_from(STATES)),
        "agent": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {"id": texts, "name": texts, "phone": texts, "email": texts},
                optional={
                    "tags": st.lists(st.text(max_size=5), max_size=3),
                    "attributes": st.dictionaries(st.sampled_from(["Tier"]), scalars),
                    "contacts": st.lists(
                        st.fixed_dictionaries(
                            {"name": texts, "phone": texts}, optional={"email": texts}
                        ),
                        max_size=2,
                    ),
                },
            ),
        ),
        "organization": st.one_of(st.none(), st.fixed_dictionaries({"name": texts})),
    },
    optional={
        "attributes": st.dictionaries(st.sampled_from(["Courier", "Advance"]), scalars),
    },
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rule_tables, min_size=1, max_size=3), documents)
def test_a_loaded_rule_set_plans_any_document_or_says_what_it_lacks(
    tables: list[dict[str, Any]], document: dict[str, Any]
) -> None:
    try:
        rules = RuleSet.parse(_rules_file(tables), source="fuzz")
    except RulesError:
        return
    try:
        messages = rules.plan(document)
    except DocumentIncomplete:
        return
    assert all(isinstance(message.text, str) for message in messages)
    for message in messages:
        assert (message.whatsapp is not None) == ("whatsapp" in message.channels)
        assert (message.email_subject is not None) == ("email" in message.channels)


FULL_RULE = (
    '[[rule]]\nname = "all"\ntype = "CustomerOrder"\nstate = "Shipped"\n'
    'template = "{number} {date} {sum:currency} {moment:d MMM y HH:mm} {agent.tags}'
    ' {attributes.Courier} {attributes.Advance:money} {agent.attributes.Tier}"\n'
    'recipient = "first-contact"\n'
    'channels = ["whatsapp", "email", "sms"]\n'
    'whatsapp_template = "everything"\n'
    'whatsapp_parameters = ["{number}", "{agent.tags}", "{attributes.Courier}", "{date:long}"]\n'
    'email_subject = "{attributes.Courier} {agent.attributes.Tier} {number}"\n'
    "[rule.when]\nsum = { gte = 0 }\n"
)


@settings(max_examples=300)
@given(documents.map(lambda document: {**document, "type": "CustomerOrder", "state": "Shipped"}))
def test_a_rule_using_every_kind_of_field_plans_any_document(document: dict[str, Any]) -> None:
    rules = RuleSet.parse(FULL_RULE, source="fuzz")
    try:
        messages = rules.plan(document)
    except DocumentIncomplete:
        return
    matches = document["sum"] is not None and document["sum"]["minor"] >= 0
    assert [message.rule for message in messages] == (["all"] if matches else [])
    for message in messages:
        assert message.whatsapp is not None
        assert len(message.whatsapp.parameters) == 4
        # A subject is one header line whatever the document's values hold.
        assert message.email_subject is not None
        assert "\n" not in message.email_subject
        assert "\r" not in message.email_subject
