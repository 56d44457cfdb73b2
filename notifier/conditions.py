"""A rule's ``when`` table: conditions on document fields, all of which must hold.

    [rule.when]
    sum = { gte = 10000 }                      # rupees
    "attributes.Delivery service" = "BlueDart" # a bare value means eq
    agent.tags = { contains = "vip" }

Keys are field paths (TOML's dotted keys and quoted keys both work); values are a
value to equal or a table of operators. Text compares ignoring case and surrounding
spaces, as state names do. A field the document lacks satisfies only ``ne``,
``not_in`` and ``exists = false``.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from notifier.errors import RuleProblem
from notifier.fields import Field, Kind, field_named, known_names, to_decimal, value_of

Operand = str | Decimal | bool | tuple[str | Decimal | bool, ...]

OPERATORS_BY_KIND: Mapping[Kind, tuple[str, ...]] = {
    Kind.TEXT: ("eq", "ne", "in", "not_in", "contains", "exists"),
    Kind.MONEY: ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "exists"),
    Kind.NUMBER: ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "exists"),
    Kind.DATE: ("exists",),
    Kind.TAGS: ("contains", "exists"),
    Kind.ANY: ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "exists"),
}
OPERATORS = frozenset(op for ops in OPERATORS_BY_KIND.values() for op in ops)
_NUMERIC = (Kind.MONEY, Kind.NUMBER)
_SYMBOLS = {
    "eq": "=",
    "ne": "!=",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "not_in": "not in",
}


@dataclass(frozen=True)
class Condition:
    field: Field
    operator: str
    operand: Operand

    def holds(self, document: Mapping[str, Any]) -> bool:
        value = value_of(document, self.field)
        present = value not in (None, "", [])
        if self.operator == "exists":
            return present == self.operand
        if self.operator in ("ne", "not_in"):
            return not present or not _any_equal(value, self._choices())
        if not present:
            return False
        if self.operator in ("eq", "in"):
            return _any_equal(value, self._choices())
        if self.operator == "contains":
            return _contains(value, self.operand)
        return _compares(value, self.operator, self.operand)

    def describe(self) -> str:
        if self.operator == "exists":
            return f"{self.field.path} is {'set' if self.operand else 'not set'}"
        shown = list(self.operand) if isinstance(self.operand, tuple) else self.operand
        return f"{self.field.path} {_SYMBOLS.get(self.operator, self.operator)} {_show(shown)}"

    def _choices(self) -> tuple[str | Decimal | bool, ...]:
        return self.operand if isinstance(self.operand, tuple) else (self.operand,)


def parse_when(table: object) -> tuple[Condition, ...]:
    """The conditions of a ``when`` table; :class:`RuleProblem` names a bad one."""
    if not isinstance(table, Mapping):
        raise RuleProblem("'when' must be a table of field = condition")
    return tuple(_conditions(table, prefix=""))


def _conditions(table: Mapping[str, Any], prefix: str) -> list[Condition]:
    found: list[Condition] = []
    for key, value in table.items():
        path = f"{prefix}{key}".strip()
        if isinstance(value, Mapping) and not value:
            raise RuleProblem(f"'when' {path}: an empty table tests nothing")
        if isinstance(value, Mapping) and not set(value) & OPERATORS:
            # TOML reads `agent.tags = {...}` as nested tables: walk down the path.
            found.extend(_conditions(value, prefix=f"{path}."))
            continue
        field = field_named(path)
        if field is None:
            raise RuleProblem(f"unknown field {path!r} in 'when' (known: {known_names()})")
        tests = value if isinstance(value, Mapping) else {"eq": value}
        found.extend(_condition(field, operator, operand) for operator, operand in tests.items())
    return found


def _condition(field: Field, operator: str, operand: object) -> Condition:
    where = f"'when' {field.path}"
    allowed = OPERATORS_BY_KIND[field.kind]
    if operator not in allowed:
        raise RuleProblem(
            f"{where}: operator {operator!r} does not apply to a {field.kind.value} field"
            f" (use {', '.join(allowed)})"
        )
    if operator == "exists":
        if not isinstance(operand, bool):
            raise RuleProblem(f"{where}: exists takes true or false")
        return Condition(field, operator, operand)
    if operator in ("in", "not_in"):
        if not isinstance(operand, list) or not operand:
            raise RuleProblem(f"{where}: {operator} takes a non-empty list")
        return Condition(field, operator, tuple(_value(field, where, item) for item in operand))
    if operator in ("gt", "gte", "lt", "lte"):
        number = _number(operand)
        if number is None:
            raise RuleProblem(f"{where}: {operator} takes a number")
        return Condition(field, operator, number)
    if operator == "contains":
        if not isinstance(operand, str):
            raise RuleProblem(f"{where}: contains takes a text")
        return Condition(field, operator, operand)
    return Condition(field, operator, _value(field, where, operand))


def _value(field: Field, where: str, operand: object) -> str | Decimal | bool:
    """A value to compare with: a number for money, text for text, either for attributes."""
    if field.kind in _NUMERIC:
        number = _number(operand)
        if number is None:
            raise RuleProblem(f"{where}: compare a {field.kind.value} field with a number")
        return number
    if isinstance(operand, str):
        return operand
    if field.kind is Kind.ANY:
        if isinstance(operand, bool):
            return operand
        number = _number(operand)
        if number is not None:
            return number
    raise RuleProblem(f"{where}: {operand!r} is not a value this field can have")


def _number(operand: object) -> Decimal | None:
    if isinstance(operand, bool) or not isinstance(operand, int | float):
        return None
    return to_decimal(operand)


def _any_equal(value: object, choices: tuple[str | Decimal | bool, ...]) -> bool:
    return any(_equal(value, choice) for choice in choices)


def _equal(value: object, expected: str | Decimal | bool) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool):
        return value is expected
    if isinstance(expected, Decimal):
        return to_decimal(value) == expected
    return _folded(value) == _folded(expected)


def _contains(value: object, part: Operand) -> bool:
    if isinstance(value, list):
        return any(_folded(item) == _folded(part) for item in value)
    return isinstance(value, str) and _folded(part) in _folded(value)


def _compares(value: object, operator: str, limit: Operand) -> bool:
    number = to_decimal(value)
    if number is None or not isinstance(limit, Decimal):
        return False
    return {
        "gt": number > limit,
        "gte": number >= limit,
        "lt": number < limit,
        "lte": number <= limit,
    }[operator]


def _folded(value: object) -> str:
    return str(value).strip().casefold()


def _show(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, Decimal) else repr(value)
