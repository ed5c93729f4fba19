"""Channel summaries: added, listed and removed by admins (and a unit's lead for their own unit), posted by
the clock once per period at the adder's local time, with the unit's public goals only."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import select

from adapters.console.render import render
from bot.clock import run_round
from bot.messages import reply_from_dict
from storage.models import ChannelSummary, OutboxMessage

from tests.test_alignment import MONDAY, at, build

HOUR = timedelta(hours=1)
ADD = "goals admin summary add #platform Platform weekly monday 11:00"


async def posts(db, channel: str | None = None) -> list[OutboxMessage]:
    async with db.transaction(write=False) as session:
        query = select(OutboxMessage).where(OutboxMessage.kind == "summary").order_by(OutboxMessage.id)
        if channel is not None:
            query = query.where(OutboxMessage.to_channel == channel)
        return list((await session.execute(query)).scalars())


async def count(db) -> int:
    async with db.transaction(write=False) as session:
        return (await session.execute(sa.select(sa.func.count()).select_from(ChannelSummary))).scalar()


async def test_an_admin_adds_lists_and_removes_summaries_in_their_own_time_zone(org):
    said = await org.say("maya@example.com", "goals admin summary add #eng Engineering biweekly friday 16:30")
    assert said.startswith("Added S-1: #eng gets the goals of Engineering, biweekly, Friday 16:30 America/New_York time")
    assert "(every other week, in the same weeks as biweekly check-ins)" in said, said
    said = await org.say("maya@example.com", "goals admin summary add #all company weekly mon 09:00")
    assert said.startswith("Added S-2: #all gets the goals of the company, weekly, Monday 09:00 America/New_York time")
    listed = await org.say("maya@example.com", "goals admin summary list")
    assert "S-1 #eng" in listed and "Engineering, biweekly, Friday 16:30 America/New_York time" in listed
    assert "S-2 #all" in listed and "the company, weekly" in listed
    assert "Removed S-1" in await org.say("maya@example.com", "goals admin summary remove S-1")
    listed = await org.say("maya@example.com", "goals admin summary list")
    assert "S-1 #eng" not in listed and "S-2 #all" in listed and "summary remove S-2" in listed
    # A removed summary's number is never given again, so an old `remove S-1` cannot remove another.
    assert "Added S-3" in await org.say("maya@example.com", "goals admin summary add #eng Engineering weekly monday 09:00")
    assert "There is no summary S-1" in await org.say("maya@example.com", "goals admin summary remove S-1")
    # The same channel and unit twice is one summary.
    said = await org.say("maya@example.com", "goals admin summary add #all company weekly tue 10:00")
    assert "#all has the summary of the company already (S-2)" in said and await count(org.db) == 3


async def test_bad_summary_commands_say_what_is_wrong_in_one_line_and_change_nothing(org):
    cases = {
        "goals admin summary add #eng Nowhere weekly monday 09:00": "There is no unit called `Nowhere`.",
        "goals admin summary add #eng Platfrom weekly monday 09:00": "There is no unit called `Platfrom`. Did you mean Platform?",
        "goals admin summary add #eng Platform daily monday 09:00": "`daily` is not a cadence goalbot has",
        "goals admin summary add #eng Platform weekly monday 9am": "`9am` is not a time like 09:00",
        "goals admin summary add eng Engineering weekly monday 09:00": "Name the channel first, like #general.",
        "goals admin summary add #eng Engineering weekly mondy 09:00": "`mondy` is not a weekday; a summary ends with",
        "goals admin summary add #eng Engineering weekly monday 25:00": "`25:00` is not a time of day",
        "goals admin summary add #eng weekly monday 09:00": "Say which unit's goals it is about",
        "goals admin summary remove S-9": "There is no summary S-9.",
        "goals admin summary remove nine": "`nine` is not a summary",
        "goals admin summary frobnicate": "Say summary add, summary list or summary remove S-1",
    }
    for line, expected in cases.items():
        said = await org.say("maya@example.com", line)
        assert expected in said, (line, said)
        assert "Traceback" not in said and "?." not in said
    assert await count(org.db) == 0


async def test_only_admins_and_a_units_lead_for_their_own_unit_manage_summaries(org):
    assert "Only admins, and the lead of Platform or of a unit above it, can add a summary about Platform" in \
        await org.say("ana@example.com", ADD)
    assert "Only admins, and the leads of units for their units" in await org.say(
        "ana@example.com", "goals admin summary list")
    assert "Only admins can add a summary about the company's goals" in await org.say(
        "bo@example.com", "goals admin summary add #all company weekly monday 09:00")
    assert "the lead of Sales or of a unit above it" in await org.say(
        "bo@example.com", "goals admin summary add #sales Sales weekly monday 09:00")
    assert "Added S-1" in await org.say("bo@example.com", ADD)  # Bo leads Platform
    assert "Added S-2" in await org.say("omar@example.com", ADD.replace("#platform", "#plat2"))  # a unit below his
    assert "Added S-3" in await org.say("maya@example.com", "goals admin summary add #sales Sales weekly monday 09:00")
    listed = await org.say("bo@example.com", "goals admin summary list")
    assert "S-1 #platform" in listed and "S-2 #plat2" in listed and "S-3" not in listed
    assert "can remove a summary about Sales" in await org.say("bo@example.com", "goals admin summary remove S-3")
    assert await count(org.db) == 3


async def test_the_clock_posts_a_units_public_goals_once_per_period_at_local_time(org):
    await build(org)  # Platform: Ana's G-4 (at risk), G-5, G-10 (achieved this week); Ravi's G-6 (blocked), G-7 private
    # Maya is in New York: 11:00 there is 16:00 UTC in March before the change (the 14th), 15:00 after.
    await org.say("maya@example.com", "goals admin summary add #platform Platform weekly monday 11:00")
    assert (await run_round(org.db, MONDAY + 5 * HOUR + timedelta(minutes=59))).summaries == 0
    tally = await run_round(org.db, MONDAY + 6 * HOUR)
    assert tally.summaries == 1 and "1 summary" in tally.line()
    assert (await run_round(org.db, MONDAY + 6 * HOUR)).summaries == 0  # once
    (post,) = await posts(org.db, "platform")
    assert post.platform == "console" and post.person_id is None
    shown = render(reply_from_dict(post.body))
    assert shown.startswith("Platform: goals on Monday 2027-03-08"), shown
    assert "G-7" not in shown and "Find a mentor" not in shown  # private: never in a channel
    assert "Achieved: G-10 Ship the dashboard" in shown, shown
    # G-4 and G-6 had no health when the week began: they did not slip, they got one.
    assert "Slipped" not in shown and "Since last week" in shown
    assert "key results on target: G-4.1 (Tune alerting)" in shown
    assert "1 kudos (Bo Larsen to Ana Silva: for the alerting work)" in shown
    goals = shown[shown.index("Goals ("):]
    assert goals.index("G-3 ") < goals.index("G-6 ") < goals.index("G-4 ")  # the unit's own first, then the most urgent
    # The next week, after New York moved to summer time: 11:00 is 15:00 UTC.
    # During the next week G-4 goes from at risk to off track, and G-6 from blocked to at risk.
    await org.say("ana@example.com", "goals progress G-4 off track legal said no")
    await org.say("ravi@example.com", "goals progress G-6 at risk the vendor is back")
    await at(org.db, MONDAY + 2 * 24 * HOUR, only_before=MONDAY - 10 * 24 * HOUR)
    next_week = MONDAY + 7 * 24 * HOUR
    assert (await run_round(org.db, next_week + 4 * HOUR + timedelta(minutes=59))).summaries == 0
    assert (await run_round(org.db, next_week + 5 * HOUR)).summaries == 1
    second = render(reply_from_dict((await posts(org.db, "platform"))[1].body))
    assert "Slipped: G-4 Tune alerting (at risk to off track)" in second, second
    assert "G-6" not in second.split("Goals (")[0] and "Achieved" not in second


async def test_a_summary_is_not_posted_late_after_a_stop_and_two_clocks_post_it_once(db, org):
    await build(org)
    await org.say("maya@example.com", "goals admin summary add #platform Platform weekly monday 11:00")
    # The clock was down all of that Monday in New York: no late post on Tuesday afternoon.
    assert (await run_round(org.db, MONDAY + 30 * HOUR)).summaries == 0
    assert await posts(org.db) == []
    other = org.db.another()
    try:
        at = MONDAY + 7 * 24 * HOUR + 5 * HOUR
        results = await asyncio.gather(*(run_round(database, at) for database in (org.db, other, org.db, other)))
    finally:
        await other.dispose()
    assert sum(result.summaries for result in results) == 1 and len(await posts(org.db)) == 1


async def test_a_summary_of_2000_goals_fits_slack_and_teams_with_the_rest_named(db):
    """A unit of 2,000 goals: the post fits one Slack message (under 50 blocks, each section under 3,000
    characters) and one Teams card, the unit's own goals first, and names the command for the rest."""
    from adapters.slack.render import blocks as slack_blocks
    from adapters.teams import cards
    from benchmarks.digest import MONDAY as BENCH_MONDAY, build as build_org
    from bot import alignment, summaries
    from bot.alignment import Scope, ScopeKind
    from bot.people import tenant_by_key

    await build_org(db, 2_000)
    async with db.transaction(write=False) as session:
        tenant = await tenant_by_key(session, "default")
        reading = await alignment.read(session, tenant.id, BENCH_MONDAY)
        changes = await summaries._changes(session, tenant.id, BENCH_MONDAY - 7 * 24 * HOUR, BENCH_MONDAY)
    department = next(unit for unit in reading.units.values() if unit.kind == "department")
    scope = Scope(ScopeKind.UNIT, department.id)
    summary = ChannelSummary(tenant_id=tenant.id, number=1, platform="slack", channel_id="C1", channel_name="eng",
                             org_unit_id=department.id, weekday=0, at="09:00")
    post = summaries.post(reading, scope, summary, BENCH_MONDAY.date(), changes, [])
    assert len(post.goals) >= 2_000 // 10
    reply = summaries.render(post)
    slack = slack_blocks(reply)
    assert len(slack) < 50 and all(len(block.get("text", {}).get("text", "")) <= 3000 for block in slack)
    assert not any("do not fit here" in json.dumps(block) for block in slack)
    card = cards.render(reply)
    assert cards.size(card) <= cards.MAX_CARD_CHARS and "do not fit here" not in json.dumps(card)
    shown = render(reply)
    assert f"and {len(post.goals) - summaries.GOALS_SHOWN} more: {post.more_command}" in shown
    assert post.more_command == f"goals list unit:{department.name}"


