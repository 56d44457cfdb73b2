from typing import Any

import pytest

from notifier.conditions import parse_when
from notifier.errors import RuleProblem
from tests.helpers import seed_document

VIP = {"id": "a1", "name": "Ravi", "phone": None, "email": None, "tags": ["VIP", "retail"]}


def _holds(when: dict[str, Any], **changes: Any) -> bool:
    document = seed_document(**changes)
    return all(condition.holds(document) for condition in parse_when(when))


def _money(amount: str) -> dict[str, Any]:
    return {"minor": int(float(amount) * 100), "amount": amount, "currency": "INR"}


@pytest.mark.parametrize(
    ("when", "changes", "expected"),
    [
        # eq / ne, text compared ignoring case and surrounding spaces
        ({"number": {"eq": "5643"}}, {}, True),
        ({"number": "5643"}, {}, True),
        ({"agent.name": " ravi kumar "}, {}, True),
        ({"number": {"eq": "5644"}}, {}, False),
        ({"number": {"ne": "5644"}}, {}, True),
        ({"number": {"ne": "5643"}}, {}, False),
        ({"number": {"ne": "5643"}}, {"number": None}, True),
        ({"number": {"eq": "5643"}}, {"number": None}, False),
        # money in rupees
        ({"sum": {"gte": 10000}}, {"sum": _money("10000.00")}, True),
        ({"sum": {"gte": 10000}}, {"sum": _money("9999.99")}, False),
        ({"sum": {"gt": 10000}}, {"sum": _money("10000.00")}, False),
        ({"sum": {"gt": 10000}}, {"sum": _money("10000.01")}, True),
        ({"sum": {"lte": 500.5}}, {"sum": _money("500.50")}, True),
        ({"sum": {"lt": 500.5}}, {"sum": _money("500.50")}, False),
        ({"sum": 50000}, {}, True),
        ({"sum": {"gte": 1, "lt": 100000}}, {}, True),
        ({"sum": {"gte": 1}}, {"sum": None}, False),
        ({"sum.minor": {"gte": 5000000}}, {}, True),
        # in / not_in
        ({"state": {"in": ["shipped", "Delivered"]}}, {}, True),
        ({"state": {"in": ["New"]}}, {}, False),
        ({"state": {"not_in": ["New"]}}, {}, True),
        ({"sum": {"in": [50000, 60000]}}, {}, True),
        # contains: a part of a text, or one element of a list (tags)
        ({"agent.name": {"contains": "KUMAR"}}, {}, True),
        ({"agent.name": {"contains": "Singh"}}, {}, False),
        ({"agent.tags": {"contains": "vip"}}, {"agent": VIP}, True),
        ({"agent.tags": {"contains": "wholesale"}}, {"agent": VIP}, False),
        ({"agent.tags": {"contains": "vip"}}, {}, False),
        # exists
        ({"number": {"exists": True}}, {}, True),
        ({"number": {"exists": False}}, {"number": None}, True),
        ({"attributes.Courier": {"exists": True}}, {}, False),
        ({"moment": {"exists": True}}, {}, True),
        # attributes by name, in either shape, of any value type
        ({"attributes.Courier": "bluedart"}, {"attributes": {"Courier": "BlueDart"}}, True),
        (
            {"attributes.courier": "BlueDart"},
            {"attributes": [{"name": "Courier", "value": "BlueDart"}]},
            True,
        ),
        ({"attributes.Weight": {"gt": 2}}, {"attributes": {"Weight": 2.5}}, True),
        ({"attributes.Weight": {"gt": 2}}, {"attributes": {"Weight": "heavy"}}, False),
        ({"attributes.Paid": True}, {"attributes": {"Paid": True}}, True),
        ({"attributes.Paid": True}, {"attributes": {"Paid": "true"}}, False),
        ({"attributes.Note": {"contains": "urgent"}}, {"attributes": {"Note": "URGENT!"}}, True),
        (
            {"agent": {"attributes": {"Segment": "gold"}}},
            {"agent": {**VIP, "attributes": {"Segment": "Gold"}}},
            True,
        ),
    ],
)
def test_each_operator(when: dict[str, Any], changes: dict[str, Any], expected: bool) -> None:
    assert _holds(when, **changes) is expected


def test_tomls_dotted_keys_nest_and_are_read_as_paths() -> None:
    (condition,) = parse_when({"agent": {"tags": {"contains": "vip"}}})
    assert condition.field.path == "agent.tags"
    (condition,) = parse_when({"sum": {"minor": {"gte": 5}}})
    assert condition.field.path == "sum.minor"


def test_conditions_describe_themselves() -> None:
    described = [c.describe() for c in parse_when({"sum": {"gte": 10000}, "state": {"in": ["A"]}})]
    assert described == ["sum >= 10000", "state in ['A']"]
    assert parse_when({"number": {"exists": False}})[0].describe() == "number is not set"


@pytest.mark.parametrize(
    ("when", "fragment"),
    [
        ("sum >= 1", "'when' must be a table"),
        ({"summ": {"gte": 1}}, "unknown field 'summ'"),
        ({"sum": {"gte": "many"}}, "gte takes a number"),
        ({"sum": {"gte": True}}, "gte takes a number"),
        ({"sum": {"gte": float("nan")}}, "gte takes a number"),
        ({"sum": "lots"}, "compare a money field with a number"),
        ({"sum": {"contains": "5"}}, "operator 'contains' does not apply to a money field"),
        ({"number": {"gte": 1}}, "operator 'gte' does not apply to a text field"),
        ({"number": {"eq": 5643}}, "5643 is not a value this field can have"),
        ({"number": {"eq": "1", "gte_": 1}}, "operator 'gte_' does not apply"),
        ({"moment": {"eq": "2024-06-10"}}, "does not apply to a date field"),
        ({"agent.tags": {"eq": "vip"}}, "does not apply to a tags field"),
        ({"state": {"in": "Shipped"}}, "in takes a non-empty list"),
        ({"state": {"in": []}}, "in takes a non-empty list"),
        ({"state": {"in": [["x"]]}}, "is not a value"),
        ({"number": {"exists": "yes"}}, "exists takes true or false"),
        ({"agent.name": {"contains": 5}}, "contains takes a text"),
        ({"sum": {}}, "an empty table tests nothing"),
        ({"attributes.X": {"eq": [1]}}, "is not a value"),
    ],
)
def test_a_bad_condition_is_a_rule_problem(when: object, fragment: str) -> None:
    with pytest.raises(RuleProblem) as raised:
        parse_when(when)
    assert fragment in str(raised.value)
