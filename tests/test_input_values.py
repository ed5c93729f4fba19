"""What people type is checked once at the core's boundary, on both databases: stored values are always
valid, and a value that is not is refused with one line that changes nothing."""

import math

import pytest
from sqlmodel import select

from storage.models import CheckIn, Goal, GoalEvent, KeyResult, Kudos, Milestone, Person


async def rows(org, model):
    async with org.db.transaction(write=False) as session:
        return (await session.execute(select(model))).scalars().all()


async def refused(org, email: str, text: str) -> str:
    """The command is refused with one line, and nothing about goals changed."""
    before = [(g.title, g.progress, g.note) for g in await rows(org, Goal)], len(await rows(org, GoalEvent))
    reply = await org.send(email, text)
    assert reply.error, f"{text!r} was accepted: {reply.summary}"
    assert "\n" not in reply.summary and len(reply.summary) < 600
    assert "Something went wrong" not in reply.summary
    assert ([(g.title, g.progress, g.note) for g in await rows(org, Goal)], len(await rows(org, GoalEvent))) == before
    return reply.summary


async def test_control_characters_and_nul_never_reach_the_database(org):
    reply = await org.say("ana@example.com", "goals add Cut\x00 churn\x07 to 3%\x1b")
    assert "Proposed G-1 Cut churn to 3%" in reply
    await org.say("ana@example.com", "goals milestone add G-1 Draft\x00 plan")
    await org.say("ana@example.com", "goals kr add G-1 Churn\x00 rate 5->3 %\x00")
    await org.say("ana@example.com", "goals progress G-1 at-risk waiting\x00 on legal")
    await org.say("bo@example.com", "goals kudos @ana G-1 great\x00 work")
    await org.say("ana@example.com", "checkin G-1 at-risk still\x00 waiting")
    texts = [(await rows(org, Goal))[0].title, (await rows(org, Goal))[0].note, (await rows(org, Milestone))[0].title,
             (await rows(org, KeyResult))[0].metric, (await rows(org, KeyResult))[0].unit,
             (await rows(org, Kudos))[0].message, (await rows(org, CheckIn))[0].answer]
    assert texts == ["Cut churn to 3%", "still waiting", "Draft plan", "Churn rate", "%", "great work",
                     "G-1 at-risk still waiting"]


async def test_text_is_stored_in_one_normal_form(org):
    await org.say("ana@example.com", "goals add Cafe\u0301 menu")  # e + combining accent
    assert (await rows(org, Goal))[0].title == "Caf\u00e9 menu"


@pytest.mark.parametrize("title", ["\u200b", "\u2060\ufeff \u200b", "\u3164", "\u0301"])
async def test_a_title_with_nothing_visible_is_refused(org, title):
    assert "The title is missing" in await refused(org, "ana@example.com", f"goals add {title}")


@pytest.mark.parametrize("text, fragment", [
    ("goals progress G-1 1e309", "`1e309` is not a number"),
    ("goals progress G-1 NaN", "`NaN` is not a number I can store"),
    ("goals progress G-1 -nan", "`-nan` is not a number I can store"),
    ("checkin G-1 +NaN%", "`+NaN%` is not a number I can store"),
    ("goals progress G-1 inf", "not a number I can store"),
    ("goals progress G-1 ٦٠", "write it with the digits 0-9"),
    ("goals progress G-1 6o% behind", "`6o%` is not a number"),
    ("goals progress G-1 " + "9" * 400, "Progress is a percentage from 0 to 100"),
    ("goals kr G-1.1 1e309", "must be a number"),
    ("goals kr G-1.1 " + "9" * 400, "is out of range"),
    ("goals kr G-1.1 -" + "9" * 400, "is out of range"),
    ("goals kr G-1.1 1,000", "could mean 1000 or 1.000"),
    ("goals kr G-1.1 28k", "could be read more than one way"),
    ("goals kr add G-1 Churn 1" + "0" * 320 + "->3", "is out of range"),
    ("goals kr add G-1 Churn 5->NaN", "Give a metric"),
])
async def test_numbers_are_finite_in_range_and_never_become_a_note(org, text, fragment):
    await org.say("ana@example.com", "goals add Cut churn")
    await org.say("ana@example.com", "goals kr add G-1 Churn 5->3 %")
    assert fragment in await refused(org, "ana@example.com", text)
    [kr] = await rows(org, KeyResult)
    assert (kr.start, kr.target, kr.current) == (5.0, 3.0, 5.0)


