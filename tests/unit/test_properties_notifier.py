"""Property tests: free-text phone numbers and any enriched document the enricher can
publish give the notifier a message, no message, or one of its documented errors.

The rules loader has its own property tests (``test_notifier_rules_properties.py``);
these feed the documents the enricher really builds, from any Kladana answer, to rules
that show every kind of field in several locales and time zones.
"""

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from hypothesis import assume, given
from hypothesis import strategies as st

from enricher.documents import to_document
from enricher.errors import InvalidDocument
from notifier.errors import DocumentIncomplete, RulesError
from notifier.phones import SMS_CAPABLE_TYPES, first_mobile_number
from notifier.render import DEFAULT_DATE_FORMAT, format_date
from notifier.rules import RuleSet
from shared.errors import MalformedEvent
from shared.kladana_types import TRANSACTION_TYPES
from tests.unit.property_strategies import (
    FAST,
    ZONES,
    kladana_documents,
    result_or_error,
    zones,
)

phone_texts = st.one_of(
    st.text(max_size=60),
    st.text(alphabet="+0123456789 -()./,;x", max_size=60),
    st.text(st.characters(categories=["Nd"]) | st.sampled_from("+ -"), max_size=30),
    st.sampled_from(["+91 98765 43210", "098765 43210", "9" * 5000, "+" * 300, "tel:+1-202-555"]),
)
regions = st.sampled_from(["IN", "RU", "US", "DE", "AE", "001", "ZZ"]).filter(
    lambda region: region in phonenumbers.SUPPORTED_REGIONS
) | st.sampled_from(sorted(phonenumbers.SUPPORTED_REGIONS))


@FAST
@given(phone_texts, regions)
def test_any_phone_text_gives_a_valid_mobile_number_or_none(text: str, region: str) -> None:
    number = first_mobile_number(text, region)
    if number is not None:
        parsed = phonenumbers.parse(number)
        assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == number
        assert phonenumbers.number_type(parsed) in SMS_CAPABLE_TYPES


TEMPLATES = [
    "{id} {type} {title} {entity} {href} {state}",
    "{number} {moment} {date}",
    "{moment:d MMM y HH:mm} {moment:full} {moment:EEEE}",
    "{sum} {amount} {sum.amount} {sum.minor} {sum.currency}",
    "{sum:currency}",
    "{customer} {agent.id} {agent.phone} {agent.email} {agent.tags} {organization.name}",
    "{attributes.Courier} {attributes.Advance:money} {attributes.Due}",
    "{agent.attributes.Courier} {agent.attributes.Advance:money}",
]
RECIPIENTS = [
    '"counterparty"',
    '"first-contact"',
    '{ attribute = "Courier" }',
    '{ field = "agent.email" }',
    '{ contact = "Anil" }',
]
WHEN = [
    "",
    "[rule.when]\nsum = { gte = 10000 }\n",
    '[rule.when]\n"attributes.Courier" = { exists = true }\n',
]
rules_files = st.builds(
    lambda template, locale, recipient, when: (
        f'[[rule]]\nname = "fuzz"\ntype = "CustomerOrder"\nstate = "Shipped"\n'
        f'template = "{template}"\nlocale = "{locale}"\nrecipient = {recipient}\n{when}'
    ),
    st.sampled_from(TEMPLATES),
    st.sampled_from(["en_IN", "de_DE", "ar_EG", "hi_IN", "ru_RU"]),
    st.sampled_from(RECIPIENTS),
    st.sampled_from(WHEN),
)


# What the generated documents leave out is taken from here, so most rules match.
SEED: dict[str, Any] = {
    "meta": {"href": "https://api.kladana.com/api/remap/1.2/entity/customerorder/doc-1"},
    "name": "5643",
    "moment": "2024-06-10 12:57:00.000",
    "sum": 5000000,
    "rate": {"currency": {"isoCode": "INR"}},
    "organization": {"name": "Ganesh Traders"},
    "agent": {
        "id": "a5dbd202",
        "name": "Priya",
        "phone": "+91 98765 43210",
        "email": "+91 98765 43211",
        "tags": ["vip"],
        "attributes": [{"name": "Courier", "value": "BlueDart"}, {"name": "Advance", "value": 15}],
        "contactpersons": {"rows": [{"name": "Anil", "phone": "98765 43212"}]},
    },
    "attributes": [
        {"name": "Courier", "value": "+91 98765 43213"},
        {"name": "Advance", "value": 1500.5},
        {"name": "Due", "type": "time", "value": "2024-06-12 10:00:00.000"},
    ],
}


