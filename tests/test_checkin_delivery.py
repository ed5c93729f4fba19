"""Scheduled check-ins delivered through the real servers: a round queues prompts, the platforms' outbox
workers post them to a fake Slack, and a prompt's buttons answer it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.clock import run_round
from storage.models import CheckinPeriod, Person

from tests.checks import eventually, goal
from tests.slack_harness import SlackWorkspace, fake, text_of  # noqa: F401 - fake is a fixture

MONDAY = datetime(2027, 3, 8, 9, tzinfo=UTC)  # 09:00 in Lisbon, where the fake Slack's people are


@pytest.fixture
async def workspace(org, fake):
    ws = SlackWorkspace(org.db, fake)
    await ws.start()
    yield ws
    await ws.close()


def blocks_of(call) -> list[dict]:
    blocks = call.args["blocks"]
    return json.loads(blocks) if isinstance(blocks, str) else blocks


async def prompted(workspace, fake, user: str):
    """The prompt the outbox worker posted to a person."""
    workspace.slack.bot.wake_outboxes()
    calls = await fake.wait_for(
        lambda: [c for c in fake.called("chat.postMessage")
                 if c.args["channel"] == user and "Check-in for the week" in text_of(c.args)],
        what=f"the prompt to {user}")
    return calls[-1]


async def period_of(db, email: str) -> CheckinPeriod:
    async with db.transaction(write=False) as session:
        person = (await session.execute(select(Person).where(Person.email == email))).scalar_one()
        return (await session.execute(select(CheckinPeriod).where(CheckinPeriod.person_id == person.id)
                                      .order_by(CheckinPeriod.id.desc()))).scalars().first()


async def test_a_prompt_reaches_slack_with_one_click_health_buttons_that_answer_it(workspace, fake, org):
    await workspace.command("UANA", "add Cut churn to 3%")
    await workspace.command("UBO", "approve G-1")
    await run_round(org.db, MONDAY - timedelta(days=1))
    assert (await run_round(org.db, MONDAY)).prompts == 2  # Ana, and Bo (invited to propose a goal)
    prompt = await prompted(workspace, fake, "UANA")
    blocks = blocks_of(prompt)
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("checkin.health:0", "G-1 on_track"), ("checkin.health:1", "G-1 at_risk"),
        ("checkin.health:2", "G-1 off_track"), ("checkin.health:3", "G-1 blocked"), ("checkin.open", ""),
    ]
    assert "Reply in one message, e.g. G-1 60% at risk waiting on legal" in text_of(prompt.args)

    status, _ = await workspace.press("UANA", "checkin.health:1", "G-1 at_risk", message={"ts": "1700000000.000001"})
    assert status == 200
    await eventually(lambda: goal(org.db, 1), lambda g: g.health == "at_risk", what="G-1 at risk")
    answered = await eventually(lambda: period_of(org.db, "ana@example.com"), lambda p: p.answered_at is not None,
                                what="the period answered")
    assert answered.remind_at is None
    # Answered by the button, so no reminder; Bo has no goal, so none for him either.
    assert (await run_round(org.db, MONDAY + timedelta(hours=4))).reminders == 0


async def test_a_forged_health_button_for_someone_elses_goal_changes_nothing(workspace, fake, org):
    await workspace.command("UANA", "add Cut churn to 3%")
    await workspace.command("UBO", "approve G-1")
    status, _ = await workspace.press("URAVI", "checkin.health:2", "G-1 off_track", message={"ts": "1700000000.000002"})
    assert status == 200
    refusal = await fake.wait_for(
        lambda: [r for _, r in fake.responses if "Only Ana Silva" in json.dumps(r)] or
                [c for c in fake.called("chat.postMessage") if c.args["channel"] == "URAVI"],
        what="the refusal to Ravi")
    assert refusal
    assert (await goal(org.db, 1)).health is None


@pytest.fixture
async def teams(org):
    """goalbot's server with Teams on, wired to a fake Bot Connector that knows the org's people."""
    from tests.teams_harness import TeamsHarness, started_fake_connector

    connector = started_fake_connector()
    harness = TeamsHarness(org.db, connector)
    await harness.start()
    yield harness
    await harness.close()
    connector.stop()


async def test_a_prompt_reaches_teams_through_the_connector_and_its_buttons_answer_it(teams, org):
    from tests.fake_teams import submit_data
    from tests.teams_harness import text

    harness = teams
    ana, bo = harness.client("ana"), harness.client("bo")
    await harness.say(ana, "goals add Cut churn to 3%")
    await harness.say(bo, "goals approve G-1")
    await run_round(org.db, MONDAY - timedelta(days=1))
    assert (await run_round(org.db, MONDAY)).prompts == 2
    harness.teams.turns.outbox.wake()
    await harness.wait(lambda f: any("Check-in for the week" in text(c) for c in harness.notices(ana)))
    prompt = next(c for c in harness.notices(ana) if "Check-in for the week" in text(c))
    data = submit_data(prompt.body["attachments"][0]["content"], "Blocked")
    assert data == {"goalbot": "checkin.health", "value": "G-1 blocked"}
    await harness.send(ana, ana.submit(data, reply_to=prompt.body.get("id")))
    await eventually(lambda: goal(org.db, 1), lambda g: g.health == "blocked", what="G-1 blocked")


async def test_a_prompt_nobody_can_receive_within_its_day_is_dropped_not_sent_late(teams, org):
    """Ravi is in the org's Teams but never opened goalbot there: his prompt waits, and at the end of his
    local day it is dropped and his period says so; installing the app later does not bring it back."""
    import sqlalchemy as sa

    from bot.outbox import Outbox
    from bot.people import tenant_by_key
    from storage.models import Identity, OutboxMessage
    from tests.teams_harness import text

    harness = teams
    ana, ravi = harness.client("ana"), harness.client("ravi")
    await harness.say(ana, "goals add Cut churn to 3%")
    async with org.db.transaction() as session:
        tenant = await tenant_by_key(session, "default")
        person = (await session.execute(select(Person).where(Person.email == "ravi@example.com"))).scalar_one()
        session.add(Identity(tenant_id=tenant.id, person_id=person.id, platform="teams", external_id="29:1ravi"))
    await run_round(org.db, MONDAY - timedelta(days=1))
    assert (await run_round(org.db, MONDAY)).prompts == 2  # Ana, and Ravi (who cannot be written to yet)
    harness.teams.turns.outbox.wake()
    waiting = await eventually(lambda: period_of(org.db, "ravi@example.com"), lambda p: p is not None,
                               what="Ravi's period")

    async def ravis_prompt() -> OutboxMessage:
        async with org.db.transaction(write=False) as session:
            return (await session.execute(
                select(OutboxMessage).where(OutboxMessage.dedupe_key == waiting.prompt_key))).scalar_one()

    row = await eventually(ravis_prompt, lambda r: (r.last_error or "").startswith("unreachable"),
                           what="Ravi's prompt waiting for him")
    assert row.state == "pending" and row.attempts == 0
    # His local day ends (Lisbon, 24:00) before he opens goalbot in Teams.
    async with org.db.transaction() as session:
        await session.execute(sa.update(OutboxMessage).where(OutboxMessage.id == row.id)
                              .values(expires_at=datetime.now(UTC) - timedelta(minutes=1)))
    later = Outbox(org.db, harness.teams.turns.outbox.sender, worker="next-day")
    await later.deliver_due()
    assert (await ravis_prompt()).state == "dropped"
    period = await period_of(org.db, "ravi@example.com")
    assert (period.state, period.reason) == ("dropped", "the prompt could not be delivered within its day")
    assert period.remind_at is None

    await harness.send(ravi, ravi.install(), expect=0)  # a week late: what was dropped stays dropped
    await harness.settle()
    assert harness.notices(ravi), "the welcome, at least, reaches him"
    assert not any("Check-in for the week" in text(c) for c in harness.notices(ravi))
    assert (await ravis_prompt()).state == "dropped"


async def test_a_digests_open_and_nudge_buttons_act_as_the_presser_in_slack(workspace, fake, org):
    """Bo's digest in Slack: Open shows the goal; Nudge asks Ana to check in, once; the same Nudge pressed by
    someone who is not Ana's manager changes nothing."""
    await workspace.command("UANA", "add Cut churn to 3%")
    await workspace.command("UBO", "approve G-1")
    await run_round(org.db, datetime.now(UTC) - timedelta(days=8))
    async with org.db.transaction() as session:
        ana = (await session.execute(select(Person).where(Person.email == "ana@example.com"))).scalar_one()
        session.add(CheckinPeriod(tenant_id=ana.tenant_id, person_id=ana.id, period=datetime.now(UTC).date(),
                                  due_at=datetime.now(UTC) - timedelta(hours=1), state="prompted"))
    shown = await workspace.command("UBO", "digest")
    blocks = json.dumps(shown["blocks"])
    assert "Not checked in yet (1 of 1)" in text_of(shown) and '"person.nudge"' in blocks
    assert '"value": "ana@example.com"' in blocks

    status, _ = await workspace.press("UBO", "goal.show", "G-1", message={"ts": "1700000000.000009"})
    assert status == 200
    await fake.wait_for(lambda: [r for _, r in fake.responses if "Cut churn to 3%" in text_of(r)
                                 and "Level" in text_of(r)], what="G-1 shown to Bo")

    status, _ = await workspace.press("URAVI", "person.nudge", "ana@example.com", message={"ts": "1700000000.000010"})
    assert status == 200
    await fake.wait_for(lambda: [r for _, r in fake.responses if "Only Ana Silva's managers can nudge them." in text_of(r)],
                        what="Ravi refused")
    status, _ = await workspace.press("UBO", "person.nudge", "ana@example.com", message={"ts": "1700000000.000011"})
    assert status == 200
    await fake.wait_for(lambda: [r for _, r in fake.responses if "Asked Ana Silva to check in." in text_of(r)],
                        what="Bo's nudge taken")
    workspace.slack.bot.wake_outboxes()
    nudges = await fake.wait_for(
        lambda: [c for c in fake.called("chat.postMessage")
                 if c.args["channel"] == "UANA" and "Bo Larsen asks you to check in" in text_of(c.args)],
        what="the nudge to Ana")
    assert len(nudges) == 1