@pytest.mark.parametrize("text, fragment", [
    ("goals progress G-1 1 000", "`1 000` could be one number or a number and a note"),
    ("goals progress G-1 60 3 vendors signed", "put a note after note:"),
    ("goals kr G-1.1 1 000", "`1 000` could be one number or two"),
    ("goals kr add G-1 Revenue 0->28k", "could be read more than one way"),
    ("checkin G-1 70 1 vendor late", "could be one number or a number and a note"),
])
async def test_numbers_split_by_a_space_or_with_a_multiplier_are_never_guessed(org, text, fragment):
    await org.say("ana@example.com", "goals add Cut churn")
    await org.say("ana@example.com", "goals kr add G-1 Churn 5->3 %")
    assert fragment in await refused(org, "ana@example.com", text)


async def test_a_percent_sign_after_a_space_belongs_to_the_number(org):
    await org.say("ana@example.com", "goals add Cut churn")
    await org.say("ana@example.com", "goals progress G-1 60 %")
    await org.say("ana@example.com", "goals progress G-1 70 note: 3 vendors signed")
    [goal] = await rows(org, Goal)
    assert (goal.manual_progress, goal.note) == (70.0, "3 vendors signed")


async def test_a_note_may_start_with_a_number_when_it_says_so(org):
    await org.say("ana@example.com", "goals add Cut churn")
    assert "2nd vendor signed" in await org.say("ana@example.com", "goals progress G-1 note: 2nd vendor signed")
    [goal] = await rows(org, Goal)
    assert (goal.manual_progress, goal.note) == (0.0, "2nd vendor signed")


async def test_decimal_commas_and_grouped_thousands_are_read_as_meant(org):
    await org.say("ana@example.com", "goals add Grow revenue")
    await org.say("ana@example.com", "goals kr add G-1 Revenue 0->1,250,000 USD")
    await org.say("ana@example.com", "goals kr G-1.1 312,5")
    [kr] = await rows(org, KeyResult)
    assert (kr.target, kr.current, kr.unit) == (1_250_000.0, 312.5, "USD")
    assert all(math.isfinite(v) for v in (kr.start, kr.target, kr.current))


@pytest.mark.parametrize("text", ["goals show G-٣", "goals show Ｇ-１", "goals list page:٢", "goals list page:0",
                                  "goals list page:99999999999999999999", "goals add X due:٢٠٢٧-٠٣-٣١",
                                  "goals add X due:2027-02-30", "goals add X due:9999-12-31", "goals add X due:20270331",
                                  "goals settings checkin monday ０９:００"])
async def test_references_pages_dates_and_times_take_ascii_digits_within_range(org, text):
    await refused(org, "ana@example.com", text)


@pytest.mark.parametrize("name", ["z" * 300, "localtime", "Factory", "posix/Europe/Paris", "right/UTC", "../etc/passwd",
                                  "Europe/Nowhere", "EST5EDT", "Etc/GMT+5"])
async def test_only_real_region_time_zones_are_accepted(org, name):
    reply = await refused(org, "ana@example.com", f"goals settings timezone {name}")
    assert "is not a time zone I know" in reply or "give one time zone" in reply
    ana = [p for p in await rows(org, Person) if p.email == "ana@example.com"][0]
    assert ana.timezone == "Europe/Lisbon"


async def test_a_time_zone_is_read_in_any_case_and_stored_by_its_name(org):
    await org.say("ana@example.com", "goals settings timezone america/new_york")
    ana = [p for p in await rows(org, Person) if p.email == "ana@example.com"][0]
    assert ana.timezone == "America/New_York"


async def test_errors_quote_only_a_short_excerpt_of_what_was_typed(org):
    reply = await refused(org, "ana@example.com", "goals " + "x" * 10_000)
    assert len(reply) < 200 and "xxxx…" in reply
    reply = await refused(org, "ana@example.com", "goals show " + "G" * 10_000)
    assert len(reply) < 200


async def test_a_platform_profile_is_stored_only_as_far_as_it_is_valid(org):
    from bot.messages import Actor, Address, IncomingMessage

    actor = Actor("slack", "UNEW\x00", email="new@example.com", name="\x00New\u200b Person" + "x" * 400,
                  timezone="posix/Europe/Paris")
    reply = await org.bot.handle(IncomingMessage(actor, "goals add Learn Go", Address("slack", "D1")))
    assert not reply.error
    [person] = [p for p in await rows(org, Person) if p.email == "new@example.com"]
    assert "\x00" not in person.name and len(person.name) <= 200 and person.timezone == "UTC"
    reply = await org.bot.handle(IncomingMessage(Actor("slack", "U" * 300), "goals list", Address("slack", "D1")))
    assert reply.error and "could not tell who you are" in reply.summary