def _enriched(kladana: dict[str, Any], zone: ZoneInfo) -> dict[str, Any] | None:
    """The enricher's document for a Sales Order, or ``None`` when it refuses it."""
    sales_order = TRANSACTION_TYPES.by_name("CustomerOrder")
    assert sales_order is not None
    document = result_or_error(
        lambda: to_document(
            {**kladana, "id": "doc-1"}, transaction_type=sales_order, timezone=zone
        ),
        InvalidDocument,
    )
    return None if isinstance(document, InvalidDocument) else document


@FAST
@given(kladana_documents, st.data(), rules_files, zones, zones)
def test_any_enriched_document_is_planned_or_refused_with_a_documented_error(
    kladana: dict[str, Any],
    data: st.DataObject,
    rules_file: str,
    account_zone: ZoneInfo,
    notifier_zone: ZoneInfo,
) -> None:
    # A generated document is odd in many places; the seed's fields, taken where only a
    # few of them are odd, let more rules match and render.
    fields = st.sampled_from(sorted(kladana))
    odd_fields = data.draw(st.sets(fields, max_size=2)) if kladana else set()
    taken = data.draw(st.sampled_from([set(kladana), odd_fields]))
    shipped = {
        **SEED,
        **{key: kladana[key] for key in taken},
        "state": {"name": "Shipped"},
    }
    document = _enriched(shipped, account_zone)
    assume(document is not None)
    assert document is not None
    rules = RuleSet.parse(rules_file, source="fuzz", timezone=notifier_zone)
    planned = result_or_error(lambda: rules.plan(document), DocumentIncomplete, MalformedEvent)
    if isinstance(planned, Exception):
        assert str(planned)
        return
    for message in planned:
        assert message.text
        first_mobile_number(message.phone_text, "IN")


@FAST
@given(
    st.one_of(
        st.datetimes(timezones=st.sampled_from([UTC, *ZONES])).map(datetime.isoformat),
        # The ends of the calendar, where a change of zone can leave it.
        st.sampled_from(["9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00-00:01"]),
        st.text(max_size=30),
    ),
    zones,
    st.sampled_from(["en_IN", "de_DE", "ar_EG"]),
    st.sampled_from([DEFAULT_DATE_FORMAT, "full", "d MMM y HH:mm", "EEEE"]),
)
def test_any_moment_is_shown_as_a_date_or_refused_with_a_documented_error(
    moment: str, zone: ZoneInfo, locale: str, pattern: str
) -> None:
    shown = result_or_error(
        lambda: format_date(moment, zone, locale, pattern), MalformedEvent, DocumentIncomplete
    )
    assert shown


def _nested(depth: int, opening: str, closing: str) -> str:
    return opening * depth + closing * depth


rules_bytes = st.one_of(
    st.binary(max_size=200),
    rules_files.map(str.encode),
    st.builds(
        lambda key, depth, brackets: f"{key} = {_nested(depth, *brackets)}\n".encode(),
        st.sampled_from(["a", "[[rule]]\nwhen"]),
        st.integers(min_value=1, max_value=3_000),
        st.sampled_from([("[", "]"), ("{x = ", "}")]),
    ),
)


@FAST
@given(rules_bytes)
def test_any_rules_file_loads_or_is_refused_with_a_message_naming_it(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "rules.toml"
        path.write_bytes(content)
        loaded = result_or_error(lambda: RuleSet.load(path), RulesError)
    if isinstance(loaded, RulesError):
        assert str(loaded).startswith(f"rules file {path}: ")
    else:
        assert loaded.rules
