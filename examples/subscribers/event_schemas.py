"""Validate kladana-pipeline events against their published JSON Schemas.

Shared by the example subscribers. Copy it with them: it needs only ``jsonschema``
(and the schema files from ``shared/schemas`` of the pipeline's repository).
"""

import argparse
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

SCHEMA_PREFIX = "urn:kladana-pipeline:schema:"
DEFAULT_SCHEMA_DIR = Path(__file__).resolve().parents[2] / "shared" / "schemas"


class InvalidEvent(Exception):
    """A record that is not an event of a published schema; the message says why."""


class EventSchemas:
    """Every ``<name>.json`` in a directory, looked up by an event's ``dataschema``."""

    def __init__(self, directory: Path = DEFAULT_SCHEMA_DIR) -> None:
        self._validators = {
            SCHEMA_PREFIX + path.stem: Draft202012Validator(
                json.loads(path.read_text()), format_checker=Draft202012Validator.FORMAT_CHECKER
            )
            for path in sorted(directory.glob("*.json"))
        }

    def parse(self, value: bytes | None) -> dict[str, Any]:
        """The event in ``value``, checked against the schema its ``dataschema`` names."""
        try:
            event = json.loads(value or b"")
        except ValueError as error:
            raise InvalidEvent(f"not JSON: {error}") from None
        if not isinstance(event, dict):
            raise InvalidEvent("not a JSON object")
        validator = self._validators.get(str(event.get("dataschema")))
        if validator is None:
            raise InvalidEvent(f"unknown dataschema {event.get('dataschema')!r}")
        error = best_match(validator.iter_errors(event))
        if error is not None:
            where = "/".join(str(part) for part in error.absolute_path) or "(root)"
            raise InvalidEvent(f"{where}: {error.message}")
        return event


def describe(event: dict[str, Any]) -> str:
    """One line a person can read: type, id, document, and the document's state if any."""
    document = (event.get("data") or {}).get("document") or {}
    state = f" state={document['state']}" if document.get("state") else ""
    return f"{event['type']} id={event['id']} document={event['subject']}{state}"


def subscriber_arguments(description: str, default_group: str) -> argparse.Namespace:
    """The command line both example subscribers take."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--bootstrap", default="localhost:9092")
    parser.add_argument("--topic", default="kladana.documents.enriched")
    parser.add_argument("--group", default=default_group)
    parser.add_argument("--max-records", type=int, help="stop after this many records")
    parser.add_argument("--idle-timeout-s", type=float, help="stop when nothing came this long")
    return parser.parse_args()
