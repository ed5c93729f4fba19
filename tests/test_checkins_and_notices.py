"""Check-ins answered in one message, the dashboard, and the notices a change leaves in the outbox."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlmodel import select

from bot.schedule import DEFAULT, Schedule, latest_prompt, zone_of
from bot.messages import Actor, Address, IncomingMessage, reply_from_dict, reply_to_dict
from storage.models import CheckIn, Goal, OutboxMessage, Person


def slack_actor(email: str, user_id: str) -> Actor:
    return Actor("slack", user_id, email=email)


async def say_on_slack(org, email: str, user_id: str, text: str) -> str:
    reply = await org.bot.handle(IncomingMessage(slack_actor(email, user_id), text, Address("slack", "D1")))
    return " ".join(getattr(b, "text", "") or getattr(b, "label", "") for b in reply.blocks)


async def outbox(db) -> list[OutboxMessage]:
    async with db.transaction(write=False) as session:
        return list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


def test_the_period_is_the_latest_prompt_in_the_persons_own_time_zone():
    tokyo = zone_of("Asia/Tokyo")
    # Monday 2027-01-04 08:30 in Tokyo is Sunday 23:30 UTC: the prompt of that Monday has not come yet.
    assert latest_prompt(DEFAULT, tokyo, datetime(2027, 1, 3, 23, 30, tzinfo=UTC))[0] == date(2026, 12, 28)
    assert latest_prompt(DEFAULT, tokyo, datetime(2027, 1, 4, 0, 30, tzinfo=UTC))[0] == date(2027, 1, 4)
    biweekly = Schedule(0, DEFAULT.at, "biweekly")
    starts = {latest_prompt(biweekly, tokyo, datetime(2027, 1, d, 12, tzinfo=UTC))[0] for d in range(4, 25)}
    assert len(starts) == 2 and all((b - a).days == 14 for a, b in [sorted(starts)])


async def test_a_check_in_answers_every_goal_in_one_message_or_changes_nothing(org):
    await org.say("ana@example.com", "goals add Cut churn")
    await org.say("bo@example.com", "goals approve G-1")
    await org.say("ana@example.com", "goals add Write the runbook")
    await org.say("bo@example.com", "goals approve G-2")
    prompt = await org.say("ana@example.com", "checkin")
    assert "G-1" in prompt and "G-2" in prompt and "Reply in one message" in prompt

    bad = await org.say("ana@example.com", "checkin G-1 60% at-risk legal; G-7 done")
    assert "G-7" in bad
    async with org.db.transaction(write=False) as session:
        assert (await session.get(Goal, 1)).progress == 0
        assert (await session.execute(select(CheckIn))).first() is None

    assert "`hello` does not" in await org.say("ana@example.com", "checkin hello")
    assert "G-1 appears twice" in await org.say("ana@example.com", "checkin G-1 5%; G-1 6%")

    done = await org.say("ana@example.com", "checkin G-1 60% at-risk waiting on legal; G-2 done")
    assert "Thanks, your check-in" in done
    await org.say("ana@example.com", "checkin G-1 65%")  # a second answer in the period edits the first
    async with org.db.transaction(write=False) as session:
        churn = await session.get(Goal, 1)
        assert (churn.progress, churn.health, churn.note) == (65, "at_risk", "waiting on legal")
        assert (await session.get(Goal, 2)).status == "achieved"
        (answer,) = (await session.execute(select(CheckIn))).scalars().all()
        assert answer.answer == "G-1 60% at-risk waiting on legal; G-2 done\nG-1 65%"
    assert "answering again corrects it" in await org.say("ana@example.com", "checkin")


async def test_a_proposal_asks_the_manager_and_the_decision_updates_the_request(org):
    assert "Proposed G-1" in await say_on_slack(org, "ana@example.com", "UANA", "goals add Cut churn")
    (request,) = await outbox(org.db)
    assert (request.kind, request.platform, request.state) == ("approval", "slack", "pending")
    async with org.db.transaction(write=False) as session:
        assert (await session.get(Person, request.person_id)).email == "bo@example.com"

    # Not sent yet: the decision replaces what it will say, instead of sending a stale request.
    await say_on_slack(org, "bo@example.com", "UBO", "goals approve G-1")
    request, news = await outbox(org.db)
    assert "was approved by Bo Larsen" in reply_from_dict(request.body).summary
    assert news.kind == "decision" and "Bo Larsen approved G-1" in reply_from_dict(news.body).summary

    # Sent: the decision becomes an update of that very message.
    await say_on_slack(org, "ana@example.com", "UANA", "goals add Write the runbook")
    async with org.db.transaction() as session:
        sent = (await session.execute(select(OutboxMessage).where(OutboxMessage.kind == "approval", OutboxMessage.goal_id == 2))).scalar_one()
        sent.state, sent.channel, sent.message_id = "sent", "DBO", "1.1"
    await say_on_slack(org, "bo@example.com", "UBO", "goals return G-2 Add a measure")
    update = [m for m in await outbox(org.db) if m.kind == "update"]
    assert len(update) == 1 and update[0].replaces_id == sent.id
    assert "returned by Bo Larsen: Add a measure" in reply_from_dict(update[0].body).summary


async def test_people_talking_only_in_the_console_are_told_in_the_console(org):
    await org.say("ana@example.com", "goals add Cut churn")
    (request,) = await outbox(org.db)
    assert (request.platform, request.kind) == ("console", "approval")


async def test_replies_survive_the_outbox_unchanged(org):
    await say_on_slack(org, "ana@example.com", "UANA", "goals add Cut churn")
    (request,) = await outbox(org.db)
    reply = reply_from_dict(request.body)
    assert reply_to_dict(reply) == request.body
    assert [b.action for b in reply.blocks[-1].buttons] == ["goal.approve", "goal.return"]


async def test_the_dashboard_shows_a_managers_team(org):
    await org.say("maya@example.com", "goals add Grow revenue level:company")
    await org.say("ana@example.com", "goals add Cut churn parent:G-1")
    await org.say("ravi@example.com", "goals add Learn Rust")
    home = await org.bot.home(Actor("console", "bo@example.com", email="bo@example.com"))
    text = " ".join(str(b) for b in home.blocks)
    assert "50% (1 of 2 open goals, proposals too, support a parent)" in text and "Waiting for you', '2'" in text
    home = await org.bot.home(Actor("console", "ana@example.com", email="ana@example.com"))
    text = " ".join(str(b) for b in home.blocks)
    assert "supports G-1 Grow revenue" in text and "Your team" not in text
