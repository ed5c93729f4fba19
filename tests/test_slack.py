"""goalbot in Slack, end to end over HTTP: signed requests in, Web API calls out to a fake Slack."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from storage.models import Goal, KeyResult, OutboxMessage
from tests.fake_slack import FakeSlack
from tests.slack_harness import PEOPLE, SlackWorkspace, text_of


@pytest.fixture
async def fake():
    slack = FakeSlack()
    for user_id, (email, name) in PEOPLE.items():
        slack.add_user(user_id, email, name)
    await slack.start()
    yield slack
    await slack.close()


@pytest.fixture
async def workspace(org, fake):
    ws = SlackWorkspace(org.db, fake)
    await ws.start()
    yield ws
    await ws.close()


async def goal(db, number: int) -> Goal:
    async with db.transaction(write=False) as session:
        return (await session.execute(select(Goal).where(Goal.number == number))).scalar_one()


async def goal_count(db) -> int:
    async with db.transaction(write=False) as session:
        return len((await session.execute(select(Goal))).scalars().all())


async def test_a_slash_command_is_answered_privately_through_the_response_url(workspace):
    answer = await workspace.command("UANA", "help")
    assert answer["response_type"] == "ephemeral"
    assert "goals add" in text_of(answer)
    answer = await workspace.command("UANA", "list mine")
    assert "You have no goals yet" in text_of(answer)


async def test_a_proposal_reaches_the_manager_who_approves_it_in_one_click(workspace, fake, org):
    answer = await workspace.command("UANA", "add Cut churn to 3% due:2027-03-31")
    assert "Proposed G-1 Cut churn to 3%" in text_of(answer)
    assert "Bo Larsen" in text_of(answer)

    # Bo has never talked to the bot: he is found by email and DMed the request with buttons.
    (lookup,) = await fake.wait_calls("users.lookupByEmail")
    assert lookup.args["email"] == "bo@example.com"
    (request,) = await fake.wait_calls("chat.postMessage")
    assert request.args["channel"] == "UBO"
    blocks = request.args["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert [(b["action_id"], b["value"]) for b in buttons] == [("goal.approve", "G-1"), ("goal.return", "G-1")]

    status, _ = await workspace.press("UBO", "goal.approve", "G-1")
    assert status == 200
    (update,) = await fake.wait_calls("chat.update")
    assert (update.args["channel"], update.args["ts"]) == ("DBO", "1700000000.000001")
    assert "was approved by Bo Larsen" in text_of(update.args)
    assert "goal.approve" not in text_of(update.args)  # the buttons are gone
    news = await fake.wait_for(lambda: [c for c in fake.called("chat.postMessage") if c.args["channel"] == "UANA"])
    assert "Bo Larsen approved G-1" in text_of(news[0].args)
    assert (await goal(org.db, 1)).status == "active"
    # Both Home tabs are redrawn.
    await fake.wait_for(lambda: {c.args["user_id"] for c in fake.called("views.publish")} >= {"UBO", "UANA"})


async def test_return_asks_for_a_reason_in_a_modal_then_updates_the_request(workspace, fake, org):
    await workspace.command("UANA", "add Cut churn")
    await fake.wait_calls("chat.postMessage")
    await workspace.press("UBO", "goal.return", "G-1")
    (opened,) = await fake.wait_calls("views.open")
    view = opened.args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == "goal.return"

    empty = {"reason": {"reason": {"type": "plain_text_input", "value": "  "}}}
    status, body = await workspace.submit("UBO", "goal.return", empty, view["private_metadata"])
    assert status == 200 and json.loads(body)["response_action"] == "errors"
    assert (await goal(org.db, 1)).status == "proposed"

    reason = {"reason": {"reason": {"type": "plain_text_input", "value": "Add a measure"}}}
    status, body = await workspace.submit("UBO", "goal.return", reason, view["private_metadata"])
    assert status == 200 and body == ""
    (update,) = await fake.wait_calls("chat.update")
    assert "returned by Bo Larsen: Add a measure" in text_of(update.args)
    returned = await goal(org.db, 1)
    assert (returned.status, returned.return_reason) == ("returned", "Add a measure")


async def test_an_action_forged_for_someone_elses_goal_is_refused_and_changes_nothing(workspace, fake, org):
    await workspace.command("UANA", "add Cut churn")
    await fake.wait_calls("chat.postMessage")
    # Ravi is Ana's peer: a button carrying G-1 does not make him her manager.
    await workspace.press("URAVI", "goal.approve", "G-1")
    refusal = await fake.wait_for(lambda: [c for c in fake.called("chat.postMessage") if c.args["channel"] == "URAVI"])
    assert "Only the managers" in text_of(refusal[0].args)
    # A forged return modal (metadata naming G-1) is refused the same way.
    reason = {"reason": {"reason": {"type": "plain_text_input", "value": "no"}}}
    await workspace.submit("URAVI", "goal.return", reason, json.dumps({"goal": "G-1"}))
    await fake.wait_for(lambda: len([c for c in fake.called("chat.postMessage") if c.args["channel"] == "URAVI"]) == 2)
    assert (await goal(org.db, 1)).status == "proposed"
    assert not fake.called("chat.update")
