"""Which enriched documents send which SMS: the rules file, checked once at start-up.

Every problem a rule can have (syntax, unknown type, missing key, unknown placeholder,
a phone path the document does not have) is found here, so a loaded :class:`RuleSet`
never fails at send time for a reason of its own. The format is described in
``default_rules.toml``.
"""

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from notifier.errors import RulesError
from notifier.render import PLACEHOLDERS, placeholders, render, template_values
from shared.kladana_types import TRANSACTION_TYPES

DEFAULT_PHONE_PATH = "agent.phone"
REQUIRED_KEYS = ("name", "type", "state", "template")
ALLOWED_KEYS = (*REQUIRED_KEYS, "phone")

SAMPLE_DOCUMENT: dict[str, Any] = {
    "id": "34efe2ee-015e-11e6-9464-e4de0000006b",
    "type": "CustomerOrder",
    "entity": "customerorder",
    "href": "https://api.kladana.com/api/remap/1.2/entity/customerorder/34efe2ee-015e-11e6-9464-e4de0000006b",
    "number": "5643",
    "moment": "2024-06-10T12:57:00+03:00",
    "sum": {"minor": 5000000, "amount": "50000.00", "currency": "INR"},
    "state": "Shipped",
    "agent": {"id": "a1", "name": "Ravi Kumar", "phone": "+91 98765 43210", "email": "r@k.in"},
    "organization": {"name": "Acme Traders"},
}
"""A complete enriched ``document``: templates and phone paths are checked against it."""


class _Problem(Exception):
    """What is wrong with one rule; reported with the rule's name."""


@dataclass(frozen=True)
class Rule:
    name: str
    type: str
    state: str
    template: str
    phone_path: tuple[str, ...]

    def matches(self, document: Mapping[str, Any]) -> bool:
        """Same type, and the same state name ignoring case (people type state names)."""
        state = document.get("state")
        return (
            document.get("type") == self.type
            and isinstance(state, str)
            and state.strip().casefold() == self.state.strip().casefold()
        )

    def phone_text(self, document: Mapping[str, Any]) -> str | None:
        """The free text at the rule's phone path, ``None`` where the document has none."""
        value = _at_path(document, self.phone_path)
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    source: str

    def matching(self, document: Mapping[str, Any]) -> list[Rule]:
        return [rule for rule in self.rules if rule.matches(document)]


def load_rules(path: Path | None) -> RuleSet:
    """The rules in ``path``, or the bundled default rules when it is ``None``."""
    if path is None:
        text = resources.files("notifier").joinpath("default_rules.toml").read_text()
        return parse_rules(text, source="default_rules.toml")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RulesError(f"rules file {path}: cannot be read: {error}") from None
    return parse_rules(text, source=str(path))


def parse_rules(text: str, *, source: str) -> RuleSet:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RulesError(f"rules file {source}: TOML syntax error: {error}") from None
    unknown = sorted(set(document) - {"rule"})
    if unknown:
        raise RulesError(f"rules file {source}: unknown top-level key(s) {', '.join(unknown)}")
    tables = document.get("rule")
    if not isinstance(tables, list) or not tables:
        raise RulesError(f"rules file {source}: no [[rule]] tables")
    rules = tuple(_parse_rule(table, index, source) for index, table in enumerate(tables, 1))
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            # The name is part of the idempotency key, so it must single out one rule.
            raise RulesError(f"rules file {source}: rule {rule.name!r}: the name is used twice")
        seen.add(rule.name)
    return RuleSet(rules=rules, source=source)


def _parse_rule(table: object, index: int, source: str) -> Rule:
    name = table.get("name") if isinstance(table, dict) else None
    label = repr(name) if isinstance(name, str) and name else f"#{index}"
    try:
        if not isinstance(table, dict):
            raise _Problem("is not a table")
        return _checked_rule(table)
    except _Problem as problem:
        raise RulesError(f"rules file {source}: rule {label}: {problem}") from None


def _checked_rule(table: dict[str, Any]) -> Rule:
    unknown = sorted(set(table) - set(ALLOWED_KEYS))
    if unknown:
        raise _Problem(f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(ALLOWED_KEYS)})")
    for key in REQUIRED_KEYS:
        if key not in table:
            raise _Problem(f"missing key {key!r}")
    values = {key: table.get(key, DEFAULT_PHONE_PATH) for key in ALLOWED_KEYS}
    for key, value in values.items():
        if not isinstance(value, str) or not value.strip():
            raise _Problem(f"{key!r} must be a non-empty string")
    if TRANSACTION_TYPES.by_name(values["type"]) is None:
        known = ", ".join(TRANSACTION_TYPES.names)
        raise _Problem(f"unknown type {values['type']!r} (known: {known})")
    phone_path = tuple(values["phone"].split("."))
    if not isinstance(_at_path(SAMPLE_DOCUMENT, phone_path), str):
        raise _Problem(f"phone path {values['phone']!r} is not a text field of the document")
    _check_template(values["template"])
    return Rule(
        name=values["name"],
        type=values["type"],
        state=values["state"],
        template=values["template"],
        phone_path=phone_path,
    )


def _check_template(template: str) -> None:
    try:
        used = placeholders(template)
    except ValueError as error:
        raise _Problem(f"template is not a valid format string: {error}") from None
    unknown = sorted(used - set(PLACEHOLDERS))
    if unknown:
        shown = ", ".join("{" + name + "}" for name in unknown)
        raise _Problem(
            f"unknown placeholder {shown} in template (known: {', '.join(PLACEHOLDERS)})"
        )
    try:
        render(template, template_values(SAMPLE_DOCUMENT, ZoneInfo("UTC")))
    except (AttributeError, IndexError, KeyError, ValueError) as error:
        raise _Problem(f"template cannot be rendered: {type(error).__name__}: {error}") from None


def _at_path(document: Mapping[str, Any], path: tuple[str, ...]) -> object:
    value: object = document
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value
