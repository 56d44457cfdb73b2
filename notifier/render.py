"""Templates: the text of an SMS with ``{field}`` and ``{field:format}`` placeholders.

A template is parsed once, when the rules load (:func:`parse_template`), so every
unknown field or format is found then; rendering only looks values up and formats
them. Money and dates are formatted by Babel in the rule's locale.
"""

import copy
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext
from string import Formatter
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime
from babel.numbers import format_currency, format_decimal

from notifier.errors import DocumentIncomplete, RuleProblem
from notifier.fields import (
    Field,
    Kind,
    currency_of,
    field_named,
    known_names,
    to_decimal,
    value_of,
)
from shared.errors import MalformedEvent

DEFAULT_DATE_FORMAT = "dd.MM.yyyy"
NAMED_DATE_FORMATS = ("short", "medium", "long", "full")
MONEY_FORMATS = ("", "currency")
ATTRIBUTE_FORMATS = ("", "money")


@dataclass(frozen=True)
class Placeholder:
    written: str
    """As the template names it, e.g. ``amount``: error messages quote it."""
    field: Field
    format: str


@dataclass(frozen=True)
class Template:
    text: str
    parts: tuple[str | Placeholder, ...]

    def sample_attributes(self) -> dict[str, str]:
        """A sample value for each attribute the template shows (a number where it
        is shown as money), so the template can be tried on a sample document."""
        samples: dict[str, str] = {}
        for part in self.parts:
            if isinstance(part, Placeholder) and part.field.kind is Kind.ANY:
                as_money = part.format == "money" or samples.get(part.field.path) == "1500"
                samples[part.field.path] = "1500" if as_money else f"<{part.written}>"
        return samples

    def render(self, document: Mapping[str, Any], *, locale: str, zone: ZoneInfo) -> str:
        """The text for ``document``; :class:`DocumentIncomplete` names what it lacks."""
        shown = [
            part if isinstance(part, str) else _shown(part, document, locale, zone)
            for part in self.parts
        ]
        missing = sorted(
            {
                part.written
                for part, text in zip(self.parts, shown, strict=True)
                if isinstance(part, Placeholder) and text is None
            }
        )
        if missing:
            raise DocumentIncomplete(f"the document has no {', '.join(missing)}")
        return "".join(text or "" for text in shown)

    def blank_placeholders(
        self, document: Mapping[str, Any], *, locale: str, zone: ZoneInfo
    ) -> list[str]:
        """The placeholders whose format shows nothing for a value the document has, as
        written (e.g. ``{date:'at'``): a customer would get a gap where the value goes."""
        return [
            f"{{{part.written}:{part.format}}}" if part.format else f"{{{part.written}}}"
            for part in self.parts
            if isinstance(part, Placeholder)
            and (shown := _shown(part, document, locale, zone)) is not None
            and not shown.strip()
        ]


def parse_template(text: str) -> Template:
    """Raises :class:`RuleProblem` for a malformed template or an unknown field or format."""
    try:
        pieces = list(Formatter().parse(text))
    except ValueError as error:
        raise RuleProblem(
            f"template is not valid: {error} (write {{{{ and }}}} for braces)"
        ) from None
    parts: list[str | Placeholder] = []
    for literal, name, spec, conversion in pieces:
        if literal:
            parts.append(literal)
        if name is None:
            continue
        if conversion is not None:
            raise RuleProblem(f"template placeholder {{{name}!{conversion}}}: '!' is not supported")
        parts.append(_placeholder(name.strip(), spec or ""))
    return Template(text=text, parts=tuple(parts))


def _placeholder(name: str, spec: str) -> Placeholder:
    field = field_named(name)
    if field is None:
        raise RuleProblem(f"unknown field {{{name}}} in template (known: {known_names()})")
    if field.kind is Kind.DATE and spec.replace("''", "").count("'") % 2:
        # Babel drops everything after an unterminated quote without a word.
        raise RuleProblem(f"date format {spec!r} of {{{name}}} has an unterminated quote (')")
    allowed = _formats_for(field.kind)
    if allowed is not None and spec not in allowed:
        shown = ", ".join(f"{{{name}:{option}}}" if option else f"{{{name}}}" for option in allowed)
        raise RuleProblem(f"format {spec!r} does not apply to {{{name}}} (use {shown})")
    return Placeholder(written=name, field=field, format=spec)


