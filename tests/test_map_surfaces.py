"""A link to the goal map from every surface: Slack's slash command and Home tab, a Teams message and the app's
own tab, `goals show` and the weekly digest; each opens the right map for the person it was given to."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from adapters.cli import main
from adapters.teams import cards
from bot.clock import run_round
from bot.maps import MapLinks
from bot.messages import Link, Reply, reply_from_dict
from storage.models import OutboxMessage, Person
from tests.fake_teams import card_of
from tests.slack_harness import fake  # noqa: F401 - a fixture
from tests.test_slack import workspace  # noqa: F401 - a fixture: goalbot with Slack on, over HTTP
from tests.teams_harness import TeamsHarness, started_fake_connector
from tests.test_digest import NEXT
from tests.test_alignment import build

APP_ID = "6a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"


def token_in(url: str) -> str:
    return parse_qs(urlsplit(url).query)["t"][0]


async def opened(served, url: str) -> str:
    """The page a map link opens on the served goalbot (links name GOALBOT_PUBLIC_URL, here the default)."""
    assert url.startswith("http://127.0.0.1:3000/map?t="), url
    async with served.http.get(served.server.make_url("/map"), params={"t": token_in(url)}) as response:
        assert response.status == 200
        return await response.text()


def slack_link_buttons(blocks: list[dict]) -> list[dict]:
    return [element for block in blocks if block["type"] == "actions" for element in block["elements"]
            if "url" in element]


@pytest.fixture
def connector():
    """A fake Bot Connector for the Teams test (the Slack tests here use the fake Slack, `fake`)."""
    found = started_fake_connector()
    yield found
    found.stop()


async def test_slack_slash_command_and_home_tab_give_a_link_button_to_the_persons_map(workspace, fake, org):
    await org.say("maya@example.com", "goals add Grow revenue 20% level:company")
    await org.say("ana@example.com", "goals add Ship billing parent:G-1")
    answer = await workspace.command("UANA", "map")
    [button] = slack_link_buttons(answer["blocks"])
    assert button["text"]["text"] == "Open the goal map" and button["action_id"] == "map.open"
    page = await opened(workspace, button["url"])
    assert "Shown to Ana Silva" in page and "Ship billing" in page
    # Slack reports the press of a link button too; it is acknowledged and changes nothing.
    status, _ = await workspace.press("UANA", "map.open", "")
    assert status == 200

    before = len(fake.called("views.publish"))
    await workspace.event({"type": "app_home_opened", "user": "UBO", "channel": "DBO", "tab": "home"}, "EvMapHome")
    published = await fake.wait_for(lambda: [c for c in fake.called("views.publish")[before:] if c.args["user_id"] == "UBO"])
    [button] = slack_link_buttons(json.loads(published[-1].args["view"])["blocks"]
                                  if isinstance(published[-1].args["view"], str) else published[-1].args["view"]["blocks"])
    page = await opened(workspace, button["url"])
    assert "Shown to Bo Larsen" in page and "The goal map of Company" in page

    answer = await workspace.command("UANA", "show G-2")
    [button] = slack_link_buttons(answer["blocks"])
    assert button["text"]["text"] == "Open it on the goal map"
    page = await opened(workspace, button["url"])
    assert "G-2 Ship billing and the goals that support it" in page


async def test_teams_gives_the_link_as_a_button_and_a_deep_link_into_the_apps_tab(org, connector):
    harness = TeamsHarness(org.db, connector)
    await harness.start()
    try:
        [reply] = await harness.say(harness.client("ana"), "goals map mine")
        actions = [action for element in card_of(reply)["body"] if element["type"] == "ActionSet"
                   for action in element["actions"]]
        # Without a Teams app id (the local switch) there is no app tab to open: the browser link alone.
        [action] = actions
        assert action["type"] == "Action.OpenUrl" and action["title"] == "Open my goals"
        page = await opened(harness, action["url"])
        assert "<h1>My goals</h1>" in page and "Ana Silva&#39;s goals" in page
    finally:
        await harness.close()

    # With the app's id, the first button opens the app's own tab with the link's token as its context.
    link = Link("Open my goals", "https://goals.example.com/map?t=abc.def", "abc.def")
    [element] = cards.render(Reply(blocks=(link,)), app_id=APP_ID.upper())["body"]
    tab, browser = element["actions"]
    parts = urlsplit(tab["url"])
    assert parts.netloc == "teams.microsoft.com" and parts.path == f"/l/entity/{APP_ID}/goalmap"
    query = parse_qs(parts.query)
    assert json.loads(query["context"][0]) == {"subEntityId": "abc.def"}
    assert query["webUrl"] == ["https://goals.example.com/map?t=abc.def"] and query["label"] == ["Open my goals"]
    assert browser == {"type": "Action.OpenUrl", "title": "Open in the browser", "url": link.url}


def test_the_teams_package_declares_the_map_tab_on_goalbots_host(tmp_path):
    out = tmp_path / "goalbot-teams.zip"
    result = CliRunner().invoke(main, ["teams", "package", "--app-id", APP_ID, "--host", "https://goals.example.com/bot",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(out.read_bytes())).read("manifest.json"))
    [tab] = manifest["staticTabs"]
    assert tab == {
        "entityId": "goalmap", "name": "My goals", "scopes": ["personal"],
        "contentUrl": "https://goals.example.com/bot/map/tab?t={page.subPageId}&t1={subEntityId}",
        "websiteUrl": "https://goals.example.com/bot/map",
    }
    assert manifest["validDomains"] == ["goals.example.com"]
    assert tab["entityId"] == cards.MAP_TAB  # the deep links name the same tab


async def test_the_weekly_digest_links_to_the_map_of_the_managers_team_for_a_day(org):
    await build(org)
    base = "https://goals.example.com"
    at = NEXT + timedelta(hours=8, minutes=30)
    assert (await run_round(org.db, at, links=MapLinks(base))).digests == 3
    async with org.db.transaction(write=False) as session:
        from sqlmodel import select

        row = (await session.execute(select(OutboxMessage).join(Person, Person.id == OutboxMessage.person_id)
                                     .where(OutboxMessage.kind == "digest", Person.email == "bo@example.com",
                                            OutboxMessage.dedupe_key.like("%:2027-03-15")))).scalar_one()
    [link] = [block for block in reply_from_dict(row.body).blocks if isinstance(block, Link)]
    assert link.label == "Open your team's map" and link.url.startswith(base + "/map?t=") and link.tab
    # It opens Bo's team's map for a day, and nothing after. The round ran for a later instant than the
    # real one (as `goalbot tick --now` may): the day counts from now, so no link outlives a day.
    wall = datetime.now(UTC)
    assert at > wall + timedelta(days=1)
    page = await org.bot.open_map(link.tab, wall + timedelta(hours=23))
    assert page.map.title == "Your team's goals" and page.map.viewer == "Bo Larsen"
    from bot.maps import LinkRefused

    with pytest.raises(LinkRefused) as refused:
        await org.bot.open_map(link.tab, wall + timedelta(hours=24, minutes=1))
    assert refused.value.reason == "expired"
    # His team's goals: his unit's, Ana's and Ravi's (Ravi's private one too: Bo is his manager); not Nina's
    # or the company's and the department's above them.
    numbers = {node.number for root in page.map.roots for node in walk(root)}
    assert {3, 4, 5, 6, 7, 8} <= numbers and not numbers & {1, 2, 9}


def walk(node):
    yield node
    for child in node.children:
        yield from walk(child)


async def test_a_link_made_now_is_refused_at_an_instant_in_another_zone_as_the_same_moment(org):
    # Instants are compared as instants: an expiry in UTC holds the same in New York's winter or summer time.
    from zoneinfo import ZoneInfo

    made = await org.say("ana@example.com", "goals map")
    token = token_in(made.split("Open the goal map: ")[1].strip())
    new_york = ZoneInfo("America/New_York")
    now = datetime.now(UTC)
    assert (await org.bot.open_map(token, (now + timedelta(minutes=59)).astimezone(new_york))).map.viewer == "Ana Silva"
    from bot.maps import LinkRefused

    with pytest.raises(LinkRefused):
        await org.bot.open_map(token, (now + timedelta(minutes=61)).astimezone(new_york))
