"""Starting and stopping the server at once, again and again, leaves no database work cut off mid-way."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestServer

from adapters.server import build
from adapters.settings import Settings
from tests.fake_slack import BOT_TOKEN, SIGNING_SECRET


async def test_the_server_stops_cleanly_right_after_starting(db):
    settings = Settings(
        GOALBOT_DATABASE_URL="sqlite+aiosqlite:///unused.db", GOALBOT_TEAMS_INSECURE_LOCAL="1",
        SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL="http://127.0.0.1:9/api/",
    )
    for cycle in range(15):
        app, _ = await build(settings, db=db)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        await asyncio.sleep(0.001 * cycle)  # stop at a different point of the first rounds each time
        await asyncio.wait_for(server.close(), 20)
    # Every loop stopped between transactions: the database answers a write at once.
    async with asyncio.timeout(10):
        async with db.transaction(write=True) as session:
            from storage.models import InboundDelivery

            session.add(InboundDelivery(platform="teams", delivery_key="after-the-cycles"))
