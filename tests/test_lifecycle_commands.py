"""The whole life of a goal: a returned goal changed and sent again, a closed goal reopened, a proposal
withdrawn, an archived goal's supporters kept in sight, and `done` asking before it overrules key results."""

from __future__ import annotations

from sqlmodel import select

from storage.models import Goal, GoalEvent, KeyResult, OutboxMessage


async def goal(db, number: int) -> Goal | None:
    async with db.transaction(write=False) as session:
        return (await session.execute(select(Goal).where(Goal.number == number))).scalar_one_or_none()


async def requests_to_decide(db) -> list[OutboxMessage]:
    async with db.transaction(write=False) as session:
        return list((await session.execute(select(OutboxMessage).where(OutboxMessage.kind == "approval")
                                           .order_by(OutboxMessage.id))).scalars())


async def test_a_returned_goal_is_changed_and_sent_to_the_same_manager_again(org):
    await org.say("ana@example.com", "goals add Cut churn")
    assert await org.say("bo@example.com", "goals return G-1 make it measurable") == (
        "Returned G-1 Cut churn: make it measurable")
    async with org.db.transaction(write=False) as session:
        (notice,) = (await session.execute(select(OutboxMessage).where(OutboxMessage.kind == "decision"))).scalars()
    assert "send it again: goals resubmit G-1; or take it back: goals withdraw G-1" in str(notice.body)
    await org.say("ana@example.com", 'goals edit G-1 title:"Cut churn to 2%"')
    said = await org.say("ana@example.com", "goals resubmit G-1 now with a number")
    assert said == ("Sent G-1 Cut churn to 2% to Bo Larsen again, with these changes: "
                    "title “Cut churn” → “Cut churn to 2%”."), said
    again = (await requests_to_decide(org.db))[-1]
    body = str(again.body)
    assert "Sent again after you returned it (“make it measurable”)" in body and "Cut churn to 2%" in body
    assert "Ana Silva says: now with a number" in body
    found = await goal(org.db, 1)
    assert (found.status, found.awaiting) == ("proposed", "manager")
    assert "Approved G-1" in await org.say("bo@example.com", "goals approve G-1")
    # Only a returned goal is sent again; and only by whoever may change it.
    assert "G-1 is active; only a returned goal is sent again" in await org.say("ana@example.com", "goals resubmit G-1")
    await org.say("ravi@example.com", "goals add Write runbooks")
    await org.say("bo@example.com", "goals return G-2 which services?")
    assert (await org.say("ana@example.com", "goals resubmit G-2")).startswith("Only Ravi Patel")
    assert "Which goal?" in await org.say("ana@example.com", "goals resubmit")


async def test_a_closed_goal_is_reopened_as_it_was(org):
    await org.say("ana@example.com", "goals add Cut churn")
    await org.say("bo@example.com", "goals approve G-1")
    await org.say("ana@example.com", "goals progress G-1 40 at-risk waiting on data")
    await org.say("ana@example.com", "goals done G-1")
    assert (await goal(org.db, 1)).progress == 100
    said = await org.say("ana@example.com", "goals reopen G-1")
    assert said == "G-1 Cut churn is active again, at 40%.", said
    reopened = await goal(org.db, 1)
    assert (reopened.status, reopened.progress, reopened.health) == ("active", 40, "at_risk")
    await org.say("ana@example.com", "goals archive G-1")
    assert "is active again" in await org.say("ana@example.com", "goals reopen G-1")
    assert "G-1 is active; only achieved, missed or archived goals are reopened" in await org.say(
        "ana@example.com", "goals reopen G-1")
    # A proposal archived and reopened waits for its decision again.
    await org.say("ravi@example.com", "goals add Write runbooks")
    await org.say("ravi@example.com", "goals archive G-2")
    assert "waits for its decision again" in await org.say("ravi@example.com", "goals reopen G-2")
    assert ((await goal(org.db, 2)).status, (await goal(org.db, 2)).awaiting) == ("proposed", "manager")


