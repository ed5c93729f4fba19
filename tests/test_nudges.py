"""Owner nudges: with their check-in prompt, the owner of a goal that supports nothing gets one short message
suggesting its likeliest parent (their team's goals first, then their department's, then the company's), with
a button that links it; a goal with no update for two periods is nudged too; at most once per goal per two
weeks; `goals settings nudges off` stops them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import select

from adapters.console.render import render
from bot import nudges
from bot.clock import run_round
from bot.messages import Action, Actor, Address, Do, reply_from_dict
from storage.models import Goal, OutboxMessage, Person

from tests.test_alignment import build

WEEK = timedelta(days=7)
# The organisation's rounds prompted Ana and Ravi on Monday 2027-03-08 (and nudged them); the next
# Mondays' 09:00 in Lisbon is 09:00 UTC in March.
PROMPTS = datetime(2027, 3, 15, 9, tzinfo=UTC)


async def nudges_to(db, email: str) -> list[OutboxMessage]:
    async with db.transaction(write=False) as session:
        return list((await session.execute(
            select(OutboxMessage).join(Person, Person.id == OutboxMessage.person_id)
            .where(OutboxMessage.kind == "owner-nudge", Person.email == email).order_by(OutboxMessage.id)
        )).scalars())


async def test_an_unaligned_goal_gets_its_likeliest_parent_with_the_prompt_and_a_button_that_links_it(org):
    # Ana's G-5 "Learn Rust" and G-10 supported nothing when the round prompted her; Ravi's private G-7 too.
    await build(org)
    (ana,) = await nudges_to(org.db, "ana@example.com")
    shown = render(reply_from_dict(ana.body))
    assert shown.startswith("A nudge about your goals")
    # No goal near her looks like "Learn Rust": the goals she could support are offered, her team's first.
    assert "G-5 supports no goal yet. Goals near you it could support: G-3 Halve paging, G-2 Reliable platform, " \
           "G-1 Grow revenue." in shown, shown
    assert "Link to G-3: goals link G-5 G-3" in shown and "goals settings nudges off" in shown
    (ravi,) = await nudges_to(org.db, "ravi@example.com")
    assert "G-7 supports no goal yet" in render(reply_from_dict(ravi.body))
    assert (await run_round(org.db, datetime(2027, 3, 8, 10, 5, tzinfo=UTC))).nudges == 0  # once
    # A goal whose title looks like one of her team's gets that one, with one button.
    await org.say("ana@example.com", "goals add Halve paging on the platform")
    await org.say("bo@example.com", "goals approve G-11")
    await run_round(org.db, PROMPTS)
    shown = render(reply_from_dict((await nudges_to(org.db, "ana@example.com"))[-1].body))
    assert "G-11 supports no goal yet. It looks like it belongs under G-3 Halve paging (your team's goal)." in shown
    assert "Link to G-3: goals link G-11 G-3" in shown and "G-5" not in shown  # G-5 was nudged a week ago
    # The button links it, as whoever presses it is allowed to.
    button = next(b for block in reply_from_dict((await nudges_to(org.db, "ana@example.com"))[-1].body).blocks
                  if hasattr(block, "buttons") for b in block.buttons if b.action == Do.LINK)
    assert button.value == "G-11 G-3"
    nina = Actor("console", "nina@example.com", email="nina@example.com")
    refused = await org.bot.act(Action(nina, Do.LINK, button.value, Address.direct("console", "nina@example.com")))
    assert refused.error and "G-11" in refused.summary
    linked = await org.bot.act(Action(Actor("console", "ana@example.com", email="ana@example.com"), Do.LINK,
                                      button.value, Address.direct("console", "ana@example.com")))
    assert not linked.error and "G-11" in linked.summary and "G-3" in linked.summary
    assert await parent_of(org.db, 11) == 3


async def test_development_goals_may_stand_alone_and_a_units_goal_nudges_its_lead(org):
    await build(org)
    await org.say("ana@example.com", "goals add Learn Go category:development")
    await org.say("bo@example.com", "goals approve G-11")
    await org.say("bo@example.com", "goals add Platform hackathon level:team")  # Platform's goal; Bo leads Platform
    await org.say("omar@example.com", "goals approve G-12")
    await org.say("bo@example.com", "goals settings checkin on")
    await run_round(org.db, PROMPTS)  # works out Bo's next prompt: Monday 09:00 in Copenhagen, 08:00 UTC
    await run_round(org.db, PROMPTS + WEEK - timedelta(hours=1))
    shown = render(reply_from_dict((await nudges_to(org.db, "bo@example.com"))[-1].body))
    assert "G-12 supports no goal yet" in shown and "G-2 Reliable platform" in shown, shown
    await run_round(org.db, PROMPTS + WEEK)
    shown = render(reply_from_dict((await nudges_to(org.db, "ana@example.com"))[-1].body))
    assert "G-11 supports no goal yet" not in shown and "G-5 supports no goal yet" in shown
async def test_a_goal_is_nudged_at_most_once_every_two_weeks_and_not_at_all_when_turned_off(org):
    await build(org)  # Ravi was nudged about G-7 with his prompt of 2027-03-08
    assert len(await nudges_to(org.db, "ravi@example.com")) == 1
    tally = await run_round(org.db, PROMPTS)  # a week later G-7 still supports nothing: not again yet
    assert tally.prompts == 3 and tally.nudges == 0
    assert len(await nudges_to(org.db, "ravi@example.com")) == 1
    tally = await run_round(org.db, PROMPTS + WEEK)  # two weeks after: again, with that prompt
    # Ana (G-5) and Ravi (G-7) again. Nina's G-9 has had no update for two weeks, but she was away for the
    # first of them: one prompt without an update does not make it stale.
    assert tally.nudges == 2 and "2 nudges" in tally.line()
    assert await nudges_to(org.db, "nina@example.com") == []
    assert len(await nudges_to(org.db, "ravi@example.com")) == 2
    said = await org.say("ravi@example.com", "goals settings nudges off")
    assert said.startswith("Saved. No more nudges")
    await run_round(org.db, PROMPTS + 3 * WEEK)
    assert len(await nudges_to(org.db, "ravi@example.com")) == 2
    assert "Say nudges off or nudges on" in await org.say("ravi@example.com", "goals settings nudges maybe")
    shown = await org.say("ravi@example.com", "goals settings nudges")  # alone: the settings as they are
    assert "off (goals settings nudges on)" in shown and "Digest" in shown, shown


async def test_a_stale_goal_is_nudged_to_be_updated(org):
    await build(org)
    await org.say("ana@example.com", "goals link G-5 G-3")  # aligned now, but still no update for weeks
    await org.say("ana@example.com", "goals link G-10 G-3")
    async with org.db.transaction() as session:
        await session.execute(sa.update(Goal).where(Goal.number == 5).values(
            progress_updated_at=PROMPTS - 20 * 24 * timedelta(hours=1), approved_at=PROMPTS - 30 * 24 * timedelta(hours=1),
            created_at=PROMPTS - 30 * 24 * timedelta(hours=1)))
    async with org.db.transaction() as session:  # the nudge of two weeks ago is long past
        await session.execute(sa.update(Goal).values(nudged_at=None))
    await run_round(org.db, PROMPTS)  # Ana was asked once since (on the 8th): not stale yet
    assert len(await nudges_to(org.db, "ana@example.com")) == 1
    await run_round(org.db, PROMPTS + WEEK)  # asked on the 8th and the 15th, and no update: stale
    ana = (await nudges_to(org.db, "ana@example.com"))[-1]
    shown = render(reply_from_dict(ana.body))
    assert "G-5 has had no update for two check-ins" in shown and "Open G-5: goals show G-5" in shown
    assert "belongs under" not in shown


def test_the_likeliest_parent_is_the_nearest_in_the_org_then_the_closest_title():
    from types import SimpleNamespace as Row

    goal = Row(id=1, number=1, title="Cut alert noise by half", level="individual")
    team = Row(id=2, number=2, title="Cut alert noise on the pager", level="team")
    department = Row(id=3, number=3, title="Cut alert noise across engineering", level="department")
    company = Row(id=4, number=4, title="Alert noise", level="company")
    peer = Row(id=5, number=5, title="Cut alert noise by half", level="individual")  # never a parent: same level
    assert nudges.suggest(goal, [(0, team), (1, department), (2, company), (0, peer)]) == (0, team)
    assert nudges.suggest(goal, [(1, department), (2, company)]) == (1, department)
    other = Row(id=6, number=6, title="Reduce alert noise", level="department")
    assert nudges.suggest(goal, [(1, other), (1, department)]) == (1, department)  # same standing: the likelier title
    unlike = Row(id=8, number=8, title="Hire two engineers", level="team")
    assert nudges.suggest(goal, [(0, unlike)]) is None  # nothing looks like it: no guess
    assert nudges.suggest(Row(id=7, number=7, title="x", level="company"), [(2, company)]) is None


async def parent_of(db, number: int) -> int | None:
    async with db.transaction(write=False) as session:
        parent = (await session.execute(select(Goal.parent_id).where(Goal.number == number))).scalar_one()
        return None if parent is None else (await session.get(Goal, parent)).number


async def test_the_link_button_pressed_in_slack_links_as_the_presser_may(org):
    import asyncio

    from tests.slack_harness import SlackWorkspace, started_fake_slack

    await build(org)
    fake = await started_fake_slack()
    workspace = SlackWorkspace(org.db, fake)
    await workspace.start()
    try:
        # Nina presses a Link button carrying Ana's goal: the presser decides, never the button.
        status, _ = await workspace.press("UNINA", Do.LINK.value, "G-5 G-3")
        assert status == 200
        refusal = await fake.wait_for(lambda: [m for m in fake.posted("UNINA") if "G-5" in (m["text"] or "")],
                                      what="the refusal")
        assert "Only Ana Silva" in refusal[0]["text"] and await parent_of(org.db, 5) is None
        status, _ = await workspace.press("UANA", Do.LINK.value, "G-5 G-3")
        assert status == 200
        for _ in range(200):
            if await parent_of(org.db, 5) == 3:
                break
            await asyncio.sleep(0.02)
        assert await parent_of(org.db, 5) == 3
    finally:
        await workspace.close()
        await fake.close()


async def test_when_nothing_near_looks_like_it_the_likeliest_parent_elsewhere_is_found_by_the_search(org):
    await build(org)  # G-3 "Halve paging" is Platform's team goal, in Engineering; Nina is in Sales
    await org.say("nina@example.com", "goals add Halve paging for EMEA customers")
    await org.say("lena@example.com", "goals approve G-11")
    await run_round(org.db, PROMPTS)  # Nina's first prompt since she came back
    (nina,) = await nudges_to(org.db, "nina@example.com")
    shown = render(reply_from_dict(nina.body))
    assert "G-11 supports no goal yet. It looks like it belongs under G-3 Halve paging (a goal elsewhere with a " \
           "title like it)." in shown, shown
    assert "Link to G-3: goals link G-11 G-3" in shown


def test_a_stale_units_goal_is_updated_by_itself_not_in_its_leads_check_in():
    # A lead's check-in lists their own goals; their unit's goals take an update of their own.
    own = Goal(tenant_id=1, number=5, title="Tune alerting", level="individual", owner_person_id=4)
    units = Goal(tenant_id=1, number=9, title="Halve paging incidents", level="team", owner_unit_id=2)
    shown = render(nudges.render([nudges.Nudged(own, stale=True), nudges.Nudged(units, stale=True)]))
    assert "G-5 has had no update for two check-ins. Give it one in your check-in" in shown, shown
    assert "G-9 has had no update for two check-ins. Give it one: goals progress G-9 <percent>" in shown, shown
