"""One JSON object per log line, so an event can be followed across services with grep.

Pass context as ``extra``: ``log.info("published", extra={"event_id": ..., "document_id": ...})``.
"""

import logging
import sys

from pythonjsonlogger.json import JsonFormatter


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
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # kafka-python logs every connection attempt at INFO; its warnings are enough.
    logging.getLogger("kafka").setLevel(logging.WARNING)


def mask_phone(phone: str) -> str:
    """Show only the last four digits of a phone number in logs."""
    return "*" * max(len(phone) - 4, 0) + phone[-4:]