async def next_post_at(db) -> datetime:
    async with db.transaction(write=False) as session:
        found = (await session.execute(select(ChannelSummary.next_at))).scalar_one()
    return found if found.tzinfo else found.replace(tzinfo=UTC)


async def test_in_slack_a_channel_goalbot_is_not_in_keeps_its_summary_until_goalbot_is_invited(org):
    from tests.fake_slack import TEAM
    from tests.slack_harness import SlackWorkspace, started_fake_slack, text_of

    fake = await started_fake_slack()
    workspace = SlackWorkspace(org.db, fake)
    await workspace.start()
    try:
        fake.add_channel("CPLAT", "platform", member=False)
        answer = text_of(await workspace.command("UMAYA", "admin summary add <#CPLAT|platform> Platform weekly monday 11:00"))
        assert "Added S-1: #platform gets the goals of Platform, weekly" in answer, answer
        assert "goalbot is not in #platform yet: type /invite @goalbot in the channel" in answer
        assert "S-1 #platform" in text_of(await workspace.command("UMAYA", "admin summary list"))
        nope = text_of(await workspace.command("UMAYA", "admin summary add <#CNOPE|secret> Platform weekly monday 11:00"))
        assert "There is no channel #secret that goalbot can see" in nope and await count(org.db) == 1
        assert (await run_round(org.db, await next_post_at(org.db))).summaries == 1
        workspace.slack.bot.wake_outboxes()
        await fake.wait_for(lambda: [c for c in fake.called("chat.postMessage") if c.args.get("channel") == "CPLAT"],
                            what="a first try at the channel")

        async def waiting() -> OutboxMessage:
            async with org.db.transaction(write=False) as session:
                return (await session.execute(select(OutboxMessage).where(OutboxMessage.kind == "summary"))).scalar_one()

        for _ in range(200):
            row = await waiting()
            if row.last_error:
                break
            await asyncio.sleep(0.02)
        assert row.state == "pending" and row.last_error.startswith("unreachable: goalbot is not in the channel")
        assert fake.posted("CPLAT") == []
        # Someone types /invite @goalbot: Slack tells goalbot it joined, and the summary goes out.
        fake.channels["CPLAT"]["member"] = True
        status, _ = await workspace.event({"type": "member_joined_channel", "user": "UBOT", "channel": "CPLAT",
                                           "channel_type": "C", "team": TEAM}, "Ev-join-1")
        assert status == 200
        posted = await fake.wait_for(lambda: fake.posted("CPLAT"), what="the summary in #platform")
        assert "Platform: goals on" in posted[0]["text"]
        assert "waiting for goalbot" not in text_of(await workspace.command("UMAYA", "admin summary list"))
    finally:
        await workspace.close()
        await fake.close()


