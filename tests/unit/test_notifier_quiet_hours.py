from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from notifier.errors import RuleProblem
from notifier.quiet_hours import QuietHours, parse_quiet_hours

KOLKATA = ZoneInfo("Asia/Kolkata")
NIGHT = parse_quiet_hours("21:00-09:00")


def _kolkata(hour: int, minute: int = 0, day: int = 10) -> datetime:
    return datetime(2024, 6, day, hour, minute, tzinfo=KOLKATA)


def test_the_zone_defaults_to_kolkata_and_can_be_named() -> None:
    assert (NIGHT.start, NIGHT.end, NIGHT.zone) == (time(21), time(9), KOLKATA)
    assert parse_quiet_hours(" 22:30 - 7:00 Europe/London ") == QuietHours(
        time(22, 30), time(7), ZoneInfo("Europe/London")
    )


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (_kolkata(20, 59), None),
        (_kolkata(21, 0), _kolkata(9, 0, day=11)),
        (_kolkata(23, 30), _kolkata(9, 0, day=11)),
        (_kolkata(3, 0), _kolkata(9, 0)),
        (_kolkata(9, 0), None),
        (_kolkata(12, 0), None),
    ],
)
def test_an_overnight_window(now: datetime, expected: datetime | None) -> None:
    assert NIGHT.next_open(now) == expected


def test_a_daytime_window() -> None:
    lunch = parse_quiet_hours("13:00-14:00")
    assert lunch.next_open(_kolkata(13, 30)) == _kolkata(14)
    assert lunch.next_open(_kolkata(14)) is None
    assert lunch.next_open(_kolkata(12, 59)) is None


def test_now_in_another_zone_is_converted() -> None:
    # 18:00 UTC is 23:30 in Kolkata: quiet until 09:00 there, 03:30 UTC.
    opens = NIGHT.next_open(datetime(2024, 6, 10, 18, 0, tzinfo=UTC))
    assert opens == datetime(2024, 6, 11, 3, 30, tzinfo=UTC)


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        NIGHT.next_open(datetime(2024, 6, 10, 22, 0))


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("21-09", 'is not "HH:MM-HH:MM"'),
        ("21:00 to 09:00", 'is not "HH:MM-HH:MM"'),
        (2100, 'is not "HH:MM-HH:MM"'),
        ("25:00-09:00", "not a time of day"),
        ("21:61-09:00", "not a time of day"),
        ("09:00-09:00", "start and end are the same"),
        ("21:00-09:00 Mars/Olympus", "not a known time zone"),
        ("21:00-09:00 ../etc", "not a known time zone"),
    ],
)
def test_bad_quiet_hours_are_a_rule_problem(value: object, fragment: str) -> None:
    with pytest.raises(RuleProblem) as raised:
        parse_quiet_hours(value)
    assert fragment in str(raised.value)


ZONES = st.sampled_from([KOLKATA, ZoneInfo("Europe/London"), ZoneInfo("America/New_York")])


@given(
    start=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    end=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    zone=ZONES,
    now=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
)
def test_next_open_is_later_and_outside_the_window(
    start: time, end: time, zone: ZoneInfo, now: datetime
) -> None:
    assume(start != end)
    window = QuietHours(start, end, zone)
    opens = window.next_open(now)
    if opens is None:
        return
    # A day and an hour at most, or two when a DST jump swallowed a day's open interval.
    assert now < opens <= now + timedelta(days=2, hours=1)
    assert window.next_open(opens) is None


def test_an_open_interval_swallowed_by_the_clocks_going_forward_waits_for_the_next_day() -> None:
    # Open only 01:00-01:01 London time; on 31 March 2024 the clocks skip 01:00-02:00.
    window = QuietHours(time(1, 1), time(1, 0), ZoneInfo("Europe/London"))
    opens = window.next_open(datetime(2024, 3, 30, 1, 1, tzinfo=UTC))
    assert opens == datetime(2024, 4, 1, 1, 0, tzinfo=ZoneInfo("Europe/London"))
    assert window.next_open(opens) is None
