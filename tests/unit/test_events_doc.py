"""docs/events.md shows one real example of every event and header set; each validates."""

import json
import re
from pathlib import Path
from typing import Any

import pytest

from shared.contracts import validate_envelope, validate_headers
from shared.events import EVENT_SPECS

EVENTS_DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"
HEADER_SCHEMAS = {"dlq.": "dead-letter-headers.v1", "retry.": "retry-headers.v1"}


def examples() -> list[dict[str, Any]]:
    blocks = re.findall(r"```json\n(.*?)```", EVENTS_DOC.read_text(), flags=re.DOTALL)
    return [json.loads(block) for block in blocks]


def header_schema(example: dict[str, Any]) -> str | None:
    prefixes = {prefix for prefix in HEADER_SCHEMAS for name in example if name.startswith(prefix)}
    return HEADER_SCHEMAS[prefixes.pop()] if len(prefixes) == 1 else None


@pytest.mark.parametrize("example", examples(), ids=lambda example: str(example.get("type")))
def test_every_example_validates_against_its_schema(example: dict[str, Any]) -> None:
    schema = header_schema(example)
    if schema is not None:
        validate_headers(schema, [(name, value.encode()) for name, value in example.items()])
    else:
        validate_envelope(example)


def test_every_event_type_and_header_set_has_an_example() -> None:
    shown = examples()
    assert {example.get("type") for example in shown} >= set(EVENT_SPECS)
    assert {header_schema(example) for example in shown} >= set(HEADER_SCHEMAS.values())