async def test_a_proposal_nobody_wants_is_deleted_and_anything_older_archived(org):
    await org.say("ana@example.com", "goals add Something to drop")
    assert await org.say("ana@example.com", "goals withdraw G-1") == "Withdrew G-1 Something to drop: it is deleted."
    assert await goal(org.db, 1) is None
    async with org.db.transaction(write=False) as session:
        assert (await session.execute(select(GoalEvent))).scalars().all() == []
    (request,) = await requests_to_decide(org.db)
    assert "was withdrawn by Ana Silva" in str(request.body) and request.goal_id is None
    # Approved, it has gone further: archived, not deleted.
    await org.say("ana@example.com", "goals add Cut churn")
    await org.say("bo@example.com", "goals approve G-2")
    said = await org.say("ana@example.com", "goals withdraw G-2")
    assert "had gone further than a proposal" in said and "archived instead of deleted" in said, said
    assert (await goal(org.db, 2)).status == "archived"
    # A proposal whose key result moved is kept too.
    await org.say("ana@example.com", "goals add Halve pages")
    await org.say("ana@example.com", "goals kr add G-3 Pages 20->10")
    await org.say("ana@example.com", "goals kr G-3.1 15")
    assert "archived instead of deleted" in await org.say("ana@example.com", "goals withdraw G-3")
    assert (await org.say("ravi@example.com", "goals withdraw G-3")).startswith("Only Ana Silva")


async def test_archiving_a_goal_others_support_keeps_them_in_sight_with_the_way_to_relink(org):
    await org.say("bo@example.com", "goals add Reliable platform level:team")
    await org.say("omar@example.com", "goals approve G-1")
    await org.say("ana@example.com", "goals add Tune the alerts parent:G-1")
    await org.say("ravi@example.com", "goals add Write runbooks parent:G-1")
    said = await org.say("bo@example.com", "goals archive G-1")
    assert "2 goals support it (G-2, G-3): they stay, marked as supporting an archived goal" in said, said
    assert "goals link G-2 G-<n>" in said
    tree = await org.say("bo@example.com", "goals tree")
    assert "G-2" in tree and "supports G-1, archived: goals link G-2 G-<n>" in tree, tree
    shown = await org.say("ana@example.com", "goals show G-2")
    assert "G-1 Reliable platform (archived)" in shown and "G-1 is archived: goals link G-2 G-<n>" in shown, shown
    under = await org.say("bo@example.com", "goals tree G-1")
    assert "G-2" in under and "G-3" in under, under


async def test_done_asks_before_it_overrules_key_results_short_of_their_targets(org):
    await org.say("ana@example.com", "goals add Halve pages")
    await org.say("bo@example.com", "goals approve G-1")
    await org.say("ana@example.com", "goals kr add G-1 Pages 20->10")
    await org.say("ana@example.com", "goals kr G-1.1 15")
    said = await org.say("ana@example.com", "goals done G-1")
    assert said.startswith("G-1's key results are short of their targets (G-1.1 Pages at 50%)"), said
    assert "goals done G-1 anyway" in said and (await goal(org.db, 1)).status == "active"
    assert "is achieved" in await org.say("ana@example.com", "goals done G-1 anyway")
    assert (await goal(org.db, 1)).status == "achieved"
    async with org.db.transaction(write=False) as session:
        (kr,) = (await session.execute(select(KeyResult))).scalars().all()
    assert kr.current == 15  # the key result says what it was


async def key_results(db) -> list[tuple[int, str, float, float, float, str]]:
    async with db.transaction(write=False) as session:
        return [(kr.position, kr.metric, kr.start, kr.target, kr.current, kr.unit) for kr in (await session.execute(
            select(KeyResult).order_by(KeyResult.position))).scalars()]


