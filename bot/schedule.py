"""When a person's check-in prompts fall: wall-clock times in their own zone, turned into UTC instants.

Every occurrence is computed from its local calendar date and local time with
`zoneinfo` (combine, then convert), never by stepping a UTC instant, so 09:00
stays 09:00 across daylight-saving changes. A local time that does not exist
(skipped by a spring-forward change) falls on the first valid minute after it;
a local time that happens twice (fall back) is its first occurrence, so it is
one prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from storage.vocabulary import Cadence

# Biweekly people are prompted in the weeks an even number of weeks after this Monday.
BIWEEKLY_EPOCH = date(2024, 1, 1)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Reminders stay inside the working day: none before its start, none after its end.
WORKDAY_START, WORKDAY_END = time(9, 0), time(20, 0)
LONGEST_GAP_MINUTES = 48 * 60  # no zone has skipped more than a day of wall-clock time at once


@dataclass(frozen=True)
class Schedule:
    """A check-in rhythm: a weekday (0 = Monday), a local time and a cadence."""

    weekday: int
    at: time
    cadence: str = Cadence.WEEKLY

    @property
    def step(self) -> int:
        return 14 if self.cadence == Cadence.BIWEEKLY else 7

    def describe(self) -> str:
        return f"{WEEKDAYS[self.weekday].capitalize()} {self.at:%H:%M}, {self.cadence}"

    def falls_on(self, day: date) -> bool:
        """Whether a prompt of this schedule falls on the local date `day`."""
        if day.weekday() != self.weekday:
            return False
        if self.cadence != Cadence.BIWEEKLY:
            return True
        monday = day - timedelta(days=day.weekday())
        return ((monday - BIWEEKLY_EPOCH).days // 7) % 2 == 0


DEFAULT = Schedule(0, time(9, 0), Cadence.WEEKLY)


def zone_of(name: str | None) -> ZoneInfo:
    """The person's zone; UTC when it is missing or unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ValueError, KeyError, OSError):
        return ZoneInfo("UTC")


def wall_clock(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant at which the local clock in `zone` shows `at` on `day`.

    A time skipped by a change (02:30 on a spring-forward night in New York) is the
    first minute after it that exists (03:00); a repeated time is its first occurrence.
    """
    naive = datetime.combine(day, at)
    for minutes in range(LONGEST_GAP_MINUTES + 1):
        candidate = naive + timedelta(minutes=minutes)
        local = candidate.replace(tzinfo=zone, fold=0)
        if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == candidate:
            return local.astimezone(UTC)
    raise ValueError(f"no valid local time after {naive} in {zone.key}")


def end_of_day(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant at which the local date `day` ends in `zone`."""
    return wall_clock(day + timedelta(days=1), time(0, 0), zone)


def next_prompt(schedule: Schedule, zone: ZoneInfo, after: datetime, *, not_on: date | None = None) -> tuple[date, datetime]:
    """The first prompt strictly after `after`: its local date and its UTC instant. `not_on` is a
    local date already prompted for (the period a changed schedule must not prompt for again)."""
    day = after.astimezone(zone).date() - timedelta(days=1)
    for _ in range(schedule.step * 2 + 3):
        if schedule.falls_on(day) and day != not_on:
            instant = wall_clock(day, schedule.at, zone)
            if instant > after:
                return day, instant
        day += timedelta(days=1)
    raise AssertionError("a schedule always falls within two of its steps")


def latest_prompt(schedule: Schedule, zone: ZoneInfo, at_or_before: datetime) -> tuple[date, datetime]:
    """The last prompt at or before an instant: its local date and UTC instant."""
    day = at_or_before.astimezone(zone).date() + timedelta(days=1)
    for _ in range(schedule.step * 2 + 3):
        if schedule.falls_on(day):
            instant = wall_clock(day, schedule.at, zone)
            if instant <= at_or_before:
                return day, instant
        day -= timedelta(days=1)
    raise AssertionError("a schedule always falls within two of its steps")


def reminder_time(prompted: datetime, delay: timedelta, zone: ZoneInfo, next_at: datetime) -> datetime | None:
    """When to remind someone who has not answered a prompt sent at `prompted`: after `delay`, moved
    into the working day (after its end: the next morning; before its start: that morning); None when
    that would come at or after the next prompt."""
    when = prompted + delay
    local = when.astimezone(zone)
    if local.time() > WORKDAY_END:
        when = wall_clock(local.date() + timedelta(days=1), WORKDAY_START, zone)
    elif local.time() < WORKDAY_START:
        when = wall_clock(local.date(), WORKDAY_START, zone)
    return when if when < next_at else None


def describe_instant(instant: datetime, zone: ZoneInfo) -> str:
    """`Monday 2027-03-08 09:00 America/New_York`: a prompt as the person reads it."""
    local = instant.astimezone(zone)
    return f"{WEEKDAYS[local.weekday()].capitalize()} {local:%Y-%m-%d %H:%M} {zone.key}"
