"""Which enriched documents send which SMS: the rules file, checked once at start-up.

Every problem a rule can have (syntax, unknown key, type, field, format, recipient,
locale or quiet hours, a template that does not render on the sample document of the
rule's type, a condition or recipient reading a field that type lacks) is found by
:meth:`RuleSet.load`, so a loaded rule never fails at send time for a reason of its own.
The language is described in docs/rules.md.
"""

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError

from notifier.conditions import Condition, parse_when
from notifier.errors import DocumentIncomplete, RuleProblem, RulesError
from notifier.fields import Kind, value_of
from notifier.quiet_hours import DEFAULT_ZONE, QuietHours, parse_quiet_hours
from notifier.recipients import (
    COUNTERPARTY,
    ContactPhone,
    FieldPhone,
    Recipient,
    parse_recipient,
    phone_field,
)
from notifier.render import Template, parse_template
from notifier.samples import sample_document
from notifier.segments import sms_length
from shared.kladana_types import TRANSACTION_TYPES

DEFAULT_LOCALE = "en_IN"
MAX_TEMPLATE_SEGMENTS = 10
"""A text longer than this many SMS segments on a sample is a mistake, not a message:
carriers and providers cap concatenated SMS around here, and each segment is billed."""
REQUIRED_KEYS = ("name", "type", "template")
OPTIONAL_KEYS = ("state", "when", "recipient", "sender", "locale", "quiet_hours", "phone")
ONCE = "*"
"""The state part of the notification key of a rule without ``state``: the same for
every update of a document, so such a rule sends once per document."""
ALLOWED_KEYS = (*REQUIRED_KEYS, *OPTIONAL_KEYS)


@dataclass(frozen=True)
class PlannedMessage:
    rule: str
    state: str
    """The state part of the notification key: the document's state that triggered it,
    or :data:`ONCE` for a rule without a state."""
    phone_text: str | None
    """The recipient's phone as written (free text) or the fixed number."""
    text: str
    sender: str | None
    quiet_hours: QuietHours | None


@dataclass(frozen=True)
class Rule:
    name: str
    type: str
    state: str | None
    """``None``: any state, once per document."""
    conditions: tuple[Condition, ...]
    template: Template
    recipient: Recipient
    sender: str | None
    locale: str
    quiet_hours: QuietHours | None

    def matches(self, document: Mapping[str, Any]) -> bool:
        """Same type, the same state name ignoring case (people type state names) when the
        rule names one, and every condition holds."""
        return self.applies_to(document) and not self.failed_conditions(document)

    def applies_to(self, document: Mapping[str, Any]) -> bool:
        if document.get("type") != self.type:
            return False
        if self.state is None:
            return True
        state = document.get("state")
        return isinstance(state, str) and state.strip().casefold() == self.state.strip().casefold()

    def failed_conditions(self, document: Mapping[str, Any]) -> list[Condition]:
        return [condition for condition in self.conditions if not condition.holds(document)]

    def sample(self) -> dict[str, Any]:
        """A sample document of this rule's type and state (the type's own without one),
        with the attributes it shows."""
        return sample_document(self.type, self.state, self.template.sample_attributes())

    def render(self, document: Mapping[str, Any], zone: ZoneInfo) -> str:
        return self.template.render(document, locale=self.locale, zone=zone)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    source: str
    timezone: ZoneInfo = DEFAULT_ZONE
    """The zone dates are shown in (NOTIFY_TIMEZONE)."""

    @classmethod
    def load(cls, path: Path | None, *, timezone: ZoneInfo = DEFAULT_ZONE) -> "RuleSet":
        """The rules in ``path``, or the bundled default rules when it is ``None``."""
        if path is None:
            text = resources.files("notifier").joinpath("default_rules.toml").read_text()
            return cls.parse(text, source="default_rules.toml", timezone=timezone)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise RulesError(f"rules file {path}: cannot be read: {error}") from None
        return cls.parse(text, source=str(path), timezone=timezone)

    @classmethod
    def parse(cls, text: str, *, source: str, timezone: ZoneInfo = DEFAULT_ZONE) -> "RuleSet":
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise RulesError(f"rules file {source}: TOML syntax error: {error}") from None
        except RecursionError:
            # tomllib parses nested arrays and tables recursively.
            raise RulesError(f"rules file {source}: arrays or tables nested too deeply") from None
        unknown = sorted(set(document) - {"rule"})
        if unknown:
            raise RulesError(f"rules file {source}: unknown top-level key(s) {', '.join(unknown)}")
        tables = document.get("rule")
        if not isinstance(tables, list) or not tables:
            raise RulesError(f"rules file {source}: no [[rule]] tables")
        rules = tuple(
            _parse_rule(table, index, source, timezone) for index, table in enumerate(tables, 1)
        )
        seen: set[str] = set()
        for rule in rules:
            if rule.name in seen:
                # The name is part of the notification's key, so it must single out one rule.
                raise RulesError(f"rules file {source}: rule {rule.name!r}: the name is used twice")
            seen.add(rule.name)
        return cls(rules=rules, source=source, timezone=timezone)

    def plan(self, document: Mapping[str, Any]) -> list[PlannedMessage]:
        """A message for every rule ``document`` matches, rendered, in file order.

        All are rendered before any is returned, so a document lacking a value one of
        its rules shows (:class:`DocumentIncomplete`) gets no message at all.
        """
        return [self._planned(rule, document) for rule in self.rules if rule.matches(document)]

    def _planned(self, rule: Rule, document: Mapping[str, Any]) -> PlannedMessage:
        try:
            text = rule.render(document, self.timezone)
        except DocumentIncomplete as error:
            raise DocumentIncomplete(
                f"rule {rule.name!r}, document {document.get('id')}: {error}"
            ) from None
        return PlannedMessage(
            rule=rule.name,
            state=ONCE if rule.state is None else str(document["state"]),
            phone_text=rule.recipient.phone_text(document),
            text=text,
            sender=rule.sender,
            quiet_hours=rule.quiet_hours,
        )