async def test_key_results_are_changed_removed_and_set_as_a_share_of_the_way(org):
    await org.say("ana@example.com", "goals add Halve pages")
    await org.say("bo@example.com", "goals approve G-1")
    await org.say("ana@example.com", "goals kr add G-1 Pages per week 20->10")
    said = await org.say("ana@example.com", "goals kr add G-1 pages  per WEEK 30->5")
    assert said.startswith("G-1 measures Pages per week already: G-1.1. Change that one instead: goals kr edit G-1.1"), said
    said = await org.say("ana@example.com", "goals kr G-1.1 50%")
    assert said.startswith("Updated G-1.1 to 50% of the way from 20 to 10: 15. G-1 is now at 50%."), said
    await org.say("ana@example.com", "goals kr add G-1 Uptime 99->99.9 %")
    said = await org.say("ana@example.com", "goals kr G-1.2 50%")  # a key result in % itself: two readings
    assert ("is it at 50 % (goals kr G-1.2 50), or 50% of the way from 99 to 99.9, which is 99.45 % "
            "(goals kr G-1.2 99.45)?") in said, said
    said = await org.say("ana@example.com", "goals kr edit G-1.1 Weekly pages 20->8")
    assert said.startswith("Changed G-1.1: Weekly pages, from 20 to 8. G-1 is now at 21%."), said  # whole numbers
    assert "G-1 measures Uptime already: G-1.2" in await org.say("ana@example.com", "goals kr edit G-1.1 Uptime")
    assert "nothing changed" in await org.say("ana@example.com", "goals kr edit G-1.1 Weekly pages 20->8")
    assert "150% of the way must be from 0% to 100%" in await org.say("ana@example.com", "goals kr G-1.1 150%")
    assert await key_results(org.db) == [(1, "Weekly pages", 20, 8, 15, ""), (2, "Uptime", 99, 99.9, 99, "%")]
    said = await org.say("ana@example.com", "goals kr remove G-1.2")
    assert said.startswith("Removed G-1.2. G-1 is now at 42%."), said
    said = await org.say("ana@example.com", "goals kr remove G-1.1")  # the last one: its progress stays
    assert said.startswith("Removed G-1.1. G-1 is now at 42%."), said
    await org.say("ana@example.com", "goals kr add G-1 Weekly pages 20->8")
    await org.say("ana@example.com", "goals kr G-1.1 15")
    assert [row[0] for row in await key_results(org.db)] == [1]
    assert "G-1 has no key result G-1.7" in await org.say("ana@example.com", "goals kr remove G-1.7")
    assert (await org.say("ravi@example.com", "goals kr remove G-1.1")).startswith("Only Ana Silva")
    async with org.db.transaction(write=False) as session:
        actions = set((await session.execute(select(GoalEvent.action))).scalars())
    assert {"key result removed", "key result changed"} <= actions


async def test_milestones_are_ticked_off_and_removed(org):
    await org.say("ana@example.com", "goals add Halve pages")
    await org.say("ana@example.com", "goals milestone add G-1 Alert audit")
    assert await org.say("ana@example.com", "goals milestone done G-1 1") == (
        "Milestone 1 of G-1 is done: 1. Alert audit (done)")
    assert "is done already" in await org.say("ana@example.com", "goals milestone done G-1 1")
    assert "G-1 has no milestone 4" in await org.say("ana@example.com", "goals milestone remove G-1 4")
    assert "Name the goal and the milestone's number" in await org.say("ana@example.com", "goals milestone done G-1 x")
    assert await org.say("ana@example.com", "goals milestone remove G-1 1") == "Removed milestone 1 of G-1: Alert audit."
    assert "Milestones" not in await org.say("ana@example.com", "goals show G-1")


async def test_editing_a_resent_goal_rewrites_only_the_request_waiting_now(org):
    await org.say("bo@example.com", "goals assign Write the runbook owner:@ravi")
    await org.say("ravi@example.com", "goals decline G-1 which services?")
    await org.say("bo@example.com", 'goals edit G-1 title:"Write the tier-1 runbooks"')
    await org.say("bo@example.com", "goals resubmit G-1 the tier-1 ones")
    await org.say("bo@example.com", 'goals edit G-1 title:"Write the tier-1 service runbooks"')
    requests = await requests_to_decide(org.db)
    first, again = requests[0], requests[-1]
    assert "was returned by Ravi Patel" in str(first.body) or "declined" in str(first.body).lower(), first.body
    assert "Write the tier-1 service runbooks" in str(again.body)
