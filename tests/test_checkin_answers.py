"""Answering a check-in in one message: several goals at once, key results, health words, blockers told to
the people above, corrections, refusals that save nothing, and replies to a prompt that name no goal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from bot.clock import run_round
from bot.messages import Action, Actor, Address, Do
from storage.models import CheckinPeriod, GoalEvent, OutboxMessage, Person

from tests.checks import goal
from tests.test_clock import on_slack

MONDAY = datetime(2027, 3, 8, 9, tzinfo=UTC)


async def ana_with_goals(org, titles=("Cut churn", "Write the runbook", "Migrate the queue", "Grow signups")) -> None:
    """Ana's goals G-1.. (approved by Bo), and a prompt out for her (she has a Slack account)."""
    await on_slack(org.db, {"ana@example.com": "Europe/Lisbon"})
    for number, title in enumerate(titles, start=1):
        await org.say("ana@example.com", f"goals add {title}")
        await org.say("bo@example.com", f"goals approve G-{number}")
    await run_round(org.db, MONDAY - timedelta(days=1))
    await run_round(org.db, MONDAY)


async def ana_period(db) -> CheckinPeriod:
    async with db.transaction(write=False) as session:
        ana = (await session.execute(select(Person).where(Person.email == "ana@example.com"))).scalar_one()
        return (await session.execute(select(CheckinPeriod).where(CheckinPeriod.person_id == ana.id)
                                      .order_by(CheckinPeriod.id.desc()))).scalars().first()


async def messages(db, kind: str) -> list[OutboxMessage]:
    async with db.transaction(write=False) as session:
        return list((await session.execute(select(OutboxMessage).where(OutboxMessage.kind == kind)
                                           .order_by(OutboxMessage.id))).scalars())


async def test_one_message_updates_several_goals_and_key_results_all_at_once(org):
    await ana_with_goals(org)
    await org.say("ana@example.com", "goals kr add G-4 Signups 100->400")
    reply = await org.say(
        "ana@example.com", "G-1 60% at risk waiting on legal; G-2 done\nG-3 blocked by the vendor, G-4.1 175")
    assert "Thanks, your check-in for the week of 2027-03-08 is in." in reply
    for ref in ("G-1", "G-2", "G-3", "G-4"):
        assert ref in reply
    churn, runbook, queue, signups = [await goal(org.db, n) for n in (1, 2, 3, 4)]
    assert (churn.progress, churn.health, churn.note) == (60, "at_risk", "waiting on legal")
    assert runbook.status == "achieved"
    assert (queue.health, queue.note) == ("blocked", "the vendor")
    assert signups.progress == 25
    assert (await ana_period(org.db)).answered_at is not None


async def test_health_words_as_people_type_them_and_commas_inside_notes(org):
    await ana_with_goals(org, ("Cut churn", "Write the runbook", "Migrate the queue"))
    await org.say("ana@example.com", "G-1 green, G-2 amber, G-3 off-track")
    assert [(await goal(org.db, n)).health for n in (1, 2, 3)] == ["on_track", "at_risk", "off_track"]
    await org.say("ana@example.com", "G-1 70% on track, but slower than hoped; G-2 red")
    churn = await goal(org.db, 1)
    assert (churn.progress, churn.health, churn.note) == (70, "on_track", "but slower than hoped")
    assert (await goal(org.db, 2)).health == "off_track"


async def test_a_refused_part_saves_nothing_and_says_which_part(org):
    await ana_with_goals(org, ("Cut churn",))
    await org.say("ravi@example.com", "goals add Ravi's own goal")
    await org.say("bo@example.com", "goals approve G-2")
    reply = await org.say("ana@example.com", "G-1 70%; G-2 40%")
    assert reply.startswith("Nothing was saved: G-2 cannot be updated.") and "\n" not in reply.split("Try:")[0].strip()
    assert (await goal(org.db, 1)).progress == 0
    reply = await org.say("ana@example.com", "G-1 70%; G-1 6O%")
    assert "Nothing was saved: fix `G-1 6O%`" in reply
    assert (await goal(org.db, 1)).progress == 0
    assert (await ana_period(org.db)).answered_at is None, "a refused answer is not an answer"