async def test_a_late_answer_updates_the_managers_digest_in_slack_in_place(workspace, fake, org):
    """Bo's digest reaches him in Slack; Ana's later check-in redraws that same message (chat.update on its
    channel and ts), not a new one."""
    await workspace.command("UANA", "add Cut churn to 3%")
    await workspace.command("UBO", "approve G-1")
    monday = datetime(2027, 3, 8, 9, 30, tzinfo=UTC)  # 10:30 in Copenhagen: Bo's digest is due; Ana's prompt too
    await run_round(org.db, monday - timedelta(days=6))
    assert (await run_round(org.db, monday)).digests == 1
    workspace.slack.bot.wake_outboxes()
    (posted,) = await fake.wait_for(
        lambda: [c for c in fake.called("chat.postMessage")
                 if c.args["channel"] == "UBO" and "Your team's alignment" in text_of(c.args)], what="Bo's digest")
    assert "Checked in" in text_of(posted.args) and "0% (0 of 1)" in text_of(posted.args)
    await workspace.command("UANA", "checkin G-1 40% on track", command="/goals")
    tally = await run_round(org.db, monday + timedelta(minutes=2))
    assert tally.redrawn == 1
    workspace.slack.bot.wake_outboxes()
    (update,) = await fake.wait_for(
        lambda: [c for c in fake.called("chat.update") if "Your team's alignment" in text_of(c.args)],
        what="Bo's digest redrawn")
    first = next(m for m in fake.posted("UBO") if "Your team's alignment" in (m["text"] or ""))
    assert (update.args["channel"], update.args["ts"]) == ("DBO", first["ts"])  # the same message
    assert "100% (1 of 1)" in text_of(update.args)
    assert len([c for c in fake.called("chat.postMessage") if "Your team's alignment" in text_of(c.args)]) == 1


