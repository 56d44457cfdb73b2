"""Dead letters: the original record, its retry headers dropped, the reason added as ``dlq.*``.

docs/events.md lists the headers; ``shared/schemas`` holds their schema. One builder for
every consumer, so a subscriber of the dead-letter topic reads every service's letters
the same way.
"""

from datetime import UTC, datetime

from shared.batch import Polled
from shared.events import Record
from shared.retry_topic import RETRY_PREFIX, without_headers

BODY_HEADER_LIMIT = 4096
"""An outside service's error body is kept in ``dlq.body`` up to this many bytes."""


def dead_letter_record(
    record: Record,
    *,
    reason: str,
    error: BaseException,
    origin: str,
    group_id: str,
    attempts: int | None = None,
) -> Record:
    """``record`` with the reason, the error, its origin and the group as ``dlq.*`` headers.

    Retry headers are dropped (the letter is no longer waiting), and an error that carries
    an outside service's answer (``status``, ``body``) adds ``dlq.status`` and ``dlq.body``.
    """
    headers = (
        *without_headers(record.headers, RETRY_PREFIX),
        ("dlq.reason", reason.encode()),
        ("dlq.error", type(error).__name__.encode()),
        ("dlq.origin", origin.encode()),
        ("dlq.group", group_id.encode()),
        ("dlq.time", datetime.now(UTC).isoformat().encode()),
        *answer_headers(error),
    )
    if attempts is not None:
        headers += (("dlq.attempts", str(attempts).encode()),)
    return Record(key=record.key, value=record.value, headers=headers)


def dead_letter_of(polled: Polled, error: BaseException, reason: str, group_id: str) -> Record:
    """The dead letter of a record as the consumer read it."""
    return dead_letter_record(
        polled.record, reason=reason, error=error, origin=polled.origin, group_id=group_id
    )


def answer_headers(error: BaseException) -> tuple[tuple[str, bytes], ...]:
    """``dlq.status`` and ``dlq.body`` when the error carries an outside service's answer."""
    headers: list[tuple[str, bytes]] = []
    status = getattr(error, "status", None)
    if isinstance(status, int):
        headers.append(("dlq.status", str(status).encode()))
    body = getattr(error, "body", None)
    if isinstance(body, str):
        body = body.encode()
    if isinstance(body, bytes) and body:
        headers.append(("dlq.body", body[:BODY_HEADER_LIMIT]))
    return tuple(headers)
