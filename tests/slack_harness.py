"""goalbot's real server, on a free port, wired to a fake Slack; requests signed as Slack signs them."""

from __future__ import annotations

import json
import time

import pytest

from adapters.settings import Settings
from tests.served import Served
from tests.fake_slack import BOT_TOKEN, SIGNING_SECRET, TEAM, FakeSlack, command_body, event_body, interaction_body, sign

PEOPLE = {
    "UMAYA": ("maya@example.com", "Maya Chen"),
    "UOMAR": ("omar@example.com", "Omar Haddad"),
    "UBO": ("bo@example.com", "Bo Larsen"),
    "UANA": ("ana@example.com", "Ana Silva"),
    "URAVI": ("ravi@example.com", "Ravi Patel"),
    "ULENA": ("lena@example.com", "Lena Vogel"),
    "UNINA": ("nina@example.com", "Nina Kowalski"),
}


@pytest.fixture
async def fake():
    """A fake Slack serving on a free port (import this fixture to use it)."""
    slack = await started_fake_slack()
    yield slack
    await slack.close()


async def started_fake_slack() -> FakeSlack:
    """A fake Slack that knows the people of the test org, serving on a free port."""
    fake = FakeSlack()
    for user_id, (email, name) in PEOPLE.items():
        fake.add_user(user_id, email, name)
    await fake.start()
    return fake


class SlackWorkspace(Served):
    """A Slack workspace talking to goalbot over HTTP."""

    path = "/slack/events"

    def __init__(self, db, fake: FakeSlack, **settings) -> None:
        super().__init__(db, Settings(
            SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=fake.api_url,
            GOALBOT_DATABASE_URL="sqlite+aiosqlite:///unused.db", **settings,
        ))
        self.fake = fake
        self._triggers = 0

    def trigger(self) -> str:
        self._triggers += 1
        return f"{self._triggers}.{int(time.time() * 1000)}.abc{self._triggers}"

    async def post(self, body: bytes, headers: dict | None = None, content_type: str = "application/x-www-form-urlencoded"):
        headers = sign(body) if headers is None else headers
        async with self.http.post(self.url, data=body, headers={**headers, "Content-Type": content_type}) as response:
            return response.status, await response.text()

    async def command(self, user: str, text: str, command: str = "/goals") -> dict:
        """Run a slash command; returns what the bot posted to the response URL."""
        before = len(self.fake.responses)
        name = f"r{before + 1}-{self._triggers}"
        status, _ = await self.post(command_body(command, text, user, self.fake.response_url(name), self.trigger()))
        assert status == 200
        await self.fake.wait_for(lambda: any(n == name for n, _ in self.fake.responses), what=f"the answer to {text}")
        return next(payload for n, payload in self.fake.responses if n == name)

    async def interact(self, payload: dict) -> tuple[int, str]:
        payload.setdefault("team", {"id": TEAM, "domain": "goals"})
        payload.setdefault("api_app_id", "A0GOALS")
        payload.setdefault("trigger_id", self.trigger())
        return await self.post(interaction_body(payload))

    async def press(self, user: str, action_id: str, value: str, message: dict | None = None, container: dict | None = None):
        payload = {
            "type": "block_actions", "user": {"id": user, "team_id": TEAM},
            "actions": [{"type": "button", "action_id": action_id, "block_id": "b1", "value": value,
                         "action_ts": str(time.time())}],
            "container": container or {"type": "message", "message_ts": "1700000000.000001", "channel_id": "D1",
                                       "is_ephemeral": False},
            "channel": {"id": (container or {}).get("channel_id", "D1")},
        }
        if message is not None:
            payload["message"] = message
            payload["response_url"] = self.fake.response_url(f"press-{self._triggers}")
        return await self.interact(payload)

    async def submit(self, user: str, callback_id: str, values: dict, metadata: str = "{}"):
        payload = {
            "type": "view_submission", "user": {"id": user, "team_id": TEAM},
            "view": {"id": f"V{self._triggers}", "hash": f"h{self._triggers}", "type": "modal",
                     "callback_id": callback_id, "private_metadata": metadata, "state": {"values": values}},
        }
        return await self.interact(payload)

    async def event(self, event: dict, event_id: str, retry: int | None = None):
        body = event_body(event, event_id)
        headers = sign(body)
        if retry is not None:
            headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"})
        return await self.post(body, headers, content_type="application/json")


def text_of(payload: dict) -> str:
    """Every string in a Block Kit payload, for looking at what a person would read."""
    return json.dumps(payload.get("blocks", payload), ensure_ascii=False)
