"""The Slack door under real traffic, over raw sockets: genuine signed requests are accepted however the
network delivers them; malformed ones get a 4xx, one warning line and no traceback, and change nothing."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest
import sqlalchemy as sa

from storage.models import Goal, InboundDelivery
from tests import raw_http
from tests.fake_slack import TEAM, command_body, event_body, interaction_body, sign
from tests.checks import eventually
from tests.served import count, no_tracebacks
from tests.slack_harness import SlackWorkspace, fake, text_of  # noqa: F401 - fake is a fixture


@pytest.fixture
async def workspace(org, fake):
    ws = SlackWorkspace(org.db, fake, GOALBOT_HEADER_TIMEOUT="0.6", GOALBOT_BODY_TIMEOUT="0.6",
                        GOALBOT_CONNECTIONS_PER_CLIENT="20")
    await ws.start()
    yield ws
    await ws.close()


def signed(body: bytes, content_type: str) -> dict[str, str]:
    return {**sign(body), "Content-Type": content_type}


async def test_a_signed_command_in_two_writes_50_ms_apart_is_accepted(workspace, fake):
    body = command_body("/goals", "add Cut churn to 3%", "UANA", fake.response_url("split"), "1.2.split")
    head, payload = raw_http.request_bytes(workspace.url, body, signed(body, "application/x-www-form-urlencoded"))
    half = len(payload) // 2
    status, _ = await raw_http.send(workspace.url, [head + payload[:half], payload[half:]], pause=0.05)
    assert status == 200
    (answer,) = await fake.wait_responses(1)
    assert "Proposed G-1 Cut churn to 3%" in text_of(answer[1])


@pytest.mark.parametrize("size", [200_000, 400_000, 500_000])
async def test_large_signed_bodies_in_many_pieces_are_accepted_every_time(workspace, fake, size):
    for attempt in range(3):
        # A direct message far longer than any command: verified, then answered with a short line.
        event = {"type": "message", "channel_type": "im", "channel": "DANA", "user": "UANA", "ts": f"{attempt}.1",
                 "text": "goals " + "x" * size}
        body = event_body(event, f"Ev{size}{attempt}")
        head, payload = raw_http.request_bytes(workspace.url, body, signed(body, "application/json"))
        status, answer = await raw_http.send(workspace.url, [head, *raw_http.chunks(payload, 65_536)], pause=0.005)
        assert status == 200, answer
    posted = await fake.wait_for(lambda: [c for c in fake.called("chat.postMessage") if c.args["channel"] == "DANA"]
                                 if len(fake.called("chat.postMessage")) >= 3 else None)
    for call in posted:
        blocks = call.args["blocks"]
        blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
        assert len(blocks) == 1 and len(text_of(call.args)) < 400  # the echo is a short excerpt
        assert "I don't know the command `xxxx" in text_of(call.args)


async def test_a_body_over_the_cap_is_refused_with_413(workspace):
    body = event_body({"type": "message", "text": "x" * 600_000}, "EvBig")
    status, _ = await raw_http.send(workspace.url, [b"".join(raw_http.request_bytes(
        workspace.url, body, signed(body, "application/json")))])
    assert status == 413


FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
DEEP = "[" * 5000 + "]" * 5000
COMMAND = dict(token="legacy", team_id=TEAM, channel_id="C1", user_id="UANA", command="/goals", text="add Cut churn",
               response_url="http://127.0.0.1:1/r", trigger_id="9.9.9")


def form(**fields) -> bytes:
    from urllib.parse import urlencode

    return urlencode(fields).encode()


def event(**fields) -> bytes:
    return json.dumps({"token": "legacy", "team_id": TEAM, "api_app_id": "A0GOALS", "type": "event_callback",
                       "event_id": "EvBad", **fields}).encode()


MALFORMED = {
    "a JSON array": (b"[]", JSON, 400),
    "JSON null": (b"null", JSON, 400),
    "a JSON number": (b"123", JSON, 400),
    "not JSON": (b"{not json", JSON, 400),
    "JSON nested 5,000 deep": (DEEP.encode(), JSON, 400),
    "an object nested 1,000 deep": (('{"a":' * 1000 + "1" + "}" * 1000).encode(), JSON, 400),
    "a payload that is not JSON": (form(payload="{nope"), FORM, 400),
    "a payload that is a list": (form(payload="[1, 2]"), FORM, 400),
    "a payload nested 5,000 deep": (form(payload=DEEP), FORM, 400),
    "an event that is a string": (event(event="x"), JSON, 400),
    "an event callback without an event": (event(), JSON, 400),
    "an event whose user is a number": (event(event={"type": "message", "user": 5}), JSON, 400),
    "authorizations that are not a list": (event(event={"type": "message"}, authorizations="x"), JSON, 400),
    "a view that is null": (form(payload=json.dumps({"type": "view_submission", "user": {"id": "UANA"},
                                                     "view": None, "trigger_id": "1"})), FORM, 400),
    "a view without state": (form(payload=json.dumps({"type": "view_submission", "user": {"id": "UANA"},
                                                      "view": {"callback_id": "goal.add"}})), FORM, 400),
    "a button press without a user": (form(payload=json.dumps({"type": "block_actions", "trigger_id": "1",
                                                               "actions": [{"action_id": "goal.approve"}]})), FORM, 400),
    "a button whose value is a number": (form(payload=json.dumps({
        "type": "block_actions", "user": {"id": "UANA"}, "trigger_id": "1",
        "actions": [{"action_id": "goal.approve", "value": 7}]})), FORM, 400),
    "actions that are a string": (form(payload=json.dumps({"type": "block_actions", "user": {"id": "UANA"},
                                                           "trigger_id": "1", "actions": "x"})), FORM, 400),
    "a form body sent as JSON": (form(**COMMAND), JSON, 400),
    "a slash command without user_id": (form(**{k: v for k, v in COMMAND.items() if k != "user_id"}), FORM, 400),
    "a slash command without trigger_id": (form(**{k: v for k, v in COMMAND.items() if k != "trigger_id"}), FORM, 400),
    "a body that is not UTF-8": (b"\xff\xfe\x00garbage", FORM, 400),
    "an unexpected content type": (b"hello", "text/plain", 415),
    "a thousand form fields": ("&".join(f"f{i}=1" for i in range(1000)).encode(), FORM, 400),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_a_malformed_signed_body_gets_a_4xx_one_warning_and_changes_nothing(workspace, fake, org, caplog, case):
    body, content_type, expected = MALFORMED[case]
    caplog.set_level(logging.INFO)
    status, answer = await raw_http.send(workspace.url, [b"".join(raw_http.request_bytes(
        workspace.url, body, signed(body, content_type)))])
    assert status == expected, answer
    await asyncio.sleep(0.2)  # anything it might have started would have started by now
    no_tracebacks(caplog)
    assert any(r.levelno == logging.WARNING and r.name == "goalbot.door" for r in caplog.records)
    assert fake.calls == [] and await count(org.db, InboundDelivery) == 0 and await count(org.db, Goal) == 0


@pytest.mark.parametrize("case", ["a JSON array", "JSON nested 5,000 deep", "an event that is a string"])
async def test_an_unsigned_malformed_body_is_refused_before_it_is_read(workspace, fake, caplog, case):
    body, content_type, _ = MALFORMED[case]
    status, _ = await raw_http.send(workspace.url, [b"".join(raw_http.request_bytes(
        workspace.url, body, {"Content-Type": content_type}))])
    assert status == 401
    no_tracebacks(caplog)
    assert fake.calls == []


async def test_a_direct_message_event_without_a_user_is_ignored_with_200(workspace, fake, org, caplog):
    caplog.set_level(logging.INFO)
    body = event_body({"type": "message", "channel_type": "im", "channel": "DANA", "text": "goals add X", "ts": "1.1"},
                      "EvNoUser")
    status, _ = await workspace.post(body, content_type="application/json")
    assert status == 200
    await asyncio.sleep(0.3)
    no_tracebacks(caplog)
    assert "without a user" in caplog.text
    assert fake.called("chat.postMessage") == [] and await count(org.db, Goal) == 0


async def test_a_slash_command_mentioning_the_word_payload_is_run_as_typed(workspace, fake):
    answer = await workspace.command("UANA", "add Migrate the payload store")
    assert "Proposed G-1 Migrate the payload store" in text_of(answer)


async def test_a_slack_user_that_does_not_exist_gets_one_line_and_is_not_retried(workspace, fake, org, caplog):
    caplog.set_level(logging.INFO)
    status, _ = await workspace.post(command_body("/goals", "list", "UGHOST", fake.response_url("ghost"), "5.5.ghost"))
    assert status == 200
    (answer,) = await fake.wait_responses(1)
    assert "Slack does not know this user" in text_of(answer[1])
    no_tracebacks(caplog)
    assert len(fake.called("users.info")) == 1
    async def delivery():
        async with org.db.transaction(write=False) as session:
            return (await session.execute(sa.select(InboundDelivery))).scalar_one()

    # The answer went out; the delivery is marked done right after.
    row = await eventually(delivery, lambda row: row.done_at is not None, what="the delivery marked done")
    assert row.payload is None
    assert await workspace.slack.turns.recover() == 0


async def test_headers_trickled_byte_by_byte_are_cut_off(workspace, caplog):
    held = await raw_http.held_open(workspace.url, b"POST /slack/events HTTP/1.1\r\nHost: x\r\nX-Slow: ",
                                    every=0.1, limit=10)
    assert held < 3
    assert "no complete request" in caplog.text


async def test_a_connection_that_sends_nothing_is_closed(workspace):
    held = await raw_http.held_open(workspace.url, b"", every=5, limit=10)
    assert held < 3


async def test_a_body_trickled_byte_by_byte_is_cut_off_with_408(workspace):
    status, took = await raw_http.trickled(workspace.url, "/slack/events")
    assert status in (0, 408) and took < 5


async def test_one_client_cannot_hold_more_than_its_share_of_connections(workspace, fake):
    host, port = workspace.server.host, workspace.server.port
    opened = [await asyncio.open_connection(host, port) for _ in range(20)]
    try:
        reader, writer = await asyncio.open_connection(host, port)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed at once
        writer.close()
    finally:
        for _, writer in opened:
            writer.close()
    await asyncio.sleep(0.1)
    # Once they are gone, the same client is served again.
    answer = await workspace.command("UANA", "help")
    assert "goals add" in text_of(answer)


async def test_genuine_requests_at_the_same_time_are_all_served(workspace, fake):
    bodies = [command_body("/goals", "list mine", "UANA", fake.response_url(f"c{i}"), f"{i}.{time.time()}.c")
              for i in range(15)]
    results = await asyncio.gather(*(workspace.post(body) for body in bodies))
    assert [status for status, _ in results] == [200] * 15
    await fake.wait_responses(15)


async def test_a_signed_interaction_that_is_well_formed_still_works(workspace, fake):
    # The shape check lets through what Slack really sends: a button press, as Bolt's fixtures have it.
    await workspace.command("UANA", "add Cut churn")
    await fake.wait_calls("chat.postMessage")
    payload = {"type": "block_actions", "user": {"id": "UBO", "username": "bo", "team_id": TEAM},
               "api_app_id": "A0GOALS", "token": "legacy", "container": {"type": "message", "message_ts": "1.2",
                                                                            "channel_id": "DBO", "is_ephemeral": False},
               "trigger_id": "12.34.ab", "team": {"id": TEAM, "domain": "goals"}, "enterprise": None,
               "is_enterprise_install": False, "channel": {"id": "DBO", "name": "directmessage"},
               "message": {"type": "message", "text": "x", "ts": "1.2"}, "state": {"values": {}},
               "response_url": fake.response_url("press"),
               "actions": [{"action_id": "goal.approve", "block_id": "b1", "text": {"type": "plain_text", "text": "Approve"},
                            "value": "G-1", "type": "button", "action_ts": "1.3"}]}
    status, _ = await workspace.post(interaction_body(payload))
    assert status == 200
    await fake.wait_calls("chat.update")
