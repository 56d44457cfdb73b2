from datetime import UTC, datetime

import pytest

from enricher.redrive import FROM_HEADER, RedriveFilter, RedriveReport, redriven_record
from shared.events import Record, to_record
from tests.enricher_fakes import raw_event

WHEN = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _letter(type_name: str = "CustomerOrder", reason: str = "Kladana answered 404") -> Record:
    raw = to_record(raw_event("doc-1", type_name))
    return Record(
        raw.key,
        raw.value,
        (
            *raw.headers,
            ("retry.attempt", b"2"),
            ("dlq.reason", reason.encode()),
            ("dlq.time", WHEN.isoformat().encode()),
        ),
    )


@pytest.mark.parametrize(
    ("chosen", "matches"),
    [
        (RedriveFilter(), True),
        (RedriveFilter(type_name="CustomerOrder"), True),
        (RedriveFilter(type_name="PaymentIn"), False),
        (RedriveFilter(reason="ANSWERED 404"), True),
        (RedriveFilter(reason="503"), False),
        (RedriveFilter(since=WHEN), True),
        (RedriveFilter(until=WHEN), False),
        (RedriveFilter(since=datetime(2026, 11, 30, tzinfo=UTC)), False),
        (
            RedriveFilter(
                type_name="CustomerOrder", reason="404", until=datetime(2026, 12, 1, tzinfo=UTC)
            ),
            True,
        ),
    ],
)
def test_every_given_condition_must_hold(chosen: RedriveFilter, matches: bool) -> None:
    assert chosen.matches(_letter()) is matches


def test_a_letter_that_is_not_an_event_matches_no_type_but_can_match_a_reason() -> None:
    letter = Record(b"k", b"junk", (("dlq.reason", b"not a structured CloudEvent"),))
    assert not RedriveFilter(type_name="CustomerOrder").matches(letter)
    assert RedriveFilter(reason="cloudevent").matches(letter)
    assert not RedriveFilter(since=WHEN).matches(letter)


def test_the_redriven_record_is_the_original_without_dlq_or_retry_headers() -> None:
    letter = _letter()
    moved = redriven_record(letter, "dlq/0/7", WHEN)
    assert (moved.key, moved.value) == (letter.key, letter.value)
    headers = dict(moved.headers)
    assert not [key for key in headers if key.startswith(("dlq.", "retry."))]
    assert headers["content-type"] == b"application/cloudevents+json"
    assert headers[FROM_HEADER] == b"dlq/0/7"


def test_the_summary_says_how_many() -> None:
    assert RedriveReport(3, 1, dry_run=False).summary("raw").startswith("moved 3 dead-letter")
    assert RedriveReport(2, 0, dry_run=True).summary("raw").startswith("would move 2")