def _parse_rule(table: object, index: int, source: str, timezone: ZoneInfo) -> Rule:
    name = table.get("name") if isinstance(table, dict) else None
    label = repr(name) if isinstance(name, str) and name.strip() else f"#{index}"
    try:
        if not isinstance(table, dict):
            raise RuleProblem("is not a table")
        return _checked_rule(table, timezone)
    except RuleProblem as problem:
        raise RulesError(f"rules file {source}: rule {label}: {problem}") from None


def _checked_rule(table: dict[str, Any], timezone: ZoneInfo) -> Rule:
    unknown = sorted(set(table) - set(ALLOWED_KEYS))
    if unknown:
        raise RuleProblem(
            f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(ALLOWED_KEYS)})"
        )
    for key in REQUIRED_KEYS:
        if key not in table:
            raise RuleProblem(f"missing key {key!r}")
    for key in (*REQUIRED_KEYS, "state", "sender", "locale", "phone"):
        value = table.get(key)
        if key in table and (not isinstance(value, str) or not value.strip()):
            raise RuleProblem(f"{key!r} must be a non-empty string")
    if TRANSACTION_TYPES.by_name(table["type"]) is None:
        known = ", ".join(TRANSACTION_TYPES.names)
        raise RuleProblem(f"unknown type {table['type']!r} (known: {known})")
    rule = Rule(
        name=table["name"],
        type=table["type"],
        state=table.get("state"),
        conditions=parse_when(table["when"]) if "when" in table else (),
        template=parse_template(table["template"]),
        recipient=_recipient(table),
        sender=table.get("sender"),
        locale=_locale(table.get("locale", DEFAULT_LOCALE)),
        quiet_hours=parse_quiet_hours(table["quiet_hours"]) if "quiet_hours" in table else None,
    )
    sample = rule.sample()
    _check_sample_text(rule, sample, timezone)
    _check_fields_of_type(rule, sample)
    return rule


def _check_sample_text(rule: "Rule", sample: Mapping[str, Any], timezone: ZoneInfo) -> None:
    """The rule's text on the sample document of its type: it renders, no placeholder
    shows nothing, and it fits :data:`MAX_TEMPLATE_SEGMENTS` SMS segments."""
    try:
        text = rule.render(sample, timezone)
    except (DocumentIncomplete, ValueError, KeyError, AttributeError, TypeError) as error:
        raise RuleProblem(f"template does not render on a sample {rule.type}: {error}") from None
    blank = rule.template.blank_placeholders(sample, locale=rule.locale, zone=timezone)
    if blank:
        raise RuleProblem(f"template placeholder(s) {', '.join(blank)} render as nothing")
    length = sms_length(text)
    if length.segments > MAX_TEMPLATE_SEGMENTS:
        raise RuleProblem(
            f"template is {length.segments} SMS segments long on a sample {rule.type}"
            f" ({length.units} {length.encoding} characters); at most"
            f" {MAX_TEMPLATE_SEGMENTS} are allowed"
        )


def _check_fields_of_type(rule: "Rule", sample: Mapping[str, Any]) -> None:
    """The rule's conditions and recipient read only fields the sample of its type has."""
    lacking = [
        condition.field.path
        for condition in rule.conditions
        if condition.field.kind is not Kind.ANY
        and value_of(sample, condition.field) is None
        # Only "has no value" is worth testing on a field the type never has.
        and (condition.operator, condition.operand) != ("exists", False)
    ]
    if lacking:
        raise RuleProblem(
            f"'when' {', '.join(dict.fromkeys(lacking))}: a sample {rule.type} has no such"
            " value, so the condition can never tell documents of this type apart"
        )
    if _reads_counterparty(rule.recipient) and sample["agent"] is None:
        raise RuleProblem(
            f"recipient {rule.recipient.describe()}: a {rule.type} has no counterparty"
            " (name a fixed phone or an attribute)"
        )


def _reads_counterparty(recipient: Recipient) -> bool:
    if isinstance(recipient, FieldPhone):
        return recipient.field.path.startswith("agent.")
    return isinstance(recipient, ContactPhone)


def _recipient(table: Mapping[str, Any]) -> Recipient:
    if "phone" in table and "recipient" in table:
        raise RuleProblem("use 'recipient' or the older 'phone', not both")
    if "phone" in table:
        return phone_field(table["phone"])
    return parse_recipient(table["recipient"]) if "recipient" in table else COUNTERPARTY


def _locale(value: str) -> str:
    try:
        Locale.parse(value)
    except (ValueError, UnknownLocaleError):
        raise RuleProblem(f"locale {value!r} is not one Babel knows, e.g. en_IN") from None
    return value
