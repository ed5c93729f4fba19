"""goalbot in Slack, end to end over HTTP: signed requests in, Web API calls out to a fake Slack."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlmodel import select

from storage.models import Goal, KeyResult, OutboxMessage, utcnow

from tests.checks import eventually, goal, in_order
from tests.fake_slack import command_body
from tests.slack_harness import SlackWorkspace, fake, text_of  # noqa: F401 - fake is a fixture


@pytest.fixture
async def workspace(org, fake):
    ws = SlackWorkspace(org.db, fake)
    await ws.start()
    yield ws
    await ws.close()


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


# The door -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"X-Slack-Request-Timestamp": "NOW", "X-Slack-Signature": "v0=abc"}, id="non-numeric-timestamp"),
        pytest.param("wrong-secret", id="wrong-secret"),
        pytest.param("stale", id="six-minutes-old"),
        pytest.param("tampered", id="body-changed-after-signing"),
    ],
)
async def test_unsigned_or_badly_signed_requests_get_401_and_do_nothing(workspace, fake, org, headers):
    import time

    from tests.fake_slack import command_body, sign

    body = command_body("/goals", "add Sneaky goal", "UANA", fake.response_url(), workspace.trigger())
    if headers == "wrong-secret":
        headers = sign(body, secret="not-the-secret")
    elif headers == "stale":
        headers = sign(body, timestamp=int(time.time()) - 360)
    elif headers == "tampered":
        headers = sign(body)
        body = body.replace(b"Sneaky", b"Sneakier")
    status, _ = await workspace.post(body, headers)
    assert status == 401
    assert await goal_count(org.db) == 0
    assert fake.calls == [] and fake.responses == []


async def test_an_oversized_body_is_refused_before_it_is_read(workspace, org):
    from tests.fake_slack import command_body, sign

    body = command_body("/goals", "add " + "x" * 600_000, "UANA", "http://127.0.0.1:9/", workspace.trigger())
    status, _ = await workspace.post(body, sign(body))
    assert status == 413
    assert await goal_count(org.db) == 0


async def test_a_replayed_request_does_nothing_twice(workspace, fake, org):
    from tests.fake_slack import command_body, sign

    body = command_body("/goals", "add Cut churn", "UANA", fake.response_url("once"), workspace.trigger())
    headers = sign(body)
    assert (await workspace.post(body, headers))[0] == 200
    await fake.wait_responses(1)
    assert (await workspace.post(body, headers))[0] == 200
    await fake.wait_calls("chat.postMessage")  # the manager's request: the work after the first ack is done
    assert len(fake.responses) == 1
    assert await goal_count(org.db) == 1


async def test_a_retried_event_is_handled_once_and_unknown_events_get_200(workspace, fake):
    event = {"type": "app_home_opened", "user": "UANA", "channel": "DANA", "tab": "home", "event_ts": "1.2"}
    assert (await workspace.event(event, "Ev0001"))[0] == 200
    await fake.wait_calls("views.publish")
    for attempt in (1, 2, 3):
        assert (await workspace.event(event, "Ev0001", retry=attempt))[0] == 200
    assert (await workspace.event({"type": "reaction_added", "user": "UANA", "reaction": "tada"}, "Ev0002"))[0] == 200
    await workspace.command("UANA", "help")  # everything before it has been handled by now
    assert len(fake.called("views.publish")) == 1


# Rendering --------------------------------------------------------------------------


async def test_slack_control_sequences_in_a_title_show_as_text_and_ping_no_one(workspace, fake):
    # Slack sends what people type with &, < and > escaped.
    title = "&lt;!channel&gt; read &lt;https://evil.example|the doc&gt; &amp; *now* &lt;@UMAYA&gt;"
    answer = await workspace.command("UANA", f"add {title}")
    rendered = text_of(answer)
    assert "<!channel>" not in rendered and "<https://evil" not in rendered and "<@UMAYA>" not in rendered
    assert "&lt;!channel&gt; read &lt;https://evil.example|the doc&gt; &amp; *now* &lt;@UMAYA&gt;" in rendered
    listing = text_of(await workspace.command("UANA", "list mine"))
    assert "<!channel>" not in listing and "&lt;!channel&gt;" in listing
    (request,) = await fake.wait_calls("chat.postMessage")
    assert "<!channel>" not in text_of(request.args) and "<!channel>" not in request.args["text"]


async def test_sixty_goals_list_in_pages_and_the_tree_stays_within_fifty_blocks(workspace, org):
    async with org.db.transaction() as session:
        from bot.people import tenant_by_key

        tenant = await tenant_by_key(session, "default")
        for n in range(1, 61):
            session.add(Goal(tenant_id=tenant.id, number=n, title=f"Goal number {n}", level="company", status="active"))
        tenant.last_goal_number = 60
    answer = await workspace.command("UMAYA", "list company")
    assert len(answer["blocks"]) <= 50
    assert "and 35 more" in text_of(answer)
    assert "page:2" in text_of(answer)
    page3 = await workspace.command("UMAYA", "list company page:3")
    assert "G-60" in text_of(page3) and "G-51" in text_of(page3) and "G-50*" not in text_of(page3)
    tree = await workspace.command("UMAYA", "tree")
    assert len(tree["blocks"]) <= 50
    assert "and 12 more" in text_of(tree)


async def test_a_storm_of_429s_loses_no_message_and_doubles_none(workspace, fake, org):
    await workspace.slack.stop()  # hold the outbox while the requests pile up
    for user in ("UANA", "URAVI", "UNINA"):
        await workspace.command(user, f"add Goal from {user}")
    assert not fake.called("chat.postMessage")
    fake.rate_limited = 7  # the next seven Web API calls are refused with Retry-After: 1
    workspace.slack.start()
    await fake.wait_for(
        lambda: len([c for c in fake.called("chat.postMessage") if c.args["channel"] in ("UBO", "ULENA")]) >= 3,
        timeout=30, what="three approval requests",
    )
    sent = [c.args["channel"] for c in fake.called("chat.postMessage")]
    assert sorted(sent) == ["UBO", "UBO", "ULENA"]
    assert len([c for c in fake.calls if c.method.endswith(":429")]) == 7

    async def states():
        async with org.db.transaction(write=False) as session:
            return [row.state for row in (await session.execute(select(OutboxMessage))).scalars()]

    # The last row is marked sent just after Slack answered.
    await eventually(states, lambda seen: seen == ["sent", "sent", "sent"], what="every row sent")
    assert len(fake.called("chat.postMessage")) == 3


# The add form, the parent picker, the Home tab, check-ins, kudos, DMs -------------------


def add_form(title: str, *, parent: str | None = None, due: str | None = None, key_results: str = "",
             level: str = "individual", private: bool = False) -> dict:
    return {
        "title": {"title": {"type": "plain_text_input", "value": title}},
        "description": {"description": {"type": "plain_text_input", "value": "Why it matters"}},
        "parent": {"parent": {"type": "external_select",
                              "selected_option": {"value": parent, "text": {"type": "plain_text", "text": parent}} if parent else None}},
        "level": {"level": {"type": "static_select", "selected_option": {"value": level}}},
        "due": {"due": {"type": "datepicker", "selected_date": due}},
        "key_results": {"key_results": {"type": "plain_text_input", "value": key_results}},
        "private": {"private": {"type": "checkboxes", "selected_options": [{"value": "true"}] if private else []}},
    }


async def test_a_bare_add_opens_the_form_and_its_submission_proposes_the_goal(workspace, fake, org):
    await org.say("maya@example.com", "goals add Grow revenue 30% level:company due:2027-12-31")
    await org.say("ana@example.com", "goals add My private plan private")
    status, _ = await workspace.post(
        command_body(
            "/goals", "add", "URAVI", fake.response_url(), workspace.trigger()
        )
    )
    assert status == 200
    (opened,) = await fake.wait_calls("views.open")
    view = opened.args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == "goal.add"
    assert {b["block_id"] for b in view["blocks"]} >= {"title", "parent", "level", "due", "key_results", "private"}

    # The parent picker searches what Ravi may see: not Ana's private goal.
    status, body = await workspace.interact({
        "type": "block_suggestion", "user": {"id": "URAVI", "team_id": "T0GOALS"}, "action_id": "parent",
        "block_id": "parent", "value": "", "view": view,
    })
    assert status == 200
    options = json.loads(body)["options"]
    assert [o["value"] for o in options] == ["G-1"]
    status, body = await workspace.interact({
        "type": "block_suggestion", "user": {"id": "URAVI", "team_id": "T0GOALS"}, "action_id": "parent",
        "block_id": "parent", "value": "revenue", "view": view,
    })
    assert [o["text"]["text"] for o in json.loads(body)["options"]] == ["G-1 Grow revenue 30%"]

    status, body = await workspace.submit("URAVI", "goal.add", add_form("Ship it", due="2027-02-30"))
    assert json.loads(body) == {"response_action": "errors", "errors": {"due": "Due must be a day on the calendar, not `2027-02-30`."}}
    status, body = await workspace.submit("URAVI", "goal.add", add_form("Ship it", key_results="just words"))
    assert json.loads(body)["errors"].keys() == {"key_results"}
    assert await goal_count(org.db) == 2

    form = add_form("Halve p99 latency", parent="G-1", due="2027-06-30", key_results="p99 latency 400->200 ms\nIncidents 6->2")
    status, body = await workspace.submit("URAVI", "goal.add", form)
    assert (status, body) == (200, "")
    dm = await fake.wait_for(lambda: [c for c in fake.called("chat.postMessage") if c.args["channel"] == "URAVI"])
    assert "Proposed G-3 Halve p99 latency" in text_of(dm[0].args)
    created = await goal(org.db, 3)
    assert (created.description, str(created.due_date), created.status) == ("Why it matters", "2027-06-30", "proposed")
    async with org.db.transaction(write=False) as session:
        krs = (await session.execute(select(KeyResult).where(KeyResult.goal_id == created.id))).scalars().all()
    assert [(k.metric, k.start, k.target, k.unit) for k in krs] == [("p99 latency", 400, 200, "ms"), ("Incidents", 6, 2, "")]
    await fake.wait_for(lambda: [c for c in fake.called("chat.postMessage") if c.args["channel"] == "UBO"])


async def test_the_home_tab_shows_my_goals_my_check_in_and_my_teams_alignment(workspace, fake, org):
    await org.say("maya@example.com", "goals add Grow revenue level:company")
    await workspace.command("UANA", "add Cut churn parent:G-1")
    await workspace.command("URAVI", "add Learn Rust")
    await fake.wait_for(lambda: len([c for c in fake.called("chat.postMessage") if c.args["channel"] == "UBO"]) == 2)
    await fake.wait_for(lambda: len([c for c in fake.called("views.publish") if c.args["user_id"] == "UBO"]) >= 1)
    await workspace.command("UBO", "help")  # let the redraws triggered by the requests finish
    before = len(fake.called("views.publish"))
    await workspace.event({"type": "app_home_opened", "user": "UBO", "channel": "DBO", "tab": "home"}, "EvHome1")
    published = await fake.wait_for(lambda: [c for c in fake.called("views.publish")[before:] if c.args["user_id"] == "UBO"])
    view = published[-1].args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    home = text_of(view)
    assert "Your team" in home and "50% (1 of 2 open goals, proposals too, support a parent)" in home
    assert "Ana Silva proposed G-2 Cut churn" in home and "Ravi Patel proposed G-3 Learn Rust" in home
    # Bo has no active goal of his own yet: nothing to check in on, and no button that would say so.
    assert "Check-in" in home and "Nothing to check in on: you have no active goals." in home
    assert "checkin.open" not in home

    await workspace.event({"type": "app_home_opened", "user": "UANA", "channel": "DANA", "tab": "home"}, "EvHome2")
    published = await fake.wait_for(lambda: [c for c in fake.called("views.publish") if c.args["user_id"] == "UANA"])
    ana = text_of(published[-1].args["view"])
    assert "G-2" in ana and "supports G-1 Grow revenue" in ana and "Your team" not in ana


async def test_checking_in_by_command_by_dm_and_by_the_home_button(workspace, fake, org):
    await org.say("ana@example.com", "goals add Cut churn")
    await org.say("bo@example.com", "goals approve G-1")
    await org.say("ana@example.com", "goals add Write the runbook")
    await org.say("bo@example.com", "goals approve G-2")
    prompt = await workspace.command("UANA", "", command="/checkin")
    assert "G-1" in text_of(prompt) and "G-2" in text_of(prompt)

    answer = await workspace.command("UANA", "G-1 60% at-risk waiting on legal; G-2 done", command="/checkin")
    assert "Thanks, your check-in" in text_of(answer)
    assert ((await goal(org.db, 1)).progress, (await goal(org.db, 1)).health) == (60, "at_risk")
    assert (await goal(org.db, 2)).status == "achieved"

    bad = await workspace.command("UANA", "G-1 sixty percent; G-9", command="/checkin")
    assert "Nothing was saved: fix `G-1 sixty percent`" in text_of(bad) and "is neither" in text_of(bad)
    assert (await goal(org.db, 1)).note == "waiting on legal"  # the word never became a note

    # In the bot's DM a line starting with a goal is a check-in answer.
    event = {"type": "message", "channel_type": "im", "channel": "DANA", "user": "UANA", "text": "G-1 70% on-track legal said yes", "ts": "5.1"}
    assert (await workspace.event(event, "EvDm1"))[0] == 200
    reply = await fake.wait_for(lambda: [c for c in fake.called("chat.postMessage") if c.args["channel"] == "DANA"])
    assert "Thanks, your check-in" in text_of(reply[0].args)
    assert (await goal(org.db, 1)).progress == 70

    await workspace.press("UANA", "checkin.open", "", container={"type": "view", "view_id": "VHOME"})
    (opened,) = await fake.wait_calls("views.open")
    view = opened.args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == "checkin.answer" and "G-1" in text_of(view)


async def test_kudos_are_shared_in_the_channel_and_the_receiver_is_told(workspace, fake):
    answer = await workspace.command("UANA", "kudos <@URAVI|ravi> for the great release &amp; more")
    assert answer["response_type"] == "in_channel"
    assert "Kudos to Ravi Patel from Ana Silva" in text_of(answer)
    assert "great release &amp; more" in text_of(answer)
    told = await fake.wait_for(lambda: [c for c in fake.called("chat.postMessage") if c.args["channel"] == "URAVI"])
    assert "Kudos to Ravi Patel" in text_of(told[0].args)


async def test_a_direct_message_is_a_command_and_bots_own_messages_are_ignored(workspace, fake):
    ours = {"type": "message", "channel_type": "im", "channel": "DANA", "user": "UANA", "text": "add Plan Q3", "ts": "6.1"}
    bots = {"type": "message", "channel_type": "im", "channel": "DANA", "bot_id": "BBOT", "text": "add Loop", "ts": "6.2"}
    await workspace.event(bots, "EvBot")
    await workspace.event(ours, "EvOurs")
    reply = await fake.wait_for(lambda: [c for c in fake.called("chat.postMessage") if c.args["channel"] == "DANA"])
    assert len(reply) == 1 and "Proposed G-1 Plan Q3" in text_of(reply[0].args)


async def lost_answer(workspace, fake, org, drop: list[str]) -> OutboxMessage:
    """Ana proposes a goal; the request to Bo goes out and Slack's answer to it is lost. Returns the row
    once the outbox has decided."""
    drop.append("chat.postMessage")
    await workspace.command("UANA", "add Cut churn")
    await fake.wait_calls("chat.postMessage")

    async def row():
        async with org.db.transaction() as session:
            found = (await session.execute(select(OutboxMessage))).scalar_one()
            if found.state == "pending":
                found.next_attempt_at = utcnow()  # the look comes after a pause; not waited for here
            return found

    async def decided():
        workspace.slack.turns.outbox.wake()
        return await row()

    return await eventually(decided, lambda found: found.state not in ("sending", "pending"), timeout=10)


async def test_a_message_posted_whose_answer_was_lost_is_found_in_the_history_not_sent_again(workspace, fake, org):
    row = await lost_answer(workspace, fake, org, fake.drop_after)
    assert row.state == "sent"
    (posted,) = fake.posted("UBO")
    assert (row.channel, row.message_id) == ("DBO", posted["ts"])
    assert posted["metadata"] == {"event_type": "goalbot_outbox", "event_payload": {"outbox_id": row.id}}
    assert len(fake.called("conversations.history")) == 1 and len(fake.called("chat.postMessage")) == 1


async def test_a_message_lost_before_slack_posted_it_is_looked_for_then_sent_once(workspace, fake, org):
    row = await lost_answer(workspace, fake, org, fake.drop)
    assert row.state == "sent"
    assert len(fake.posted("UBO")) == 1 and len(fake.called("chat.postMessage")) == 2
    assert fake.called("conversations.history")[0].args.get("include_all_metadata") in (True, "true", "True", "1")


async def test_the_time_zone_comes_from_the_slack_profile(workspace, fake, org):
    fake.users["UBO"]["tz"] = "America/Chicago"
    await workspace.command("UBO", "settings timezone Europe/Copenhagen")  # any write refreshes it first
    async with org.db.transaction(write=False) as session:
        from storage.models import Person

        bo = (await session.execute(select(Person).where(Person.email == "bo@example.com"))).scalar_one()
    assert bo.timezone == "Europe/Copenhagen"  # what he set wins over the profile for this command
    await workspace.command("UBO", "away off")
    async with org.db.transaction(write=False) as session:
        bo = await session.get(type(bo), bo.id)
    assert bo.timezone == "America/Chicago"
    assert len(fake.called("users.info")) == 1  # the profile is cached between commands


async def test_every_command_of_the_language_works_from_slack(workspace, fake, org):
    await org.say("maya@example.com", "goals add Grow revenue 30% level:company")
    steps = [
        ("UBO", "add Platform reliability level:team parent:G-1", "Proposed G-2"),
        ("UOMAR", "approve G-2", "Approved G-2"),
        ("UBO", "assign Halve p99 latency owner:<@UANA|ana> parent:G-2", "Assigned G-3"),
        ("UANA", "approve G-3", "Accepted G-3"),
        ("UANA", "add Write the runbook", "Proposed G-4"),
        ("UBO", "return G-4 needs a measure", "Returned G-4"),
        ("UANA", "add Cut churn", "Proposed G-5"),
        ("UBO", "approve G-5", "Approved G-5"),
        ("UANA", "link G-5 G-2", "now supports G-2 Platform reliability"),
        ("UANA", "unlink G-5", "G-5 no longer supports G-2 Platform reliability"),
        ("UANA", "progress G-5 40 at-risk waiting on legal", "40%"),
        ("UANA", "kr add G-3 p99 latency 400->200 ms", "Added key result G-3.1"),
        ("UANA", "kr G-3.1 300", "Updated G-3.1"),
        ("UANA", "milestone add G-3 Profile the hot path due:2027-02-01", "Added milestone 1"),
        ("UANA", "show G-3", "Halve p99 latency"),
        ("UANA", "tree G-1", ("Grow revenue", "G-2", "Platform reliability", "G-3", "Halve p99 latency")),
        ("UANA", "list team", "G-5"),
        ("UANA", "list <@UBO|bo>", "Bo Larsen"),
        ("UANA", "done G-5", "achieved"),
        ("UANA", "archive G-3", "archived"),
        ("UANA", "kudos <@URAVI|ravi> thanks for the review", "Kudos to Ravi Patel"),
        ("UANA", "settings checkin friday 16:00 biweekly", "Friday 16:00, biweekly"),
        ("UANA", "away until 2099-01-05", "No check-in prompts through Monday 2099-01-05"),
        ("UANA", "help progress", "goals progress G-12"),
        ("UANA", "frobnicate", "I don't know the command"),
    ]
    for user, text, expected in steps:
        answer = await workspace.command(user, text)
        assert in_order(text_of(answer), *((expected,) if isinstance(expected, str) else expected)), (text, text_of(answer))
        if text == "tree G-1":
            assert "Cut churn" not in text_of(answer)  # unlinked just before


async def test_a_command_cut_short_is_run_again_once_after_a_restart(workspace, fake, org):
    import sqlalchemy as sa

    from storage.models import InboundDelivery, utcnow

    # The work after the ack dies half-way, as in a crash (twice: the HTTP client retries a GET once).
    fake.drop.extend(["users.info", "users.info"])
    status, _ = await workspace.post(
        command_body(
            "/goals", "add Cut churn", "UANA", fake.response_url("cut"), "77.1.cut"
        )
    )
    assert status == 200
    await fake.wait_calls("users.info")
    await asyncio.sleep(0.2)
    assert await goal_count(org.db) == 0 and fake.responses == []
    async with org.db.transaction(write=False) as session:
        row = (await session.execute(sa.select(InboundDelivery))).scalar_one()
    assert row.done_at is None and "Cut churn" in row.payload
    assert await workspace.slack.turns.recover() == 0  # its lease has not run out: the first run may still be going
    async with org.db.transaction() as session:
        row = (await session.execute(sa.select(InboundDelivery))).scalar_one()
        row.lease_until = utcnow() - timedelta(seconds=1)  # as when its process died

    assert await workspace.slack.turns.recover() == 1
    (answer,) = await fake.wait_responses(1)
    assert answer[0] == "cut" and "Proposed G-1 Cut churn" in text_of(answer[1])
    assert await workspace.slack.turns.recover() == 0
    await fake.wait_calls("chat.postMessage")  # the manager is asked once
    assert await goal_count(org.db) == 1
    async with org.db.transaction(write=False) as session:
        row = (await session.execute(sa.select(InboundDelivery))).scalar_one()
    assert row.done_at is not None and row.payload is None


async def test_a_request_cannot_pretend_to_be_one_goalbot_runs_again(workspace, fake, org):
    from tests.fake_slack import command_body, sign

    body = command_body("/goals", "add Cut churn", "UANA", fake.response_url("first"), "88.1.x")
    await workspace.post(body)
    await fake.wait_responses(1)
    again = command_body("/goals", "add Cut churn", "UANA", fake.response_url("again"), "88.1.x")
    headers = {**sign(again), "X-Goalbot-Replay": "trigger:88.1.x"}
    assert (await workspace.post(again, headers))[0] == 200
    await workspace.command("UANA", "help")
    assert [name for name, _ in fake.responses if name == "again"] == []
    assert await goal_count(org.db) == 1


async def test_a_message_owed_to_a_channel_is_posted_there(workspace, fake, org):
    from bot import outbox
    from bot.messages import Address, Reply
    from bot.people import tenant_by_key

    async with org.db.transaction() as session:
        tenant = await tenant_by_key(session, "default")
        await outbox.enqueue(session, tenant.id, Address.in_channel("slack", "CPLATFORM"), "slack", outbox.Kind.ANSWER,
                             Reply.text("Platform this week: <!channel> 3 goals on track"), "summary:1")
    workspace.slack.bot.wake_outboxes()
    (call,) = await fake.wait_calls("chat.postMessage")
    assert call.args["channel"] == "CPLATFORM"
    assert "&lt;!channel&gt;" in call.args["text"]  # a channel post escapes like any other
    assert fake.called("users.lookupByEmail") == []


def submitted(view: dict, **changed: str) -> dict:
    """What Slack sends back for a view as it was opened, with some fields changed by the person."""
    values = {}
    for block in view["blocks"]:
        element = block.get("element") or {}
        kind, action, value = element.get("type"), element.get("action_id"), changed.get(block.get("block_id"))
        if kind == "plain_text_input":
            values[block["block_id"]] = {action: {"type": kind, "value": value if value is not None else element.get("initial_value")}}
        elif kind == "datepicker":
            values[block["block_id"]] = {action: {"type": kind, "selected_date": value if value is not None else element.get("initial_date")}}
        elif kind == "static_select":
            chosen = {"value": value} if value is not None else element.get("initial_option")
            values[block["block_id"]] = {action: {"type": kind, "selected_option": chosen}}
        elif kind == "checkboxes":
            ticked = [{"value": "true"}] if (value == "true" if value is not None else element.get("initial_options")) else []
            values[block["block_id"]] = {action: {"type": kind, "selected_options": ticked}}
    return values


async def test_the_edit_button_opens_the_goal_filled_in_and_saves_it_for_whoever_may_change_it(workspace, fake, org):
    await org.say("ana@example.com", "goals add Cut churn to 3% due:2027-06-30")
    await workspace.press("UANA", "goal.edit", "G-1")
    (opened,) = await fake.wait_calls("views.open")
    view = opened.args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == "goal.edit" and json.loads(view["private_metadata"]) == {"goal": "G-1"}
    fields = {block["block_id"]: block["element"] for block in view["blocks"]}
    assert fields["title"]["initial_value"] == "Cut churn to 3%" and fields["due"]["initial_date"] == "2027-06-30"
    assert fields["level"]["initial_option"]["value"] == "individual"

    # A bad field is shown next to it, and nothing changes.
    status, body = await workspace.submit("UANA", "goal.edit", submitted(view, due="2027-02-30"), view["private_metadata"])
    assert json.loads(body)["errors"].keys() == {"due"}
    status, body = await workspace.submit("UANA", "goal.edit", submitted(view, title="Cut churn to 2%", private="true"),
                                          view["private_metadata"])
    assert (status, body) == (200, "")
    dm = await fake.wait_for(lambda: [c for c in fake.called("chat.postMessage") if c.args["channel"] == "UANA"])
    assert "Changed G-1: title “Cut churn to 3%” → “Cut churn to 2%”; privacy public → private" in text_of(dm[-1].args)
    edited = await goal(org.db, 1)
    assert (edited.title, edited.private, str(edited.due_date)) == ("Cut churn to 2%", True, "2027-06-30")

    # Ravi's press opens nothing (he may not change it), and a forged submission changes nothing.
    def to_ravi():
        return [c for method in ("chat.postEphemeral", "chat.postMessage") for c in fake.called(method)
                if c.args.get("user") == "URAVI" or c.args.get("channel") == "URAVI"]

    await workspace.press("URAVI", "goal.edit", "G-1")
    told = await fake.wait_for(to_ravi)
    assert "No goal G-1" in text_of(told[-1].args)  # private now, and not his to see
    await workspace.submit("URAVI", "goal.edit", submitted(view, title="Mine now"), view["private_metadata"])
    told = await fake.wait_for(lambda: to_ravi()[1:])
    assert "No goal G-1" in text_of(told[-1].args)
    assert (await goal(org.db, 1)).title == "Cut churn to 2%"
    assert len(fake.called("views.open")) == 1
