"""The same Slack app over Socket Mode: envelopes from a local websocket, acknowledged by id."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from adapters.server import build, connect_socket_mode
from adapters.settings import Settings
from tests.fake_slack import BOT_TOKEN, TEAM
from tests.slack_harness import started_fake_slack, text_of


@pytest.fixture
async def socket_slack(org):
    fake = await started_fake_slack()
    settings = Settings(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN="xapp-1-test", SLACK_API_URL=fake.api_url)
    app, slack = await build(settings, socket_mode=True, db=org.db)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    handler = await connect_socket_mode(slack, settings)
    await fake.wait_for(lambda: fake.socket_ready.is_set(), what="the websocket")
    yield fake, server
    await handler.close_async()
    await server.close()
    await fake.close()


async def test_socket_mode_runs_commands_and_ignores_repeated_events(socket_slack, org):
    fake, server = socket_slack
    # No /slack/events over HTTP in Socket Mode: nothing to sign, nothing to forge.
    async with aiohttp.ClientSession() as http:
        async with http.post(str(server.make_url("/slack/events")), data=b"x") as response:
            assert response.status == 404
    (opened,) = fake.called("apps.connections.open")
    assert opened.token == "xapp-1-test"

    command = {"token": "legacy", "team_id": TEAM, "channel_id": "C1", "user_id": "UANA", "command": "/goals",
               "text": "add Cut churn", "response_url": fake.response_url("sock"), "trigger_id": "1.2.sock",
               "api_app_id": "A0GOALS"}
    await fake.send_envelope("slash_commands", command, "env-1")
    await fake.wait_for(lambda: any(a["envelope_id"] == "env-1" for a in fake.envelopes_acked), what="the ack")
    (answer,) = await fake.wait_responses(1)
    assert "Proposed G-1 Cut churn" in text_of(answer[1])
    await fake.wait_calls("chat.postMessage")  # Bo's approval request
    # Ana's Home tab is redrawn after her change; wait for that before counting.
    await fake.wait_for(lambda: [c for c in fake.called("views.publish") if c.args["user_id"] == "UANA"])

    event = {"token": "legacy", "team_id": TEAM, "api_app_id": "A0GOALS", "type": "event_callback",
             "event_id": "EvSock1", "event_time": 1,
             "event": {"type": "app_home_opened", "user": "UANA", "channel": "DANA", "tab": "home"}}
    before = len([c for c in fake.called("views.publish") if c.args["user_id"] == "UANA"])
    await fake.send_envelope("events_api", event, "env-2")
    await fake.send_envelope("events_api", event, "env-3")  # Slack retrying the same event
    await fake.wait_for(lambda: {"env-2", "env-3"} <= {a["envelope_id"] for a in fake.envelopes_acked}, what="acks")
    await fake.wait_for(lambda: len([c for c in fake.called("views.publish") if c.args["user_id"] == "UANA"]) > before)
    await fake.send_envelope("slash_commands", {**command, "text": "help", "trigger_id": "1.3.sock",
                                                "response_url": fake.response_url("sock2")}, "env-4")
    await fake.wait_responses(2)
    assert len([c for c in fake.called("views.publish") if c.args["user_id"] == "UANA"]) == before + 1
