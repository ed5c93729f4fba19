"""Many workspaces: installed through OAuth, kept in our database, forgotten on uninstall."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.checks import eventually
from tests.fake_slack import TEAM
from tests.slack_harness import SlackWorkspace, started_fake_slack, text_of


@pytest.fixture
async def oauth(db):
    fake = await started_fake_slack()
    ws = SlackWorkspace(db, fake, SLACK_CLIENT_ID="111.222", SLACK_CLIENT_SECRET="client-secret")
    ws.settings = ws.settings.model_copy(update={"slack_bot_token": None})
    await ws.start()
    yield ws
    await ws.close()
    await fake.close()


async def install(ws: SlackWorkspace, code: str = "good-code") -> tuple[int, str]:
    async with ws.http.get(str(ws.server.make_url("/slack/install")), allow_redirects=False) as response:
        page = await response.text()
        cookie = response.headers.get("Set-Cookie", "")
    assert response.status in (200, 302)
    link = re.search(r"https://slack\.com/oauth/v2/authorize\?[^\"'\s]+", page + response.headers.get("Location", ""))
    assert link, page
    state = re.search(r"state=([^&\"']+)", link.group(0)).group(1)
    assert "client_id=111.222" in link.group(0) and "users:read.email" in link.group(0)
    cookie_value = cookie.split(";")[0]
    url = str(ws.server.make_url("/slack/oauth_redirect")) + f"?code={code}&state={state}"
    async with ws.http.get(url, headers={"Cookie": cookie_value}, allow_redirects=False) as response:
        return response.status, await response.text()


async def bots(db) -> list[tuple[str, str]]:
    """The tokens kept: a bot's, and an installation's (Bolt deletes them one after the other)."""
    async with db.engine.connect() as conn:
        kept = (await conn.execute(sa.text("SELECT team_id, bot_token FROM slack_bots"))).all()
        kept += (await conn.execute(sa.text("SELECT team_id, bot_token FROM slack_installations"))).all()
    return sorted({tuple(r) for r in kept})


async def test_a_workspace_installs_uses_its_own_token_and_tenant_and_uninstalls(oauth, db):
    ws, fake = oauth, oauth.fake
    status, _ = await install(ws, code="bad-code")
    assert status >= 400 and await bots(db) == []

    status, page = await install(ws)
    assert status == 200, page
    assert await bots(db) == [(TEAM, "xoxb-installed")]

    answer = await ws.command("UANA", "add Cut churn")
    assert "Added G-1 Cut churn" in text_of(answer)  # the first person in a new workspace is its admin
    assert {c.token for c in fake.called("users.info")} == {"xoxb-installed"}
    async with db.engine.connect() as conn:
        tenants = [r[0] for r in (await conn.execute(sa.text("SELECT key FROM tenant ORDER BY id"))).all()]
    assert tenants == [f"slack:{TEAM}"]

    status, _ = await ws.event({"type": "app_uninstalled"}, "EvBye")
    assert status == 200
    await eventually(lambda: bots(db), lambda kept: kept == [], what="the workspace's tokens deleted")
    # With the tokens gone, requests from that workspace are not served.
    from tests.fake_slack import command_body

    status, _ = await ws.post(command_body("/goals", "list", "UANA", fake.response_url("after"), ws.trigger()))
    await fake.wait_for(lambda: [p for n, p in fake.responses if n == "after"], what="the reinstall notice")
    (notice,) = [p for n, p in fake.responses if n == "after"]
    assert "reinstall" in notice["text"] and "blocks" not in notice


async def test_revoked_tokens_are_deleted(oauth, db):
    status, _ = await install(oauth)
    assert status == 200 and await bots(db) == [(TEAM, "xoxb-installed")]
    revoked = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["UBOT"]}}
    assert (await oauth.event(revoked, "EvRevoked"))[0] == 200
    await eventually(lambda: bots(db), lambda kept: kept == [], what="the revoked tokens deleted")
