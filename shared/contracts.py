"""Validation of events against their published JSON Schemas (``shared/schemas``)."""

import json
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

from cloudevents.core.v1.event import CloudEvent
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from shared.errors import PermanentError
from shared.events import EVENT_SPECS, to_record


class ContractViolation(PermanentError):
    """An event does not match the schema of its type: a bug, never published."""


@cache
def validator_for(schema_name: str) -> Draft202012Validator:
    text = resources.files("shared.schemas").joinpath(f"{schema_name}.json").read_text()
    schema = json.loads(text)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def validate_envelope(envelope: dict[str, Any]) -> None:
    """Check one event, as the JSON a subscriber reads, against its type's schema."""
    spec = EVENT_SPECS.get(str(envelope.get("type")))
    if spec is None:
        raise ContractViolation(f"no schema for event type {envelope.get('type')!r}")
    _check(spec.schema_name, envelope)


def validate_headers(schema_name: str, headers: Sequence[tuple[str, bytes]]) -> None:
    """Check a record's headers, each read as UTF-8 text, against ``schema_name``
    (``dead-letter-headers.v1``, ``retry-headers.v1``)."""
    _check(schema_name, {name: value.decode("utf-8", "replace") for name, value in headers})


def _check(schema_name: str, instance: dict[str, Any]) -> None:
    error = best_match(validator_for(schema_name).iter_errors(instance))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "(root)"
        raise ContractViolation(f"{schema_name} at {where}: {error.message}")


def validate_event(event: CloudEvent) -> None:
    validate_envelope(json.loads(to_record(event).value))
