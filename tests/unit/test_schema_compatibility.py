"""Released event schemas stay readable: a change that breaks a subscriber fails here."""

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from shared.schema_compat import breaking_changes

SCHEMAS = Path(str(resources.files("shared.schemas")))
RELEASED = SCHEMAS / "released"


def load(path: Path) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema


@pytest.mark.parametrize("released", sorted(RELEASED.glob("*.json")), ids=lambda path: path.stem)
def test_the_current_schema_of_a_released_version_breaks_no_subscriber(released: Path) -> None:
    current = SCHEMAS / released.name
    assert current.exists(), f"released {released.stem} has no current schema: keep it"
    assert breaking_changes(load(released), load(current)) == []


@pytest.mark.parametrize("current", sorted(SCHEMAS.glob("*.json")), ids=lambda path: path.stem)
def test_every_published_schema_version_is_released(current: Path) -> None:
    assert (RELEASED / current.name).exists(), (
        f"copy {current.name} into shared/schemas/released/ when it is published"
    )


ENRICHED = load(SCHEMAS / "enriched-document.v1.json")
DOCUMENT_PATH = "#/properties/data/properties/document"


def changed(edit: Any) -> list[str]:
    current = copy.deepcopy(ENRICHED)
    edit(current)
    return breaking_changes(ENRICHED, current)


def document(schema: dict[str, Any]) -> dict[str, Any]:
    defined: dict[str, Any] = schema["$defs"]["document"]
    return defined


def test_an_unchanged_schema_is_compatible() -> None:
    assert changed(lambda schema: None) == []


def test_adding_properties_is_compatible() -> None:
    def add(schema: dict[str, Any]) -> None:
        document(schema)["properties"]["channel"] = {"type": "string"}
        document(schema)["properties"]["priority"] = {"type": "integer"}
        document(schema)["required"].append("priority")

    assert changed(add) == []


def test_removing_a_property_breaks() -> None:
    def remove(schema: dict[str, Any]) -> None:
        del document(schema)["properties"]["number"]
        document(schema)["required"].remove("number")

    assert changed(remove) == [
        f"{DOCUMENT_PATH}/properties/number: no longer required",
        f"{DOCUMENT_PATH}/properties/number: removed",
    ]


def test_retyping_a_property_breaks() -> None:
    def retype(schema: dict[str, Any]) -> None:
        document(schema)["properties"]["number"] = {"type": "integer"}

    [problem] = changed(retype)
    assert problem.startswith(f"{DOCUMENT_PATH}/properties/number: type changed")


def agent_object(schema: dict[str, Any]) -> dict[str, Any]:
    """The object branch of the document's nullable ``agent``."""
    [branch] = [b for b in document(schema)["properties"]["agent"]["oneOf"] if "properties" in b]
    found: dict[str, Any] = branch
    return found


def test_adding_a_property_inside_a_oneof_branch_is_compatible() -> None:
    def add(schema: dict[str, Any]) -> None:
        agent_object(schema)["properties"]["fax"] = {"type": ["string", "null"]}

    assert changed(add) == []


def test_retyping_inside_a_oneof_branch_breaks() -> None:
    def retype(schema: dict[str, Any]) -> None:
        agent_object(schema)["properties"]["phone"] = {"type": "integer"}

    [problem] = changed(retype)
    assert problem.startswith(f"{DOCUMENT_PATH}/properties/agent/oneOf/1/properties/phone: type")


def test_adding_or_removing_a_oneof_branch_breaks() -> None:
    def add_branch(schema: dict[str, Any]) -> None:
        document(schema)["properties"]["agent"]["oneOf"].append({"type": "string"})

    [problem] = changed(add_branch)
    assert problem.startswith(f"{DOCUMENT_PATH}/properties/agent: oneOf changed")


def test_making_an_optional_property_required_breaks() -> None:
    def require(schema: dict[str, Any]) -> None:
        schema["properties"]["data"]["properties"]["extra"] = {"type": "string"}

    def then_require(schema: dict[str, Any]) -> None:
        require(schema)
        schema["properties"]["data"]["required"].append("extra")

    released = copy.deepcopy(ENRICHED)
    require(released)
    current = copy.deepcopy(ENRICHED)
    then_require(current)
    assert breaking_changes(released, current) == [
        "#/properties/data/properties/extra: optional property made required"
    ]


@pytest.mark.parametrize(
    ("keyword", "value", "expected"),
    [
        ("minLength", 3, "minLength raised to 3"),
        ("maxLength", 10, "maxLength lowered to 10"),
        ("pattern", "^[0-9a-f-]+$", "pattern changed"),
        ("format", "uuid", "format changed"),
        ("enum", ["a", "b"], "enum added"),
    ],
)
def test_tightening_a_constraint_breaks(keyword: str, value: Any, expected: str) -> None:
    def tighten(schema: dict[str, Any]) -> None:
        schema["properties"]["id"][keyword] = value

    [problem] = changed(tighten)
    assert problem.startswith("#/properties/id: ")
    assert expected in problem


def test_forbidding_unknown_properties_breaks() -> None:
    def forbid(schema: dict[str, Any]) -> None:
        schema["properties"]["data"]["additionalProperties"] = False

    assert changed(forbid) == ["#/properties/data: additionalProperties forbidden"]


def test_enum_values_may_be_added_but_not_removed() -> None:
    released = {"type": "string", "enum": ["CREATE", "UPDATE"]}
    assert breaking_changes(released, {"type": "string", "enum": ["CREATE", "UPDATE", "X"]}) == []
    assert breaking_changes(released, {"type": "string", "enum": ["CREATE"]}) == [
        "#: enum values removed: ['UPDATE']"
    ]


def test_a_keyword_the_check_cannot_judge_must_stay_unchanged() -> None:
    released = {"type": "object", "dependentRequired": {"a": ["b"]}}
    assert breaking_changes(released, {"type": "object"}) == [
        "#: dependentRequired changed (a keyword this check cannot judge)"
    ]


def test_a_recursive_schema_is_compared_once_per_pair() -> None:
    tree = {
        "$defs": {"node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/node"}}}},
        "$ref": "#/$defs/node",
    }
    assert breaking_changes(tree, copy.deepcopy(tree)) == []