async def test_in_teams_a_summary_goes_to_a_channel_of_a_team_goalbot_was_added_to(org, db):
    from storage.models import ChatChannel
    from tests.teams_harness import TeamsHarness, started_fake_connector, text

    fake = started_fake_connector()
    teams = TeamsHarness(db, fake)
    await teams.start()
    try:
        team = "19:platformteam@thread.tacv2"
        fake.teams[team] = [(team, None), ("19:release@thread.tacv2", "Release planning")]
        maya = teams.client("maya")
        status, _ = await teams.post(maya.added_to_team(team, "Platform team"))
        assert status in (200, 201)
        for _ in range(300):
            async with db.transaction(write=False) as session:
                kept = (await session.execute(select(ChatChannel.name).order_by(ChatChannel.name))).scalars().all()
            if kept:
                break
            await asyncio.sleep(0.02)
        assert kept == ["General", "Release planning"]
        (refused,) = await teams.say(maya, "goals admin summary add #Nope Platform weekly monday 11:00")
        assert "There is no channel #Nope in a team goalbot was added to" in text(refused)
        (added,) = await teams.say(maya, 'goals admin summary add #"Release planning" Platform weekly monday 11:00')
        assert "Added S-1: #Release planning gets the goals of Platform, weekly" in text(added), text(added)
        assert (await run_round(db, await next_post_at(db))).summaries == 1
        teams.teams.bot.wake_outboxes()
        await teams.wait(lambda f: len(f.sent("19:release@thread.tacv2")) == 1)
        (call,) = fake.sent("19:release@thread.tacv2")
        assert "Platform: goals on" in text(call) and not call.body.get("replyToId")
    finally:
        await teams.close()
        fake.stop()
