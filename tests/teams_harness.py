"""goalbot's real server on a free port, with Teams on, wired to a fake Bot Connector."""

from __future__ import annotations

import asyncio
import json

import pytest

from adapters.settings import Settings
from tests.served import Served
from tests.fake_teams import TENANT, Call, Client, FakeConnector, Member, card_of, card_text

PEOPLE = {
    "maya": Member("29:1maya", "a0000000-0000-4000-8000-00000000000a", "Maya Chen", "maya@example.com"),
    "omar": Member("29:1omar", "a0000000-0000-4000-8000-00000000000b", "Omar Haddad", "omar@example.com"),
    "bo": Member("29:1bo", "a0000000-0000-4000-8000-00000000000c", "Bo Larsen", "bo@example.com"),
    "ana": Member("29:1ana", "a0000000-0000-4000-8000-00000000000d", "Ana Silva", "Ana.Silva@example.com",
                  upn="ana@example.com"),
    "ravi": Member("29:1ravi", "a0000000-0000-4000-8000-00000000000e", "Ravi Patel", "ravi@example.com"),
    "lena": Member("29:1lena", "a0000000-0000-4000-8000-00000000000f", "Lena Vogel", "lena@example.com"),
    "nina": Member("29:1nina", "a0000000-0000-4000-8000-000000000010", "Nina Kowalski", "nina@example.com"),
}


@pytest.fixture
def fake():
    """A fake Bot Connector that knows the people of the test org (import this fixture to use it)."""
    connector = started_fake_connector()
    yield connector
    connector.stop()


def started_fake_connector() -> FakeConnector:
    fake = FakeConnector()
    for member in PEOPLE.values():
        fake.add_member(member)
    fake.start()
    return fake


@pytest.fixture
async def teams(db, fake, org):
    """goalbot with Teams on (the local switch), serving the test org (import this fixture, with `fake`)."""
    harness = TeamsHarness(db, fake)
    await harness.start()
    yield harness
    await harness.close()


class TeamsHarness(Served):
    """Teams clients talking to goalbot's /api/messages over HTTP."""

    path = "/api/messages"

    def __init__(self, db, fake: FakeConnector, **settings) -> None:
        options = {"GOALBOT_TEAMS_INSECURE_LOCAL": "1", "MICROSOFT_APP_TENANT_ID": TENANT, **settings}
        super().__init__(db, Settings(GOALBOT_DATABASE_URL="sqlite+aiosqlite:///unused.db", **options))
        self.fake = fake

    def client(self, name: str, **options) -> Client:
        return Client(PEOPLE[name], self.fake.url, **options)

    async def post(self, activity: dict, *, token: str | None = None, headers: dict | None = None) -> tuple[int, str]:
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        async with self.http.post(self.url, data=json.dumps(activity), headers=sent) as response:
            return response.status, await response.text()

    async def say(self, client: Client, text: str) -> list[Call]:
        """Send a message; returns what the bot posted to that conversation in answer."""
        return await self.send(client, client.message(text))

    async def send(self, client: Client, activity: dict, *, expect: int = 1) -> list[Call]:
        """POST an activity; returns the bot's replies to it (messages that answer it, not other notices)."""
        status, body = await self.post(activity)
        assert status in (200, 201), (status, body)

        def replies(fake: FakeConnector) -> list[Call]:
            return [c for c in fake.sent(client.conversation) if c.body.get("replyToId") == activity["id"]]

        if expect:
            await self.wait(lambda f: len(replies(f)) >= expect)
        return replies(self.fake)

    def notices(self, client: Client) -> list[Call]:
        """What the bot sent to a person on its own (not in answer to a message)."""
        return [c for c in self.fake.sent(client.conversation) if not c.body.get("replyToId")]

    async def wait(self, predicate, timeout: float = 10.0) -> None:
        assert await asyncio.to_thread(self.fake.wait_for, predicate, timeout), "the bot did not send what was expected"

    async def settle(self, timeout: float = 15.0) -> None:
        """Wait until the outbox has sent what is due now (its worker runs in the background)."""
        import sqlalchemy as sa

        from storage.models import OutboxMessage, utcnow

        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            async with self.db.transaction(write=False) as session:
                busy = (await session.execute(
                    sa.select(sa.func.count()).select_from(OutboxMessage).where(
                        OutboxMessage.platform == "teams",
                        sa.or_(OutboxMessage.state == "sending",
                               sa.and_(OutboxMessage.state == "pending", OutboxMessage.next_attempt_at <= utcnow())),
                    )
                )).scalar()
            if not busy:
                return
            assert asyncio.get_running_loop().time() < deadline, "the outbox did not settle"
            self.teams.turns.outbox.wake()
            await asyncio.sleep(0.05)


def text(call: Call) -> str:
    return card_text(card_of(call))