def _formats_for(kind: Kind) -> tuple[str, ...] | None:
    """The formats a kind accepts; ``None`` means any date pattern."""
    if kind is Kind.DATE:
        return None
    if kind is Kind.MONEY:
        return MONEY_FORMATS
    if kind is Kind.ANY:
        return ATTRIBUTE_FORMATS
    return ("",)


def _shown(
    part: Placeholder, document: Mapping[str, Any], locale: str, zone: ZoneInfo
) -> str | None:
    value = value_of(document, part.field)
    if value is None or value == "" or value == []:
        return None
    kind = part.field.kind
    if kind is Kind.MONEY and isinstance(value, Decimal):
        if part.format != "currency":
            return format_money(value, locale)
        currency = currency_of(document, part.field)
        return format_money(value, locale, currency=currency) if isinstance(currency, str) else None
    if kind is Kind.DATE:
        return format_date(str(value), zone, locale, part.format or DEFAULT_DATE_FORMAT)
    if kind is Kind.ANY and part.format == "money":
        number = to_decimal(value)
        return format_money(number, locale) if number is not None else None
    if kind is Kind.TAGS and isinstance(value, list):
        return ", ".join(str(tag) for tag in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


MAX_MONEY_DIGITS = 40
"""Digits before the decimal point beyond which a sum is junk data, not money."""


def format_money(amount: Decimal, locale: str, *, currency: str | None = None) -> str:
    """Grouped as the locale does (en_IN: 1,50,000); decimals only when there are paise.

    With ``currency`` (ISO 4217) the locale's currency format is used (en_IN: ₹1,50,000).
    """
    if not amount.is_finite() or amount.adjusted() > MAX_MONEY_DIGITS:
        raise DocumentIncomplete(f"the amount {amount:.3e} cannot be an amount of money")
    # Babel rounds in the current decimal context, whose default 28 digits a large sum
    # with paise can exceed.
    with localcontext() as context:
        context.prec = MAX_MONEY_DIGITS + 4
        pattern = _money_pattern(
            locale, currency=currency is not None, whole=amount == amount.to_integral_value()
        )
        if currency is not None:
            return str(
                format_currency(
                    amount, currency, format=pattern, locale=locale, currency_digits=False
                )
            )
        return str(format_decimal(amount, format=pattern, locale=locale))


@functools.cache
def _money_pattern(locale: str, *, currency: bool, whole: bool) -> Any:
    """The locale's own pattern (so its grouping) with none or exactly two decimals."""
    parsed = Locale.parse(locale)
    formats = parsed.currency_formats["standard"] if currency else parsed.decimal_formats[None]
    pattern = copy.copy(formats)
    pattern.frac_prec = (0, 0) if whole else (2, 2)
    return pattern


def format_date(
    moment: str, zone: ZoneInfo, locale: str, pattern: str = DEFAULT_DATE_FORMAT
) -> str:
    """An ISO 8601 moment with an offset, in ``zone``, as a Babel (CLDR) date pattern."""
    try:
        parsed = datetime.fromisoformat(moment)
    except ValueError:
        raise MalformedEvent(f"document moment {moment!r} is not ISO 8601") from None
    if parsed.tzinfo is None:
        raise MalformedEvent(f"document moment {moment!r} has no UTC offset")
    try:
        local = parsed.astimezone(zone)
    except OverflowError:
        # 9999-12-31 late in the day, moved east, is beyond what a datetime can hold.
        raise DocumentIncomplete(f"the date {moment} cannot be shown in {zone.key}") from None
    if pattern in NAMED_DATE_FORMATS:
        return str(babel_format_date(local.date(), format=pattern, locale=locale))
    return str(format_datetime(local, format=pattern, tzinfo=zone, locale=locale))
