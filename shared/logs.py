"""One JSON object per log line, so an event can be followed across services with grep.

Pass context as ``extra``: ``log.info("published", extra={"event_id": ..., "document_id": ...})``,
or for everything logged while one event is handled, :func:`event_context`: every line
inside it carries the event's ids, including lines from code that knows nothing of the
event (the Kladana client, the SMS delivery). Field names are the same in every service:
``event_id`` (the CloudEvent being handled), ``document_id`` and ``raw_event_id`` (the
webhook event it came from). docs/observability.md shows how to follow one event.
"""

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

_EVENT_FIELDS: ContextVar[dict[str, str] | None] = ContextVar("event_fields", default=None)


@contextmanager
def event_context(**fields: str | None) -> Iterator[dict[str, str]]:
    """Add ``fields`` (those not None) to every log line of this thread inside the block.

    The yielded dict takes fields learnt later (the event id once the record is parsed);
    they vanish with the block. A context var, not a thread-local: the enricher's pool
    threads each handle their own document.
    """
    scope = {**(_EVENT_FIELDS.get() or {}), **{k: v for k, v in fields.items() if v is not None}}
    token = _EVENT_FIELDS.set(scope)
    try:
        yield scope
    finally:
        _EVENT_FIELDS.reset(token)


class EventContextFilter(logging.Filter):
    """Copies the :func:`event_context` fields onto each record; ``extra`` wins over them."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in (_EVENT_FIELDS.get() or {}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every log record to stderr as JSON tagged with the service name."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            static_fields={"service": service},
            timestamp="time",  # ISO 8601 in UTC
        )
    )
    handler.addFilter(EventContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # kafka-python logs every connection attempt at INFO; its warnings are enough.
    logging.getLogger("kafka").setLevel(logging.WARNING)


def mask_phone(phone: str) -> str:
    """Show only the last four digits of a phone number in logs."""
    return "*" * max(len(phone) - 4, 0) + phone[-4:]
