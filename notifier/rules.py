"""Which enriched documents send which messages: the rules file, checked once at start-up.

Every problem a rule can have (syntax, unknown key, type, field, format, recipient,
locale, quiet hours or channel key, a template, WhatsApp parameter or email subject that
does not render on the sample document of the rule's type, a text that drifts from its
DLT registration, a condition or recipient reading a field that type lacks) is found by
:meth:`RuleSet.load`, so a loaded rule never fails at send time for a reason of its own;
what is left is a message that a value of its document makes too long
(:attr:`PlannedMessage.refusal`). The language is described in docs/rules.md.
"""

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError

from notifier.channels import DEFAULT_CHANNELS, Channel, WhatsAppTemplate
from notifier.conditions import Condition, parse_when
from notifier.errors import DocumentIncomplete, RuleProblem, RulesError
from notifier.fields import ATTRIBUTE_FAMILIES, field_named, value_of
from notifier.languages import chosen_language
from notifier.quiet_hours import DEFAULT_ZONE, QuietHours, parse_quiet_hours
from notifier.recipients import (
    COUNTERPARTY,
    Recipient,
    parse_recipient,
    phone_field,
)
from notifier.render import Template
from notifier.rule_channels import (
    CHANNEL_KEYS,
    EmailSubject,
    WhatsAppWording,
    parse_channel_keys,
)
from notifier.rule_checks import check_rule
from notifier.samples import sample_document
from notifier.wording import (
    DLT_KEYS,
    Wording,
    parse_languages,
    parse_max_segments,
    parse_wording,
    refusal,
)
from shared.kladana_types import TRANSACTION_TYPES

DEFAULT_LOCALE = "en_IN"
DEFAULT_LANGUAGE_ATTRIBUTE = "Language"
"""The counterparty attribute that picks a rule's language (NOTIFIER_LANGUAGE_ATTRIBUTE)."""
REQUIRED_KEYS = ("name", "type", "template")
OPTIONAL_KEYS = (
    "state",
    "when",
    "recipient",
    "sender",
    "locale",
    "quiet_hours",
    "phone",
    *DLT_KEYS,
    "max_segments",
    "templates",
    *CHANNEL_KEYS,
)
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
    dlt_template_id: str | None = None
    refusal: str | None = None
    """Why the SMS text must not be sent (see :func:`notifier.wording.refusal`)."""
    channels: tuple[Channel, ...] = DEFAULT_CHANNELS
    """The rule's channels in order of preference, whether or not the customer has an
    address for each."""
    whatsapp: WhatsAppTemplate | None = None
    """The approved template and its rendered parameters; set exactly when WhatsApp is
    one of :attr:`channels`."""
    email_text: str | None = None
    """The recipient's email address as written in the document (free text)."""
    email_subject: str | None = None
    """Rendered, on one line; set exactly when email is one of :attr:`channels`."""