async def test_a_late_answer_updates_the_managers_digest_in_teams_in_place(teams, org):
    from tests.teams_harness import text

    harness = teams
    ana, bo = harness.client("ana"), harness.client("bo")
    await harness.say(ana, "goals add Cut churn to 3%")
    await harness.say(bo, "goals approve G-1")
    monday = datetime(2027, 3, 8, 9, 30, tzinfo=UTC)
    await run_round(org.db, monday - timedelta(days=6))
    assert (await run_round(org.db, monday)).digests == 1
    harness.teams.turns.outbox.wake()
    await harness.wait(lambda f: any("Your team's alignment" in text(c) for c in harness.notices(bo)))
    posted = next(c for c in harness.notices(bo) if "Your team's alignment" in text(c))
    await harness.say(ana, "checkin G-1 40% on track")
    assert (await run_round(org.db, monday + timedelta(minutes=2))).redrawn == 1
    harness.teams.turns.outbox.wake()
    await harness.wait(lambda f: any("Your team's alignment" in text(c) for c in f.updates(bo.conversation)))
    update = next(c for c in harness.fake.updates(bo.conversation) if "Your team's alignment" in text(c))
    assert update.activity_id == posted.result_id and "100% (1 of 1)" in text(update).replace("\\", "")
    assert len([c for c in harness.notices(bo) if "Your team's alignment" in text(c)]) == 1
