"""Check-in times as wall-clock times in each person's zone, across both daylight-saving changes of a year."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from bot.schedule import DEFAULT, Schedule, end_of_day, latest_prompt, next_prompt, reminder_time, wall_clock, zone_of

ZONES = ("America/New_York", "Europe/Berlin", "Asia/Kolkata", "Pacific/Auckland", "Australia/Lord_Howe")


@pytest.mark.parametrize("name", ZONES)
def test_a_weekly_prompt_stays_at_nine_local_through_a_whole_year(name):
    zone = zone_of(name)
    after = datetime(2027, 1, 1, tzinfo=UTC)
    offsets = set()
    previous = None
    for _ in range(53):
        day, at = next_prompt(DEFAULT, zone, after)
        local = at.astimezone(zone)
        assert (local.date(), local.time(), local.weekday()) == (day, time(9, 0), 0)
        if previous is not None:
            assert day - previous == timedelta(days=7)
        offsets.add(local.utcoffset())
        previous, after = day, at
    if name != "Asia/Kolkata":
        assert len(offsets) == 2, "the year crosses both changes, so the UTC instant moves twice"
    else:
        assert len(offsets) == 1


def test_a_time_skipped_by_spring_forward_is_sent_at_the_first_minute_after_it():
    new_york, lord_howe = zone_of("America/New_York"), zone_of("Australia/Lord_Howe")
    # 2027-03-14: New York's clocks jump from 02:00 to 03:00.
    sunday = Schedule(6, time(2, 30))
    day, at = next_prompt(sunday, new_york, datetime(2027, 3, 10, tzinfo=UTC))
    assert (day, at.astimezone(new_york).time(), at) == (date(2027, 3, 14), time(3, 0), datetime(2027, 3, 14, 7, tzinfo=UTC))
    # The week after, 02:30 exists again.
    _, later = next_prompt(sunday, new_york, at)
    assert later.astimezone(new_york).time() == time(2, 30)
    # 2026-10-04: Lord Howe moves half an hour, from 02:00 to 02:30.
    day, at = next_prompt(Schedule(6, time(2, 15)), lord_howe, datetime(2026, 10, 1, tzinfo=UTC))
    assert (day, at.astimezone(lord_howe).time()) == (date(2026, 10, 4), time(2, 30))


def test_a_repeated_hour_is_one_prompt_at_its_first_occurrence():
    new_york = zone_of("America/New_York")
    # 2027-11-07: 01:00-02:00 happens twice in New York.
    sunday = Schedule(6, time(1, 30))
    day, at = next_prompt(sunday, new_york, datetime(2027, 11, 5, tzinfo=UTC))
    assert (day, at) == (date(2027, 11, 7), datetime(2027, 11, 7, 5, 30, tzinfo=UTC))  # 01:30 EDT, the first one
    following_day, _ = next_prompt(sunday, new_york, at)
    assert following_day == date(2027, 11, 14), "the second 01:30 of that night is not a second prompt"
    assert latest_prompt(sunday, new_york, datetime(2027, 11, 7, 6, 45, tzinfo=UTC)) == (day, at)


def test_a_sunday_to_thursday_week_and_biweekly_prompts():
    kolkata = zone_of("Asia/Kolkata")
    sunday = Schedule(6, time(9, 0))
    day, _ = next_prompt(sunday, kolkata, datetime(2027, 3, 8, tzinfo=UTC))
    assert day.weekday() == 6
    biweekly = Schedule(0, time(9, 0), "biweekly")
    first, at = next_prompt(biweekly, kolkata, datetime(2027, 3, 1, tzinfo=UTC))
    second, _ = next_prompt(biweekly, kolkata, at)
    assert second - first == timedelta(days=14)


def test_a_changed_schedule_never_prompts_twice_for_one_day():
    berlin = zone_of("Europe/Berlin")
    prompted = datetime(2027, 3, 8, 8, tzinfo=UTC)  # Monday 09:00 in Berlin
    later_that_day = Schedule(0, time(11, 0))
    day, at = next_prompt(later_that_day, berlin, prompted + timedelta(hours=1), not_on=date(2027, 3, 8))
    assert day == date(2027, 3, 15) and at.astimezone(berlin).time() == time(11, 0)


def test_reminders_fall_inside_the_working_day_and_before_the_next_prompt():
    berlin = zone_of("Europe/Berlin")
    nine = wall_clock(date(2027, 3, 8), time(9, 0), berlin)
    next_week = nine + timedelta(days=7)
    assert reminder_time(nine, timedelta(hours=4), berlin, next_week).astimezone(berlin).time() == time(13, 0)
    evening = wall_clock(date(2027, 3, 8), time(18, 0), berlin)
    moved = reminder_time(evening, timedelta(hours=4), berlin, next_week).astimezone(berlin)
    assert (moved.date(), moved.time()) == (date(2027, 3, 9), time(9, 0))
    early = wall_clock(date(2027, 3, 8), time(5, 0), berlin)
    assert reminder_time(early, timedelta(hours=1), berlin, next_week).astimezone(berlin).time() == time(9, 0)
    # A daily-ish squeeze: the next prompt comes before the working day does.
    assert reminder_time(evening, timedelta(hours=4), berlin, evening + timedelta(hours=10)) is None


def test_the_local_day_ends_at_local_midnight():
    auckland = zone_of("Pacific/Auckland")
    assert end_of_day(date(2027, 3, 8), auckland) == datetime(2027, 3, 8, 11, tzinfo=UTC)  # 00:00 NZDT on the 9th
