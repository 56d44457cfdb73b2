"""Kladana's bucket as the enricher models it, on an injected clock: even refill, and
answers' headers that can only hold it back."""

import pytest

from enricher.bucket import ServerQuota, TokenBucket, remaining_units, server_limits

ONE_UNIT_S = 3.0 / 45


def full_bucket(now: float = 100.0) -> TokenBucket:
    return TokenBucket(45, 3.0, now=now, level=45)


def take_all(bucket: TokenBucket, now: float, count: int) -> float:
    serial = 0.0
    for _ in range(count):
        assert bucket.wait_s(now, 1) == 0
        serial = bucket.take(now, 1)
    return serial


def test_a_full_bucket_gives_45_units_at_once() -> None:
    bucket = full_bucket()
    take_all(bucket, 100.0, 45)
    assert bucket.wait_s(100.0, 1) == pytest.approx(ONE_UNIT_S)


def test_units_come_back_evenly_one_about_every_67_ms() -> None:
    bucket = full_bucket()
    take_all(bucket, 100.0, 45)
    for step in range(1, 31):
        now = 100.0 + step * ONE_UNIT_S
        assert bucket.level(now) == pytest.approx(1.0)
        take_all(bucket, now, 1)
    # 30 units in 2 s: 15 a second, not nothing until 3 s after they were spent.
    assert bucket.spent == 75


def test_the_level_never_exceeds_the_capacity() -> None:
    bucket = full_bucket()
    take_all(bucket, 100.0, 10)
    assert bucket.level(200.0) == 45


def test_a_user_token_waits_for_its_four_units() -> None:
    bucket = full_bucket()
    for _ in range(11):
        bucket.take(100.0, 4)
    assert bucket.wait_s(100.0, 4) == pytest.approx(3 * ONE_UNIT_S)


def test_remaining_lowers_the_level_to_what_the_server_says() -> None:
    bucket = full_bucket()
    serial = take_all(bucket, 100.0, 1)
    # Someone else spent 40 of the token's units.
    bucket.sync(100.0, ServerQuota(remaining=4, limit=45), serial, 99.9, in_flight=0)
    assert bucket.level(100.0) == 4


def test_the_level_follows_the_server_and_never_goes_above_what_it_says() -> None:
    bucket = full_bucket()
    serial = take_all(bucket, 100.0, 30)
    # Below our own model: someone else spends; above it: the server counted less.
    for remaining in (5, 20, 44, 45):
        bucket.sync(
            100.0,
            ServerQuota(remaining=remaining, limit=45, interval_s=3.0),
            serial,
            99.9,
            in_flight=0,
        )
        assert bucket.level(100.0) == remaining


def test_the_level_never_goes_above_the_capacity_the_server_allows() -> None:
    bucket = full_bucket()
    serial = take_all(bucket, 100.0, 1)
    bucket.sync(
        100.0, ServerQuota(remaining=50, limit=45, interval_s=3.0), serial, 99.9, in_flight=0
    )
    assert bucket.level(100.0) == 45


def test_units_taken_after_the_answered_request_are_taken_off_what_remains() -> None:
    bucket = full_bucket()
    serial = take_all(bucket, 100.0, 1)
    take_all(bucket, 100.0, 4)  # sent after it: the server may not have counted them
    bucket.sync(100.0, ServerQuota(remaining=10, limit=45), serial, 99.9, in_flight=4)
    assert bucket.level(100.0) == 10 - 4


def test_units_still_in_flight_when_a_request_was_sent_are_taken_off_too() -> None:
    bucket = full_bucket()
    serial = bucket.take(100.0, 1, unsettled=3)  # three earlier requests not yet answered
    bucket.sync(100.0, ServerQuota(remaining=10, limit=45), serial, 99.9, in_flight=3)
    assert bucket.level(100.0) == 10 - 3


def answer_five_sent_at_once(bucket: TokenBucket, *, first_unanswered: bool = False) -> None:
    """Five requests granted at 100.0 (four, when the first ends without an answer),
    counted by the server in that order, answered in that order at 100.1."""
    serials = [bucket.take(100.0, 1, unsettled=sent) for sent in range(5)]
    if first_unanswered:
        bucket.unanswered(100.1)
    for answered, serial in enumerate(serials[first_unanswered:], start=first_unanswered):
        quota = ServerQuota(remaining=44 - answered, limit=45)
        bucket.sync(100.1, quota, serial, 100.0, in_flight=4 - answered)


def test_requests_answered_since_they_were_in_flight_hold_the_level_down_no_more() -> None:
    bucket = full_bucket()
    answer_five_sent_at_once(bucket)
    # The last answer alone says 40 less the 4 in flight when it was sent; the earlier
    # answers show that whichever the server counted last, nothing of ours is uncounted.
    assert bucket.level(100.1) == 40


def test_a_request_ended_without_an_answer_leaves_the_answers_before_it_their_doubt() -> None:
    bucket = full_bucket()
    answer_five_sent_at_once(bucket, first_unanswered=True)
    # The first may have been counted after any of the others: each answer alone, then.
    assert bucket.level(100.1) == 40 - 4


def test_an_answer_slower_than_the_window_says_nothing_of_the_level() -> None:
    bucket = full_bucket()
    serial = take_all(bucket, 100.0, 1)
    take_all(bucket, 100.0, 20)
    bucket.sync(100.0, ServerQuota(remaining=0, limit=45), serial, 96.5, in_flight=0)
    assert bucket.level(100.0) == 24


def test_a_smaller_server_limit_and_a_longer_interval_slow_the_bucket_down() -> None:
    bucket = full_bucket()
    serial = take_all(bucket, 100.0, 45)
    bucket.sync(
        100.0, ServerQuota(remaining=0, limit=30, interval_s=6.0), serial, 99.9, in_flight=0
    )
    assert (bucket.capacity, bucket.window_s) == (30, 6.0)
    assert bucket.wait_s(100.0, 1) == pytest.approx(6.0 / 30)
    assert bucket.level(1000.0) == 30


def test_a_larger_server_limit_or_a_shorter_interval_change_nothing() -> None:
    assert server_limits(45, 3.0, ServerQuota(limit=90, interval_s=1.0)) == (45, 3.0)
    assert server_limits(45, 3.0, ServerQuota()) == (45, 3.0)


@pytest.mark.parametrize(
    ("capacity", "quota", "expected"),
    [
        (45, ServerQuota(remaining=30, limit=45), 30),
        (15, ServerQuota(remaining=30, limit=45), 10),  # one of three instances
        (45, ServerQuota(remaining=30), 30),
        (45, ServerQuota(limit=45), None),
    ],
)
def test_remaining_is_this_buckets_share_of_the_servers(
    capacity: int, quota: ServerQuota, expected: float | None
) -> None:
    assert remaining_units(capacity, 3.0, quota, 0.1) == expected
