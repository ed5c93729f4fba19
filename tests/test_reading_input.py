"""Input read the way people mean it: dates as people write them (through dateparser, with quarters and
period ends), numeric dates that read two ways refused with both, progress that never turns a mistyped
number into a note, and the SMART hint's idea of a measure."""

from __future__ import annotations

from datetime import date

import pytest

from bot import commands, values
from bot.errors import ParseError
from bot.hints import measured

WEDNESDAY = date(2027, 3, 10)


@pytest.mark.parametrize(("written", "meant"), [
    ("2027-12-31", date(2027, 12, 31)),
    ("31 Dec 2027", date(2027, 12, 31)),
    ("Dec 31", date(2027, 12, 31)),
    ("next friday", date(2027, 3, 12)),
    ("in 2 weeks", date(2027, 3, 24)),
    ("end of month", date(2027, 3, 31)),
    ("end of the quarter", date(2027, 3, 31)),
    ("EOY", date(2027, 12, 31)),
    ("Q2", date(2027, 6, 30)),
    ("q1", date(2027, 3, 31)),  # this year's first quarter has not ended yet
    ("Q2 2028", date(2028, 6, 30)),
    ("2027 Q4", date(2027, 12, 31)),
    ("13/04/2027", date(2027, 4, 13)),  # one reading only
])
def test_dates_as_people_write_them(written, meant):
    assert values.calendar_date(written, WEDNESDAY) == meant


def test_a_past_quarter_without_a_year_is_next_years():
    assert values.calendar_date("Q1", date(2027, 5, 2)) == date(2028, 3, 31)


@pytest.mark.parametrize(("written", "problem"), [
    ("03/04/2027", "`03/04/2027` could be 3 April 2027 or 4 March 2027; write 2027-04-03 or 2027-03-04"),
    ("31/02/2027", "must be a day on the calendar"),
    ("2027-02-30", "must be a day on the calendar"),
    ("soon", "must be a date like 2027-03-31, 31 Dec 2027"),
    ("next friday ship", "must be a date like"),
])
def test_dates_that_read_two_ways_or_none_are_refused(written, problem):
    with pytest.raises(values.BadValue) as refused:
        values.calendar_date(written, WEDNESDAY)
    assert problem in refused.value.problem


def test_a_date_option_takes_the_words_that_make_the_date():
    token = values.TODAY.set(WEDNESDAY)
    try:
        draft = commands.parse("goals add Ship v2 due:31 Dec 2027 parent:G-3").draft
        assert (draft.title, draft.due, draft.parent) == ("Ship v2", date(2027, 12, 31), 3)
        draft = commands.parse("goals add Launch the beta due:next friday private").draft
        assert (draft.title, draft.due, draft.private) == ("Launch the beta", date(2027, 3, 12), True)
        assert commands.parse("goals edit G-1 due:end of month").changes == (("due", date(2027, 3, 31)),)
        assert commands.parse("goals milestone add G-1 Contract signed due:in 2 weeks") == commands.MilestoneAdd(
            1, "Contract signed", date(2027, 3, 24))
        assert commands.parse("goals milestone add G-1 Audit due:Dec 31 done").due == date(2027, 12, 31)
        assert commands.parse("goals away until next friday").until == date(2027, 3, 12)
        with pytest.raises(ParseError) as refused:
            commands.parse("goals add Launch due:03/04/2027")
        assert refused.value.problem.startswith("Due `03/04/2027` could be 3 April 2027 or 4 March 2027")
    finally:
        values.TODAY.reset(token)


async def test_a_new_goal_is_not_due_in_the_past(org):
    token = values.TODAY.set(WEDNESDAY)
    try:
        said = await org.say("ana@example.com", "goals add Cut churn due:2027-03-09")
        assert said == "The due date 2027-03-09 has passed; a new goal is due today or later.", said
        assert "Proposed G-1" in await org.say("ana@example.com", "goals add Cut churn due:in 2 weeks")
        assert "Due       2027-03-24" in await org.say("ana@example.com", "goals show G-1")
    finally:
        values.TODAY.reset(token)


@pytest.mark.parametrize("line", ["goals progress G-1 sixty", "goals progress G-1 waiting on legal", "checkin G-1 sixty",
                                  "goals progress G-1 6o%"])
def test_a_word_where_progress_goes_is_refused_never_a_note(line):
    with pytest.raises(ParseError) as refused:
        commands.parse(line)
    assert "note: first" in refused.value.problem and refused.value.problem[0].isupper()
    assert "?." not in refused.value.message


def test_progress_takes_a_percentage_a_health_or_both_then_the_note():
    assert commands.parse("goals progress G-1 note: waiting on legal") == commands.Progress(1, None, None, "waiting on legal")
    assert commands.parse("goals progress G-1 amber waiting on legal").health == "at_risk"
    assert commands.parse("goals progress G-1 yellow").health == "at_risk"
    assert commands.parse("goals progress G-1 40 red waiting on legal").health == "off_track"


@pytest.mark.parametrize(("title", "is_measured"), [
    ("Ship v2", False), ("Ship by Q3", False), ("Launch in 2027", False), ("Deploy ten times a day", False),
    ("Cut churn to 3% a month", True), ("Grow ARR to $12M", True), ("Close 15 deals in DACH", True),
    ("10x faster builds", True), ("Reach 1,200 leads", True),
])
def test_a_title_is_measured_by_a_number_with_a_unit(title, is_measured):
    assert measured(title) is is_measured
