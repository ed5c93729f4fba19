"""Each command through the console, on both databases: what people see and what is stored."""

from sqlmodel import select

from storage.models import Goal, GoalEvent, KeyResult, Kudos, Milestone, Person


async def stored(org, model, **where):
    async with org.db.transaction(write=False) as session:
        query = select(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return (await session.execute(query)).scalars().all()


async def test_help_lists_every_command_and_explains_one(org):
    reply = await org.say("ana@example.com", "goals help")
    for verb in ("add", "list", "show", "tree", "link", "unlink", "approve", "return", "assign",
                 "progress", "kr", "milestone", "done", "archive", "kudos", "settings", "away"):
        assert f"goals {verb}" in reply
    assert "goals return G-12 <reason>" in await org.say("ana@example.com", "help return")


async def test_company_goals_are_for_admins(org):
    assert await org.say("bo@example.com", "goals add Win the market level:company") == "Only admins can set company goals."
    assert await stored(org, Goal) == []


async def test_team_goals_are_for_the_lead_and_above(org):
    reply = await org.say("ana@example.com", "goals add Platform thing level:team")
    assert reply == "Only the lead of Platform, their managers and admins can set its goals."
    assert "Proposed G-1" in await org.say("bo@example.com", "goals add Platform thing level:team")
    [goal] = await stored(org, Goal)
    assert goal.owner_person_id is None and goal.level == "team"


async def test_return_with_reason_then_only_the_decider_may_decide(org):
    await org.say("ana@example.com", "goals add Learn Rust")
    assert await org.say("ravi@example.com", "goals approve G-1") == "Only the managers of G-1's owner and admins can approve it."
    assert await org.say("ana@example.com", "goals approve G-1") == "You proposed G-1; your manager or an admin must approve it."
    assert await org.say("bo@example.com", "goals return G-1 tie it to a team goal") == "Returned G-1 Learn Rust: tie it to a team goal"
    [goal] = await stored(org, Goal)
    assert (goal.status, goal.return_reason) == ("returned", "tie it to a team goal")
    assert await org.say("bo@example.com", "goals approve G-1") == "G-1 is returned, not waiting for a decision."
    # The skip-level manager may decide too.
    await org.say("ana@example.com", "goals add Learn Go")
    assert "Approved G-2" in await org.say("omar@example.com", "goals approve G-2")


async def test_assign_cascades_and_the_owner_accepts(org):
    await org.say("bo@example.com", "goals add Halve pages level:team")
    await org.say("omar@example.com", "goals approve G-1")
    reply = await org.say("bo@example.com", "goals assign Write runbooks owner:@ravi parent:G-1 due:2027-02-28")
    assert "Assigned G-2 Write runbooks. It waits for Ravi Patel to accept it." in reply
    assert await org.say("ravi@example.com", "goals assign Boss Bo around owner:@bo") == "Only Bo Larsen's managers and admins can assign goals to them."
    assert await org.say("bo@example.com", "goals approve G-2") == "G-2 was assigned to Ravi Patel; only they can accept it."
    assert await org.say("ravi@example.com", "goals accept G-2") == "Accepted G-2 Write runbooks. It is active."
    goal = (await stored(org, Goal, number=2))[0]
    ravi = (await stored(org, Person, email="ravi@example.com"))[0]
    assert goal.owner_person_id == ravi.id and goal.status == "active"


async def test_link_rules_level_and_visibility(org):
    await org.say("maya@example.com", "goals add Grow level:company")
    await org.say("ana@example.com", "goals add Mine")
    await org.say("bo@example.com", "goals approve G-2")
    await org.say("bo@example.com", "goals add Platform work level:team")
    reply = await org.say("bo@example.com", "goals link G-3 G-2")
    assert reply == "A team goal can only support a goal at its own level or higher; G-2 is an individual goal."
    assert await org.say("ana@example.com", "goals link G-2 G-99") == "No goal G-99."
    assert await org.say("ana@example.com", "goals link G-2 G-1") == "G-2 Mine now supports G-1 Grow."
    assert await org.say("ana@example.com", "goals link G-2 G-1") == "G-2 already supports G-1."
    assert await org.say("ana@example.com", "goals unlink G-2") == "G-2 no longer supports G-1 Grow."
    assert await org.say("ana@example.com", "goals unlink G-2") == "G-2 does not support any goal yet."
    events = [e.action for e in await stored(org, GoalEvent, goal_id=(await stored(org, Goal, number=2))[0].id)]
    assert events.count("linked") == 1 and events.count("unlinked") == 1


async def test_progress_by_hand_versus_key_results_and_children(org):
    await org.say("maya@example.com", "goals add Grow level:company")
    await org.say("maya@example.com", "goals add Sell level:company parent:G-1")
    assert "G-2 Sell: 40%, at risk. Note: slow quarter" in await org.say("maya@example.com", "goals progress G-2 40 at-risk slow quarter")
    assert "rolled up from the goals that support it" in await org.say("maya@example.com", "goals progress G-1 90")
    assert "G-1 Grow: 40%, off track." in await org.say("maya@example.com", "goals progress G-1 off-track")
    await org.say("maya@example.com", "goals kr add G-2 Deals 0->10")
    assert "comes from its key results" in await org.say("maya@example.com", "goals progress G-2 50")
    assert "G-2 is now at 70%" in await org.say("maya@example.com", "goals kr G-2.1 7")
    assert "G-2 is now at 100%" in await org.say("maya@example.com", "goals kr G-2.1 12")  # beyond target caps at 100
    assert await org.say("maya@example.com", "goals kr G-2.5 1") == "G-2 has no key result G-2.5."
    [kr] = await stored(org, KeyResult)
    assert kr.current == 12
    assert (await stored(org, Goal, number=1))[0].progress == 100


async def test_falling_metric_key_result(org):
    await org.say("maya@example.com", "goals add Cut churn level:company")
    await org.say("maya@example.com", "goals kr add G-1 Monthly churn 5->3 %")
    assert "G-1 is now at 25%" in await org.say("maya@example.com", "goals kr G-1.1 4.5")
    assert "4.5 %, from 5 to 3 %" in await org.say("maya@example.com", "goals show G-1")


async def test_milestones_done_archive_and_rollup_of_status(org):
    await org.say("maya@example.com", "goals add Grow level:company due:2027-06-30")
    await org.say("maya@example.com", "goals add A level:company parent:G-1")
    await org.say("maya@example.com", "goals add B level:company parent:G-1")
    assert "Added milestone 1 to G-2" in await org.say("maya@example.com", "goals milestone add G-2 Kickoff due:2027-01-10")
    assert "after G-1 itself" in await org.say("maya@example.com", "goals milestone add G-1 Late due:2027-07-01")
    assert len(await stored(org, Milestone)) == 1
    assert await org.say("maya@example.com", "goals done G-2") == "G-2 A is achieved. Well done!"
    assert (await stored(org, Goal, number=1))[0].progress == 50
    assert await org.say("maya@example.com", "goals archive G-3") == "G-3 B is archived."
    assert (await stored(org, Goal, number=1))[0].progress == 100
    assert await org.say("maya@example.com", "goals done G-3") == "G-3 is archived; only active goals can be marked done."
    assert await org.say("maya@example.com", "goals progress G-3 5") == "G-3 is archived; only proposed and active goals take updates."


async def test_kudos_are_shared_and_stored(org):
    reply = await org.send("ana@example.com", "goals kudos @ravi thanks for the runbooks")
    assert reply.shared
    assert reply.summary == "Kudos to Ravi Patel from Ana Silva: thanks for the runbooks"
    assert await org.say("ana@example.com", "goals kudos @ana well done me") == "Kudos are for someone else; thank a colleague instead."
    assert await org.say("ana@example.com", "goals kudos @nobody hi") == "I don't know anyone called @nobody. Try their email, like @nobody@example.com."
    assert len(await stored(org, Kudos)) == 1


async def test_settings_timezone_and_away(org):
    reply = await org.say("ana@example.com", "goals settings checkin friday 16:30 biweekly")
    assert "Friday 16:30, biweekly" in reply
    assert "`Mars/Base` is not a time zone I know" in await org.say("ana@example.com", "goals settings timezone Mars/Base")
    assert "Asia/Tokyo" in await org.say("ana@example.com", "goals settings timezone Asia/Tokyo")
    assert "has passed already" in await org.say("ana@example.com", "goals away until 2020-01-01")
    assert "No check-in prompts through Monday 2099-01-05; they come again after it." in await org.say(
        "ana@example.com", "goals away until 2099-01-05")
    ana = (await stored(org, Person, email="ana@example.com"))[0]
    assert (ana.checkin_weekday, ana.checkin_time, ana.checkin_cadence, ana.timezone, str(ana.away_until)) == (
        4, "16:30", "biweekly", "Asia/Tokyo", "2099-01-05")
    assert "Welcome back. Check-in prompts are on again." in await org.say("ana@example.com", "goals away off")
    assert "You were not away. Your check-in prompts are on." in await org.say("ana@example.com", "goals back")
    await org.say("ana@example.com", "goals settings checkin off")
    assert "Your check-in prompts are off, too: goals settings checkin on" in await org.say(
        "ana@example.com", "goals away until 2099-01-05")


async def test_lists_paginate_and_show_scopes(org):
    for n in range(30):
        await org.say("maya@example.com", f"goals add Company goal {n} level:company")
    page1 = await org.say("ana@example.com", "goals list company")
    assert "30 goals · page 1 of 2 · and 5 more: goals list company page:2" in page1
    assert page1.count("Company goal ") == 25
    page2 = await org.say("ana@example.com", "goals list company page:2")
    assert page2.count("Company goal ") == 5
    assert await org.say("ana@example.com", "goals list company page:3") == "There are only 2 pages of goals here."
    assert "You have no goals yet" in await org.say("ana@example.com", "goals list")


async def test_a_stranger_joins_as_a_member(org):
    reply = await org.say("newbie@example.com", "goals list")
    assert "You have no goals yet" in reply
    [newbie] = await stored(org, Person, email="newbie@example.com")
    assert newbie.role == "member"
    # No manager: their goals are active at once.
    assert "It is active." in await org.say("newbie@example.com", "goals add Settle in")


async def test_similar_titles_are_hinted(org):
    await org.say("maya@example.com", "goals add Reduce customer churn to 3% level:company")
    reply = await org.say("ana@example.com", "goals add Reduce customer churn due:2027-05-01 parent:G-1")
    assert "no measure" in reply and "no due date" not in reply
    # The parent it links to is not a duplicate of it.
    assert "Looks like" not in reply
    reply = await org.say("ravi@example.com", "goals add Reduce churn of customers")
    assert "Looks like G-1 Reduce customer churn to 3%, G-2 Reduce customer churn." in reply or "Looks like G-2" in reply


async def test_unknown_goal_and_refusals_change_nothing(org):
    assert await org.say("ana@example.com", "goals show G-999") == "No goal G-999."
    assert await org.say("ana@example.com", "goals progress G-999 10") == "No goal G-999."
    await org.say("ana@example.com", "goals add Mine parent:G-999")
    assert await stored(org, Goal) == []
    # A failed add does not burn a goal number.
    await org.say("ana@example.com", "goals add Mine")
    assert [g.number for g in await stored(org, Goal)] == [1]
