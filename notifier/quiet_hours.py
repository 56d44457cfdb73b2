"""A rule's quiet hours: a daily window, in a time zone, when its SMS must wait.

Written ``"21:00-09:00"`` (zone Asia/Kolkata) or ``"21:00-09:00 Europe/London"``. A
window whose start is after its end runs overnight. Holding a message is the
delivery side's job; this module only says whether a moment is quiet and when the
window ends.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from notifier.errors import RuleProblem

DEFAULT_ZONE = ZoneInfo("Asia/Kolkata")
_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*(?:\s(\S+))?\s*$")


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time
    zone: ZoneInfo

    def next_open(self, now: datetime) -> datetime | None:
        """``None`` when ``now`` (aware) is outside quiet hours, else when they end."""
        if now.tzinfo is None:
            raise ValueError("quiet hours need an aware datetime")
        opens = self._end_of_window_around(now)
        # A DST jump can swallow a day's whole open interval (open only 01:00-01:01 on
        # the night the clocks skip 01:00-02:00): the moment after the jump is quiet
        # again, and the window ends a day later.
        while opens is not None and (later := self._end_of_window_around(opens)) is not None:
            opens = later
        return opens

    def _end_of_window_around(self, now: datetime) -> datetime | None:
        local = now.astimezone(self.zone)
        clock = local.time().replace(tzinfo=None)
        if self.start < self.end:
            quiet = self.start <= clock < self.end
            ends_on = local.date()
        else:
            quiet = clock >= self.start or clock < self.end
            ends_on = local.date() + timedelta(days=1 if clock >= self.start else 0)
        return self._at(ends_on) if quiet else None

    def _at(self, day: date) -> datetime:
        # Round-trip through UTC so a wall time skipped by a DST change lands after it.
        wall = datetime.combine(day, self.end, tzinfo=self.zone)
        return wall.astimezone(ZoneInfo("UTC")).astimezone(self.zone)

    def describe(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} {self.zone.key}"


def parse_quiet_hours(value: object) -> QuietHours:
    """``"HH:MM-HH:MM"`` with an optional zone; :class:`RuleProblem` otherwise."""
    match = _WINDOW.match(value) if isinstance(value, str) else None
    if match is None:
        raise RuleProblem(
            f'quiet_hours {value!r} is not "HH:MM-HH:MM" with an optional zone,'
            ' e.g. "21:00-09:00" or "21:00-09:00 Asia/Kolkata"'
        )
    start_h, start_m, end_h, end_m, zone_name = match.groups()
    try:
        start = time(int(start_h), int(start_m))
        end = time(int(end_h), int(end_m))
    except ValueError:
        raise RuleProblem(f"quiet_hours {value!r}: not a time of day") from None
    if start == end:
        raise RuleProblem(f"quiet_hours {value!r}: start and end are the same")
    return QuietHours(start=start, end=end, zone=_zone(zone_name) if zone_name else DEFAULT_ZONE)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RuleProblem(f"quiet_hours zone {name!r} is not a known time zone") from None
