from datetime import UTC, datetime, timedelta

import pytest
from kafka.structs import TopicPartition

from shared.batch import Polled
from shared.errors import MalformedEvent
from shared.events import Record
from shared.retry_topic import (
    ATTEMPT_HEADER,
    NOT_BEFORE_HEADER,
    RetryPolicy,
    attempts_made,
    not_before,
    parked_record,
    split_due,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(
    quick_retries=2,
    max_attempts=3,
    quick_base_s=0.5,
    quick_cap_s=4,
    park_base_s=5,
    park_cap_s=60,
    retry_topic="retry",
)


def test_a_fresh_raw_record_has_made_no_attempts() -> None:
    assert attempts_made(Record(key=b"k", value=b"v")) == 0


def test_parking_keeps_key_value_and_headers_and_replaces_retry_headers() -> None:
    raw = Record(key=b"doc", value=b"event", headers=(("content-type", b"x"),))
    first = parked_record(raw, attempt=1, due=NOW, reason="503")
    second = parked_record(first, attempt=2, due=NOW + timedelta(seconds=10), reason="timeout")
    assert (second.key, second.value) == (b"doc", b"event")
    assert attempts_made(second) == 2
    assert not_before(second) == NOW + timedelta(seconds=10)
    assert [key for key, _ in second.headers] == [
        "content-type",
        "retry.attempt",
        "retry.not_before",
        "retry.reason",
    ]
    assert dict(second.headers)["retry.reason"] == b"timeout"


@pytest.mark.parametrize("value", [b"two", b"-1", b"\xff"])
def test_a_garbled_attempt_count_is_malformed(value: bytes) -> None:
    with pytest.raises(MalformedEvent):
        attempts_made(Record(key=None, value=b"", headers=((ATTEMPT_HEADER, value),)))


@pytest.mark.parametrize("value", [b"soon", b"2026-11-29T12:00:00", b"\xff"])
def test_an_unreadable_or_zoneless_not_before_means_due_now(value: bytes) -> None:
    assert not_before(Record(key=None, value=b"", headers=((NOT_BEFORE_HEADER, value),))) is None


def test_park_delays_grow_per_round_within_the_cap_and_honour_retry_after() -> None:
    assert POLICY.park_delay(1, jitter_draw=1.0, retry_after=None) == 5
    assert POLICY.park_delay(3, jitter_draw=1.0, retry_after=None) == 20
    assert POLICY.park_delay(10, jitter_draw=1.0, retry_after=None) == 60
    assert POLICY.park_delay(1, jitter_draw=0.5, retry_after=None) == 2.5
    assert POLICY.park_delay(1, jitter_draw=0.0, retry_after=30) == 30


def test_quick_delays_use_their_own_base_and_cap() -> None:
    assert POLICY.quick_delay(1, jitter_draw=1.0, retry_after=None) == 0.5
    assert POLICY.quick_delay(5, jitter_draw=1.0, retry_after=None) == 4
    assert POLICY.quick_delay(1, jitter_draw=0.0, retry_after=1.5) == 1.5


def test_the_budget_is_spent_after_max_attempts_rounds() -> None:
    assert [POLICY.exhausted(attempt) for attempt in (1, 2, 3, 4)] == [False, False, True, True]


def test_without_a_retry_topic_rounds_are_never_spent() -> None:
    held_in_place = RetryPolicy(
        quick_retries=0, max_attempts=1, quick_base_s=1, quick_cap_s=1, park_base_s=1, park_cap_s=1
    )
    assert not held_in_place.exhausted(1_000)


def _retry(offset: int, due: datetime | None) -> Polled:
    headers = () if due is None else ((NOT_BEFORE_HEADER, due.isoformat().encode()),)
    return Polled(TopicPartition("retry", 0), offset, Record(key=b"k", value=b"", headers=headers))


def test_a_retry_partition_waits_at_its_first_record_not_yet_due() -> None:
    records = [
        _retry(1, NOW - timedelta(seconds=1)),
        _retry(2, None),
        _retry(3, NOW + timedelta(seconds=5)),
        _retry(4, NOW - timedelta(seconds=9)),
    ]
    due, waiting = split_due(records, NOW)
    assert [p.offset for p in due] == [1, 2]
    assert waiting is not None
    assert (waiting[0].offset, waiting[1]) == (3, NOW + timedelta(seconds=5))


def test_a_partition_of_due_records_does_not_wait() -> None:
    records = [_retry(1, NOW), _retry(2, None)]
    assert split_due(records, NOW) == (records, None)
