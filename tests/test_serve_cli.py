"""`goalbot serve` as an operator runs it: environment in, signed Slack requests over HTTP, a clean stop."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time

import aiohttp

from tests.fake_slack import BOT_TOKEN, SIGNING_SECRET, command_body, sign
from tests.fake_teams import APP_ID, TENANT, Client
from tests.slack_harness import started_fake_slack, text_of
from tests.teams_harness import PEOPLE, started_fake_connector, text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def start_serve(tmp_path, env: dict, *flags: str) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.cli", "serve", "--port", str(port), *flags,
        cwd=tmp_path, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "GOALBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'goalbot.db'}", **env},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(base + "/healthz") as response:
                    if response.status == 200:
                        return process, base
            except aiohttp.ClientError:
                await asyncio.sleep(0.2)
    process.kill()
    raise AssertionError((await process.stdout.read()).decode())


async def platforms(base: str) -> list[str]:
    async with aiohttp.ClientSession() as http:
        async with http.get(base + "/healthz") as response:
            return (await response.json())["platforms"]


async def serving_teams(tmp_path, env: dict, fake) -> tuple[asyncio.subprocess.Process, str, Client]:
    """`goalbot serve` with Teams only, and Ana's Teams client pointed at the fake connector."""
    process, base = await start_serve(tmp_path, env)
    if await platforms(base) != ["teams"]:
        print(await stop(process))
        raise AssertionError("goalbot serve should serve Teams alone here")
    return process, base, Client(PEOPLE["ana"], fake.url)


async def stop(process: asyncio.subprocess.Process) -> str:
    process.send_signal(signal.SIGTERM)
    output = (await asyncio.wait_for(process.stdout.read(), 30)).decode()
    assert await asyncio.wait_for(process.wait(), 30) == 0, output
    return output


async def test_serve_answers_signed_slack_requests_and_keeps_secrets_out_of_its_log(tmp_path):
    fake = await started_fake_slack()
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": fake.api_url}
    process, base = await start_serve(tmp_path, env)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/healthz") as response:
                assert await response.json() == {"status": "ok", "database": "ok", "platforms": ["slack"]}
            body = command_body("/goals", "add Cut churn due:2027-03-31", "UANA", fake.response_url("cli"), "9.9.cli")
            headers = {**sign(body), "Content-Type": "application/x-www-form-urlencoded"}
            async with http.post(base + "/slack/events", data=body, headers=headers) as response:
                assert response.status == 200
            async with http.post(base + "/slack/events", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}) as response:
                assert response.status == 401
        (answer,) = await fake.wait_responses(1, timeout=20)
        assert "Added G-1 Cut churn" in text_of(answer[1])  # Ana is the first person: the admin
    finally:
        output = await stop(process)
        await fake.close()
    assert "listening on http://127.0.0.1" in output
    assert BOT_TOKEN not in output and SIGNING_SECRET not in output


async def test_serve_without_credentials_serves_only_health_and_the_map(tmp_path):
    process, base = await start_serve(tmp_path, {"SLACK_BOT_TOKEN": "", "SLACK_SIGNING_SECRET": "", "SLACK_APP_TOKEN": ""})
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/healthz") as response:
                assert (await response.json())["platforms"] == []
            async with http.post(base + "/slack/events", data=b"{}") as response:
                assert response.status == 404
            async with http.get(base + "/map") as response:  # no link: how to get one
                assert response.status == 400 and "say goals map to goalbot" in await response.text()
    finally:
        output = await stop(process)
    assert "serving only the goal map (/map) and /healthz" in output


async def test_serve_in_socket_mode_takes_commands_from_the_websocket(tmp_path):
    from tests.fake_slack import TEAM

    fake = await started_fake_slack()
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": "xapp-1-cli", "SLACK_SIGNING_SECRET": "",
           "SLACK_API_URL": fake.api_url}
    process, base = await start_serve(tmp_path, env, "--socket-mode")
    try:
        await fake.wait_for(lambda: fake.socket_ready.is_set(), timeout=30, what="the websocket")
        command = {"token": "legacy", "team_id": TEAM, "channel_id": "C1", "user_id": "UANA", "command": "/goals",
                   "text": "add Cut churn", "response_url": fake.response_url("sock-cli"), "trigger_id": "5.5.cli"}
        await fake.send_envelope("slash_commands", command, "env-cli")
        (answer,) = await fake.wait_responses(1, timeout=20)
        assert "Added G-1 Cut churn" in text_of(answer[1])
        assert any(a["envelope_id"] == "env-cli" for a in fake.envelopes_acked)
    finally:
        output = await stop(process)
        await fake.close()
    assert "connected to Slack over Socket Mode" in output and "xapp-1-cli" not in output


