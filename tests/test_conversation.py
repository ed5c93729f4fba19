"""Whole conversations: people say lines, the bot answers, the database holds the result."""

from sqlmodel import select

from storage.models import Goal, GoalEvent
from tests.checks import goal as goal_of


async def goal(org, number: int) -> Goal:
    return await goal_of(org.db, number)


async def test_propose_approve_measure_and_roll_up(org):
    assert "Added G-1" in await org.say("maya@example.com", "goals add Ship a product customers love level:company due:2027-12-31")
    assert "Proposed G-2" in await org.say("omar@example.com", "goals add Make the platform reliable level:department parent:G-1")
    assert "Approved G-2" in await org.say("maya@example.com", "goals approve G-2")
    assert "Proposed G-3" in await org.say("bo@example.com", "goals add Halve paging incidents level:team parent:G-2")
    assert "Approved G-3" in await org.say("omar@example.com", "goals approve G-3")

    reply = await org.say("ana@example.com", "goals add Tune alerting parent:G-3")
    assert "Proposed G-4 Tune alerting. It waits for Bo Larsen to approve it." in reply
    assert "no measure" in reply and "no due date" in reply and "no parent" not in reply

    assert "Approved G-4" in await org.say("bo@example.com", "goals approve G-4")
    assert "Added key result G-4.1" in await org.say("ana@example.com", "goals kr add G-4 Noisy alerts 40->20")
    reply = await org.say("ana@example.com", "goals kr G-4.1 30")
    assert "G-4 is now at 50%" in reply

    for number in (4, 3, 2, 1):
        assert (await goal(org, number)).progress == 50.0

    async with org.db.transaction(write=False) as session:
        rollups = (await session.execute(select(GoalEvent).where(GoalEvent.action == "rollup"))).scalars().all()
    assert {event.after["progress"] for event in rollups} >= {50.0}


async def test_cycle_is_refused_and_shows_the_chain(org):
    await org.say("maya@example.com", "goals add Grow revenue level:company")
    await org.say("maya@example.com", "goals add Win deals level:company parent:G-1")
    await org.say("maya@example.com", "goals add Win EMEA deals level:company parent:G-2")
    reply = await org.say("maya@example.com", "goals link G-1 G-3")
    assert reply == "That would make a loop: G-1 → G-3 → G-2 → G-1 (→ means supports). G-1 stays where it is."
    assert (await goal(org, 1)).parent_id is None


async def test_private_goal_hidden_from_peer_shown_to_manager(org):
    reply = await org.say("ana@example.com", "goals add Find a new role private")
    assert "Proposed G-1 Find a new role" in reply
    assert await org.say("ravi@example.com", "goals show G-1") == "No goal G-1."
    assert "Find a new role" not in await org.say("ravi@example.com", "goals list @ana")
    assert "Find a new role" in await org.say("bo@example.com", "goals show G-1")
    assert "Find a new role" in await org.say("omar@example.com", "goals list team")
    assert "Find a new role" in await org.say("maya@example.com", "goals show G-1")


async def test_editing_someone_elses_goal_is_refused(org):
    await org.say("ana@example.com", "goals add Tune alerting")
    await org.say("bo@example.com", "goals approve G-1")
    reply = await org.say("ravi@example.com", "goals progress G-1 90")
    assert reply == "Only Ana Silva, their managers and admins can update G-1."
    assert (await goal(org, 1)).progress == 0.0
    assert await org.say("ana@example.com", "goals approve G-1") == "G-1 is active, not waiting for a decision."


async def test_a_company_goal_is_the_top_and_never_called_not_aligned(org):
    await org.say("maya@example.com", "goals add Grow ARR to $12M level:company")
    await org.say("ana@example.com", "goals add Tune the alerts")
    assert "not aligned" not in await org.say("maya@example.com", "goals show G-1")
    assert "Supports  nothing yet (not aligned)" in await org.say("ana@example.com", "goals show G-2")
