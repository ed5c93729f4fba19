"""manifest.json asks Slack for exactly what the code answers, both ways."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from adapters.settings import Settings
from adapters.slack.app import SlackApp
from adapters.slack.oauth import BOT_SCOPES
from bot.messages import Do
from bot.dispatch import Bot

MANIFEST = json.loads((Path(__file__).resolve().parent.parent / "manifest.json").read_text())


@pytest.fixture
async def registered(db):
    settings = Settings(SLACK_CLIENT_ID="111.222", SLACK_CLIENT_SECRET="shh", SLACK_SIGNING_SECRET="secret",
                        SLACK_API_URL="http://127.0.0.1:9/api/")
    slack = SlackApp(settings, Bot(db), db)
    yield slack.registered
    await slack.close()


def test_the_manifest_is_a_complete_app_manifest():
    info = MANIFEST["display_information"]
    assert 0 < len(info["name"]) <= 35 and len(info["description"]) <= 140
    assert 175 <= len(info["long_description"]) <= 4000
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", info["background_color"])
    assert MANIFEST["features"]["bot_user"]["display_name"]
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is True
    assert MANIFEST["settings"]["socket_mode_enabled"] is False
    for command in MANIFEST["features"]["slash_commands"]:
        assert re.fullmatch(r"/[a-z0-9_-]{1,31}", command["command"])
        assert command["description"] and command["should_escape"] is True
    urls = [c["url"] for c in MANIFEST["features"]["slash_commands"]]
    urls += [MANIFEST["settings"]["event_subscriptions"]["request_url"],
             MANIFEST["settings"]["interactivity"]["request_url"],
             MANIFEST["settings"]["interactivity"]["message_menu_options_url"]]
    assert all(url.startswith("https://") and url.endswith("/slack/events") for url in urls)
    assert all(url.endswith("/slack/oauth_redirect") for url in MANIFEST["oauth_config"]["redirect_urls"])


async def test_commands_and_events_match_what_the_code_registers(registered):
    assert {c["command"] for c in MANIFEST["features"]["slash_commands"]} == registered["command"]
    assert set(MANIFEST["settings"]["event_subscriptions"]["bot_events"]) == registered["event"]


async def test_interactivity_is_on_exactly_because_the_code_has_buttons_forms_and_pickers(registered):
    assert registered["action"] == {"goal.approve", "goal.return", "checkin.open", "checkin.health", "checkin.pick",
                                    "goal.show", "person.nudge", "goal.link", "goal.edit", "map.open"}
    assert registered["view"] == {"goal.add", "goal.return", "checkin.answer", "goal.edit"}
    assert registered["options"] == {"parent"}
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True


def test_the_scopes_are_the_ones_the_install_asks_for():
    assert sorted(MANIFEST["oauth_config"]["scopes"]["bot"]) == sorted(BOT_SCOPES)


async def test_every_button_the_core_can_show_has_a_listener(registered):
    # The core names its buttons' actions; each one must reach a Slack listener.
    import ast

    core_actions = set()
    for path in (Path(__file__).resolve().parent.parent / "bot").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Button" and len(node.args) >= 2:
                action = node.args[1]
                assert isinstance(action, ast.Attribute) and getattr(action.value, "id", None) == "Do", (
                    f"{path.name}:{node.lineno}: a button names its action with bot.messages.Do")
                core_actions.add(Do[action.attr].value)
    assert core_actions == {"goal.approve", "goal.return", "checkin.open", "checkin.health", "checkin.pick", "goal.show",
                            "person.nudge", "goal.link", "goal.edit"}
    assert core_actions <= registered["action"]