async def test_a_goal_measured_by_key_results_takes_them_not_a_percentage(org):
    await ana_with_goals(org, ("Grow signups",))
    await org.say("ana@example.com", "goals kr add G-1 Signups 100->400")
    await org.say("ana@example.com", "goals kr add G-1 Activation 20->50 %")
    reply = await org.say("ana@example.com", "G-1 60%")
    assert "G-1's progress comes from its key results (G-1.1, G-1.2)" in reply and "G-1.1 28" in reply
    await org.say("ana@example.com", "G-1 at risk slow month; G-1.1 250; G-1.2 35")
    grown = await goal(org.db, 1)
    assert (grown.health, grown.note, grown.progress) == ("at_risk", "slow month", 50)
    reply = await org.say("ana@example.com", "G-1.1 250 signups")
    assert "takes its new value alone" in reply


async def test_a_second_answer_corrects_the_first_and_the_history_keeps_both(org):
    await ana_with_goals(org, ("Cut churn",))
    await org.say("ana@example.com", "G-1 60% at risk")
    await org.say("ana@example.com", "G-1 65% on track")
    churn = await goal(org.db, 1)
    assert (churn.progress, churn.health) == (65, "on_track")
    async with org.db.transaction(write=False) as session:
        updates = (await session.execute(select(GoalEvent).where(GoalEvent.goal_id == churn.id,
                                                                 GoalEvent.action == "progress"))).scalars().all()
    assert [event.after.get("progress") for event in updates] == [60, 65]


async def test_a_reply_naming_no_goal_attaches_to_the_only_goal_or_asks_which(org):
    await ana_with_goals(org, ("Cut churn",))
    reply = await org.say("ana@example.com", "55% legal signed off")
    churn = await goal(org.db, 1)
    assert (churn.progress, churn.note) == (55, "legal signed off") and "G-1" in reply


async def test_with_several_goals_the_words_are_kept_until_the_goal_is_named(org):
    await ana_with_goals(org, ("Cut churn", "Write the runbook"))
    reply = await org.say("ana@example.com", "waiting on legal")
    assert "Which goal is that about?" in reply and "waiting on legal" in reply
    assert [(await goal(org.db, n)).note for n in (1, 2)] == ["", ""]
    assert (await ana_period(org.db)).pending_answer == "waiting on legal"
    await org.say("ana@example.com", "G-2")
    assert (await goal(org.db, 2)).note == "waiting on legal"
    assert (await ana_period(org.db)).pending_answer is None
    # Once the check-in is answered, a line that is no command is refused as one again.
    assert "I don't know the command `blocked`" in await org.say("ana@example.com", "blocked by the vendor")


async def test_the_buttons_under_which_goal_pick_it(org):
    await ana_with_goals(org, ("Cut churn", "Write the runbook"))
    await org.say("ana@example.com", "blocked by the vendor")
    actor = Actor("console", "ana@example.com", email="ana@example.com")
    await org.bot.act(Action(actor, Do.PICK_GOAL, "G-1", Address.direct("console", "ana@example.com")))
    churn = await goal(org.db, 1)
    assert (churn.health, churn.note) == ("blocked", "the vendor")


async def test_a_mistyped_command_is_refused_not_kept_as_a_note(org):
    await ana_with_goals(org, ("Cut churn",))
    reply = await org.say("ana@example.com", "lsit mine")
    assert "Did you mean `goals list`?" in reply
    assert (await goal(org.db, 1)).note == ""


async def test_a_blocker_is_told_to_the_parent_owner_and_the_manager_once_and_its_clearing_too(org):
    await on_slack(org.db, {"ana@example.com": "Europe/Lisbon", "omar@example.com": "Europe/Berlin",
                            "bo@example.com": "Europe/Copenhagen"})
    await org.say("omar@example.com", "goals add Engineering excellence level:department")
    await org.say("maya@example.com", "goals approve G-1")
    await org.say("ana@example.com", "goals add Migrate the queue parent:G-1")
    await org.say("bo@example.com", "goals approve G-2")
    await org.say("ana@example.com", "checkin G-2 blocked by the vendor's contract")
    told = await messages(org.db, "escalation")
    async with org.db.transaction(write=False) as session:
        names = {(await session.get(Person, m.person_id)).email for m in told}
    assert names == {"omar@example.com", "bo@example.com"}  # the department's lead owns the parent; Bo manages Ana
    assert all("G-2 is blocked" in str(m.body) and "the vendor's contract" in str(m.body) for m in told)
    await org.say("ana@example.com", "goals progress G-2 blocked still waiting")
    assert len(await messages(org.db, "escalation")) == 2, "once per goal and period"
    await org.say("ana@example.com", "G-2 unblocked contract signed")
    cleared = [m for m in await messages(org.db, "escalation") if m.dedupe_key.startswith("cleared:")]
    assert len(cleared) == 2 and all("no longer blocked" in str(m.body) for m in cleared)


