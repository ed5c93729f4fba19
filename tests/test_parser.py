"""The command language: every form parses to its command; every malformed one says how to fix it."""

from datetime import date, time

import pytest

from bot import commands as c
from bot.errors import ParseError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("goals", c.Help()),
        ("goals help add", c.Help("add")),
        ("/goals add Cut churn parent:G-2 due:2027-03-31",
         c.Add(c.GoalDraft("Cut churn", parent=2, due=date(2027, 3, 31)))),
        ("add Launch private beta", c.Add(c.GoalDraft("Launch private beta"))),
        ("goals add Find a mentor category:development private",
         c.Add(c.GoalDraft("Find a mentor", category="development", private=True))),
        ("goals add Team thing level:team owner:@ana", c.Add(c.GoalDraft("Team thing", level="team", owner="@ana"))),
        ("goals assign Write runbook owner:ravi parent:g-9", c.Assign(c.GoalDraft("Write runbook", parent=9, owner="@ravi"))),
        ("goals list", c.ListGoals()),
        ("goals list team all page:2", c.ListGoals("team", None, True, 2)),
        ("goals list @ana", c.ListGoals("person", "@ana")),
        ("goals show G-12", c.Show(12)),
        ("goals tree", c.Tree()),
        ("goals tree G-1", c.Tree(1)),
        ("goals link G-12 G-3", c.Link(12, 3)),
        ("goals unlink G-12", c.Unlink(12)),
        ("goals approve G-12", c.Approve(12)),
        ("goals return G-12 needs a measure", c.Return(12, "needs a measure")),
        ("goals progress G-12 60", c.Progress(12, 60.0)),
        ("goals progress G-12 60% at risk waiting on legal", c.Progress(12, 60.0, "at_risk", "waiting on legal")),
        ("goals progress G-12 off-track", c.Progress(12, None, "off_track")),
        ("goals kr add G-12 Monthly churn 5->3 %", c.KeyResultAdd(12, "Monthly churn", 5.0, 3.0, "%")),
        ("goals kr add G-12 Uptime 99.5% -> 99.95%", c.KeyResultAdd(12, "Uptime", 99.5, 99.95, "%")),
        ("goals kr add G-12 ARR 8 to 12 $M", c.KeyResultAdd(12, "ARR", 8.0, 12.0, "$M")),
        ("goals kr G-12.1 4.2", c.KeyResultUpdate(12, 1, 4.2)),
        ("goals milestone add G-12 Legal review due:2027-01-15", c.MilestoneAdd(12, "Legal review", date(2027, 1, 15))),
        ("goals done G-12", c.Done(12)),
        ("goals archive G-12", c.Archive(12)),
        ("goals kudos @ana G-12 great launch", c.GiveKudos("@ana", "great launch", 12)),
        ("goals kudos <@U123|ana> thanks!", c.GiveKudos("<@U123|ana>", "thanks!")),
        ("goals settings", c.CheckinSettings()),
        ("goals settings checkin fri 16:30 biweekly", c.CheckinSettings(4, time(16, 30), "biweekly")),
        ("goals settings timezone Europe/Paris", c.TimezoneSetting("Europe/Paris")),
        ("goals away until 2027-01-05", c.Away(date(2027, 1, 5))),
        ("goals away off", c.Away(None)),
    ],
)
def test_parses(text, expected):
    assert c.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("goals frobnicate", "I don't know the command `frobnicate`."),
        ("goals lst", "Did you mean `goals list`?"),
        ("goals add", "The title is missing. Try: goals add <title>"),
        ("goals add parent:G-2", "The title is missing."),
        ("goals add X due:next-week", "Due must be a date like 2027-03-31, 31 Dec 2027, Dec 31, next friday, in 2 weeks, end of month, end of june or Q2 2027, not `next-week`. Try: goals add"),
        ("goals add X level:galaxy", "Level must be company, department, team or individual"),
        ("goals add X parent:12", "`12` is not a parent goal reference like G-12"),
        ("goals add X due:2027-01-01 start:2027-02-01", "The due date 2027-01-01 is before the start date 2027-02-01"),
        ("goals add X parent:G-1 parent:G-2", "`parent:` is given twice"),
        ("goals add " + "x" * 201, "The title is 201 characters; the limit is 200"),
        ("goals assign Write runbook", "Say who the goal is for with owner:@name"),
        ("goals show", "Which goal? Try: goals show G-12"),
        ("goals show G-1 G-2", "Name exactly one goal"),
        ("goals show twelve", "`twelve` is not a goal reference like G-12"),
        ("goals link G-1", "Name the goal, then the parent it supports"),
        ("goals link G-1 G-1", "G-1 cannot support itself"),
        ("goals return G-1", "Say why, so the owner knows what to change"),
        ("goals progress G-1 160", "Progress is a percentage from 0 to 100, not 160"),
        ("goals progress G-1", "Give a percentage, a health or a note"),
        ("goals kr add G-1 churn", "Give a metric, then where it starts and its target"),
        ("goals kr add G-1 churn 5->5", "Start and target are both 5; a key result must move"),
        ("goals kr G-1 5", "`G-1` is not a key result reference like G-12.1"),
        ("goals kr G-1.1 lots", "The current value must be a number, not `lots`"),
        ("goals milestone G-1 x", "Say `milestone add`, `milestone done` or `milestone remove`"),
        ("goals kudos ana thanks", "Start with the person, like @ana"),
        ("goals kudos @ana", "The message is missing"),
        ("goals settings checkin someday", "I don't understand `someday`"),
        ("goals settings checkin 25:00", "`25:00` is not a time of day"),
        ("goals away tomorrow", "Say until when"),
        ("goals list everyone", "I don't understand `everyone` here"),
        ("goals list page:0", "Page must be a whole number from 1"),
        ("goals help nothing", "There is no command `nothing`"),
    ],
)
def test_malformed_commands_say_what_is_wrong_in_one_line(text, fragment):
    with pytest.raises(ParseError) as caught:
        c.parse(text)
    assert fragment in caught.value.message
    assert "\n" not in caught.value.message