async def test_serve_with_the_local_teams_switch_warns_and_answers_teams(tmp_path):
    fake = started_fake_connector()
    env = {"GOALBOT_TEAMS_INSECURE_LOCAL": "1", "MICROSOFT_APP_TENANT_ID": TENANT, "MICROSOFT_APP_ID": "",
           "SLACK_BOT_TOKEN": "", "SLACK_SIGNING_SECRET": "", "SLACK_APP_TOKEN": ""}
    process, base, ana = await serving_teams(tmp_path, env, fake)
    try:
        async with aiohttp.ClientSession() as http:
            for activity in (ana.install(), ana.message("add Cut churn due:2027-03-31")):
                async with http.post(base + "/api/messages", json=activity) as response:
                    assert response.status in (200, 201)
        assert await asyncio.to_thread(fake.wait_for, lambda f: len(f.sent(ana.conversation)) >= 2, 20)
        shown = [text(call) for call in fake.sent(ana.conversation)]
        assert any("Hi Ana, I'm goalbot" in line for line in shown)
        assert any("Added G-1 Cut churn" in line for line in shown)  # Ana is the first person: the admin
    finally:
        output = await stop(process)
        fake.stop()
    assert "WITHOUT checking any Bot Framework token" in output and "never use it in production" in output


async def test_serve_refuses_teams_credentials_without_a_password(tmp_path):
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.cli", "serve", "--port", str(port),
        cwd=tmp_path, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "GOALBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'goalbot.db'}",
             "MICROSOFT_APP_ID": "00000000-0000-4000-8000-000000000001", "MICROSOFT_APP_PASSWORD": ""},
    )
    output = (await asyncio.wait_for(process.stdout.read(), 60)).decode()
    assert await process.wait() != 0
    assert "MICROSOFT_APP_PASSWORD is needed" in output


async def test_socket_mode_without_its_tokens_refuses_before_listening(tmp_path):
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.cli", "serve", "--port", str(free_port()), "--socket-mode",
        cwd=tmp_path, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "GOALBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'goalbot.db'}",
             "SLACK_APP_TOKEN": "", "SLACK_BOT_TOKEN": "", "SLACK_SIGNING_SECRET": ""},
    )
    output = (await asyncio.wait_for(process.stdout.read(), 60)).decode()
    assert await process.wait() == 1
    assert "Socket Mode needs SLACK_APP_TOKEN and SLACK_BOT_TOKEN." in output
    assert "listening" not in output


async def test_serve_with_teams_credentials_refuses_unsigned_activities_and_keeps_the_password_out_of_its_log(tmp_path):
    fake = started_fake_connector()
    password = "s3cret-teams-client-secret"
    env = {"MICROSOFT_APP_ID": APP_ID, "MICROSOFT_APP_PASSWORD": password, "MICROSOFT_APP_TENANT_ID": TENANT,
           "MICROSOFT_APP_TYPE": "SingleTenant", "GOALBOT_TEAMS_OPENID_METADATA_URL": fake.metadata_url,
           "GOALBOT_TEAMS_INSECURE_LOCAL": "", "SLACK_BOT_TOKEN": "", "SLACK_SIGNING_SECRET": ""}
    process, base, ana = await serving_teams(tmp_path, env, fake)
    try:
        async with aiohttp.ClientSession() as http:
            forged = {"Authorization": "Bearer " + fake.token(fake.url, audience="someone-else")}
            for headers in ({}, forged):
                async with http.post(base + "/api/messages", json=ana.message("add Sneaky"), headers=headers) as response:
                    assert response.status == 401
        assert [c for c in fake.calls if c.path.startswith("/v3/")] == []
    finally:
        output = await stop(process)
        fake.stop()
    assert password not in output
    assert "WITHOUT checking" not in output and "refused a request to /api/messages" in output