async def test_a_blocker_tells_one_person_once_when_they_are_parent_owner_and_manager(org):
    await on_slack(org.db, {"bo@example.com": "Europe/Copenhagen"})
    await org.say("bo@example.com", "goals add Platform uptime level:team")
    await org.say("omar@example.com", "goals approve G-1")
    await org.say("ana@example.com", "goals add Tune alerting parent:G-1")
    await org.say("bo@example.com", "goals approve G-2")
    await org.say("ana@example.com", "checkin G-2 blocked")
    (told,) = await messages(org.db, "escalation")
    async with org.db.transaction(write=False) as session:
        assert (await session.get(Person, told.person_id)).email == "bo@example.com"


async def test_checkin_with_words_but_no_goal_is_a_reply_to_the_prompt_too(org):
    await ana_with_goals(org, ("Cut churn",))
    await org.say("ana@example.com", "checkin waiting on the security team")
    assert (await goal(org.db, 1)).note == "waiting on the security team"


async def test_done_takes_a_note_but_not_a_number(org):
    await ana_with_goals(org, ("Cut churn", "Write the runbook"))
    await org.say("ana@example.com", "G-1 done, which was hard")
    churn = await goal(org.db, 1)
    assert (churn.status, churn.note) == ("achieved", "which was hard")
    reply = await org.say("ana@example.com", "G-2 done 50%")
    assert "G-2: done takes no number" in reply and (await goal(org.db, 2)).status == "active"


async def test_the_answer_says_who_was_told_of_a_blocker(org):
    await on_slack(org.db, {"bo@example.com": "Europe/Copenhagen"})
    await org.say("ana@example.com", "goals add Migrate the queue")
    await org.say("bo@example.com", "goals approve G-1")
    reply = await org.say("ana@example.com", "checkin G-1 blocked by the vendor")
    assert "Letting Bo Larsen know that G-1 is blocked." in reply
    reply = await org.say("ana@example.com", "goals progress G-1 on-track vendor signed")
    assert "Letting Bo Larsen know that G-1 is no longer blocked." in reply


async def test_two_answers_run_together_are_refused_with_both_readings(org):
    await ana_with_goals(org, ("Cut churn", "Write the runbook"))
    reply = await org.say("ana@example.com", "goals checkin G-1 G-2 60%")
    assert "After G-1 comes G-2: for two answers write `G-1 ...; G-2 ...`" in reply
    assert "for a note about G-2 write `G-1 note: G-2 60%`" in reply
    reply = await org.say("ana@example.com", "G-1 done G-2 at risk")
    assert "write `G-1 done note: G-2 at risk`" in reply
    churn, runbook = await goal(org.db, 1), await goal(org.db, 2)
    assert (churn.status, churn.note, runbook.progress, runbook.health) == ("active", "", 0, None)
    # Said to be a note, or after a word that is not a reference, it is one.
    await org.say("ana@example.com", "G-1 at risk note: G-2 has to land first")
    await org.say("ana@example.com", "G-2 blocked by G-1")
    churn, runbook = await goal(org.db, 1), await goal(org.db, 2)
    assert (churn.health, churn.note) == ("at_risk", "G-2 has to land first")
    assert (runbook.health, runbook.note) == ("blocked", "G-1")


async def test_new_lines_in_a_goals_checkin_command_separate_its_parts(org):
    await ana_with_goals(org, ("Cut churn", "Write the runbook"))
    await org.say("ana@example.com", "goals checkin G-1 40%\nG-2 done")
    churn, runbook = await goal(org.db, 1), await goal(org.db, 2)
    assert (churn.progress, runbook.status) == (40, "achieved")
    reply = await org.say("ana@example.com", "goals checkin G-1 50%\nG-1 " + "9" * 80)
    assert "Nothing was saved" in reply and "not 9999" in reply
    assert (await goal(org.db, 1)).progress == 40
