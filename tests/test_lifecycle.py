"""Starting and stopping the server at once, again and again, leaves no database work cut off mid-way."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp.test_utils import TestServer

from adapters.server import build
from adapters.settings import Settings
from sqlmodel import select

from storage.models import InboundDelivery
from tests.fake_slack import BOT_TOKEN, SIGNING_SECRET


ROOT = Path(__file__).resolve().parent.parent


def our_tasks() -> list[asyncio.Task]:
    """Running tasks whose coroutine is goalbot's own (bot/ or adapters/)."""
    found = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if task is not asyncio.current_task() and not task.done() and code is not None:
            if Path(code.co_filename).is_relative_to(ROOT / "bot") or Path(code.co_filename).is_relative_to(ROOT / "adapters"):
                found.append(task)
    return found


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
        assert our_tasks()  # the outboxes and housekeeping are running
        await asyncio.wait_for(server.close(), 20)
    # Every loop stopped between transactions: the database answers a write at once, and no loop
    # of the fifteen servers is still running.
    async with asyncio.timeout(10):
        async with db.transaction(write=True) as session:
            session.add(InboundDelivery(platform="teams", delivery_key="after-the-cycles"))
    async with db.transaction(write=False) as session:
        keys = (await session.execute(select(InboundDelivery.delivery_key))).scalars().all()
    assert keys == ["after-the-cycles"]
    assert our_tasks() == []