@dataclass(frozen=True)
class Rule:
    name: str
    type: str
    state: str | None
    """``None``: any state, once per document."""
    conditions: tuple[Condition, ...]
    wordings: tuple[Wording, ...]
    """The default wording first, then one per language."""
    recipient: Recipient
    sender: str | None
    locale: str
    quiet_hours: QuietHours | None
    max_segments: int | None = None
    language_attribute: str = DEFAULT_LANGUAGE_ATTRIBUTE
    channels: tuple[Channel, ...] = DEFAULT_CHANNELS
    whatsapp: WhatsAppWording | None = None
    email_subject: EmailSubject | None = None

    @property
    def template(self) -> Template:
        """The default wording's template."""
        return self.wordings[0].template

    @property
    def channel_templates(self) -> tuple[Template, ...]:
        """The WhatsApp parameters' and the email subject's templates."""
        parameters = self.whatsapp.parameters if self.whatsapp else ()
        subject = (self.email_subject.template,) if self.email_subject else ()
        return (*parameters, *subject)

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

    def sample(self, wording: Wording | None = None) -> dict[str, Any]:
        """A sample document of this rule's type and state (the type's own without one),
        with the attributes ``wording`` (default: the default one) and the channels' keys
        show and, for a language's wording, the counterparty's language attribute naming it."""
        chosen = wording or self.wordings[0]
        attributes = _sample_attributes((chosen.template, *self.channel_templates))
        if chosen.language is not None:
            attributes[self._language_field] = chosen.language
        return sample_document(self.type, self.state, attributes)

    def wording_for(self, document: Mapping[str, Any]) -> Wording:
        """The wording in the language the counterparty's attribute names, else the default."""
        languages = {w.language: w for w in self.wordings if w.language is not None}
        field = field_named(self._language_field)
        said = value_of(document, field) if field and languages else None
        language = chosen_language(said, languages.keys())
        return languages[language] if language is not None else self.wordings[0]

    def render(self, document: Mapping[str, Any], zone: ZoneInfo) -> str:
        return self.wording_for(document).render(document, locale=self.locale, zone=zone)

    @property
    def _language_field(self) -> str:
        return f"{ATTRIBUTE_FAMILIES[1]}{self.language_attribute}"


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    source: str
    timezone: ZoneInfo = DEFAULT_ZONE
    """The zone dates are shown in (NOTIFY_TIMEZONE)."""

    @classmethod
    def load(
        cls,
        path: Path | None,
        *,
        timezone: ZoneInfo = DEFAULT_ZONE,
        language_attribute: str = DEFAULT_LANGUAGE_ATTRIBUTE,
    ) -> "RuleSet":
        """The rules in ``path``, or the bundled default rules when it is ``None``;
        ``language_attribute`` names the counterparty attribute that picks a language."""
        if path is None:
            text = resources.files("notifier").joinpath("default_rules.toml").read_text()
            source = "default_rules.toml"
        else:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise RulesError(f"rules file {path}: cannot be read: {error}") from None
            source = str(path)
        return cls.parse(
            text, source=source, timezone=timezone, language_attribute=language_attribute
        )

    @classmethod
    def parse(
        cls,
        text: str,
        *,
        source: str,
        timezone: ZoneInfo = DEFAULT_ZONE,
        language_attribute: str = DEFAULT_LANGUAGE_ATTRIBUTE,
    ) -> "RuleSet":
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
            _parse_rule(table, index, source, timezone, language_attribute)
            for index, table in enumerate(tables, 1)
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
        return [self.planned(rule, document) for rule in self.rules if rule.matches(document)]

    def planned(self, rule: Rule, document: Mapping[str, Any]) -> PlannedMessage:
        """``rule``'s message for ``document``, whether or not the rule matches it."""
        wording = rule.wording_for(document)
        locale, zone = rule.locale, self.timezone
        try:
            text = wording.render(document, locale=locale, zone=zone)
            whatsapp = (
                rule.whatsapp.render(document, locale=locale, zone=zone) if rule.whatsapp else None
            )
            subject = (
                rule.email_subject.render(document, locale=locale, zone=zone)
                if rule.email_subject
                else None
            )
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
            dlt_template_id=wording.dlt_template_id,
            refusal=refusal(wording, text, rule.max_segments),
            channels=rule.channels,
            whatsapp=whatsapp,
            email_text=rule.recipient.email_text(document),
            email_subject=subject,
        )


def _parse_rule(
    table: object, index: int, source: str, timezone: ZoneInfo, language_attribute: str
) -> Rule:
    name = table.get("name") if isinstance(table, dict) else None
    label = repr(name) if isinstance(name, str) and name.strip() else f"#{index}"
    try:
        if not isinstance(table, dict):
            raise RuleProblem("is not a table")
        return _checked_rule(table, timezone, language_attribute)
    except RuleProblem as problem:
        raise RulesError(f"rules file {source}: rule {label}: {problem}") from None


def _checked_rule(table: dict[str, Any], timezone: ZoneInfo, language_attribute: str) -> Rule:
    unknown = sorted(set(table) - set(ALLOWED_KEYS))
    if unknown:
        raise RuleProblem(
            f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(ALLOWED_KEYS)})"
        )
    for key in REQUIRED_KEYS:
        if key not in table:
            raise RuleProblem(f"missing key {key!r}")
    for key in ("name", "type", "state", "sender", "locale", "phone"):
        value = table.get(key)
        if key in table and (not isinstance(value, str) or not value.strip()):
            raise RuleProblem(f"{key!r} must be a non-empty string")
    if TRANSACTION_TYPES.by_name(table["type"]) is None:
        known = ", ".join(TRANSACTION_TYPES.names)
        raise RuleProblem(f"unknown type {table['type']!r} (known: {known})")
    channel_keys = parse_channel_keys(table)
    rule = Rule(
        name=table["name"],
        type=table["type"],
        state=table.get("state"),
        conditions=parse_when(table["when"]) if "when" in table else (),
        wordings=(parse_wording(table), *parse_languages(table.get("templates"))),
        recipient=_recipient(table),
        sender=table.get("sender"),
        locale=_locale(table.get("locale", DEFAULT_LOCALE)),
        quiet_hours=parse_quiet_hours(table["quiet_hours"]) if "quiet_hours" in table else None,
        max_segments=parse_max_segments(table["max_segments"]) if "max_segments" in table else None,
        language_attribute=language_attribute,
        channels=channel_keys.channels,
        whatsapp=channel_keys.whatsapp,
        email_subject=channel_keys.email_subject,
    )
    check_rule(rule, timezone)
    return rule


def _sample_attributes(templates: Iterable[Template]) -> dict[str, str]:
    # As one template, so that an attribute one of them shows as money is a number for all.
    parts = tuple(part for template in templates for part in template.parts)
    return Template(text="", parts=parts).sample_attributes()


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
