"""goalbot's real server on a free port, for tests that talk to it over HTTP like a platform does."""

from __future__ import annotations

import logging

import aiohttp
import sqlalchemy as sa
from aiohttp.test_utils import TestServer

from adapters.connections import GuardedRunner
from adapters.server import TEAMS_KEY, build, guard
from adapters.settings import Settings


class GuardedTestServer(TestServer):
    """aiohttp's test server, with the connection limits `goalbot serve` keeps."""

    def __init__(self, app, settings: Settings, **kwargs) -> None:
        super().__init__(app, **kwargs)
        self.settings = settings

    async def _make_runner(self, **kwargs):
        return GuardedRunner(self.app, guard(self.settings), **kwargs)


class Served:
    """Builds the app from `settings` on the test's database; `path` is where the platform posts."""

    path = "/"

    def __init__(self, db, settings: Settings, *, now=None) -> None:
        self.db = db
        self.settings = settings
        self.now = now  # the clock the goal map's links are checked by (None: the real one)

    async def start(self, prepare=None) -> None:
        """Build and serve the app; `prepare(self)` runs in between (to shorten a lease, say)."""
        self.app, self.slack = await build(self.settings, db=self.db, now=self.now)
        self.teams = self.app.get(TEAMS_KEY)
        if prepare is not None:
            prepare(self)
        self.server = GuardedTestServer(self.app, self.settings, host="127.0.0.1")
        await self.server.start_server()
        self.http = aiohttp.ClientSession()

    async def close(self) -> None:
        await self.http.close()
        await self.server.close()

    @property
    def url(self) -> str:
        return str(self.server.make_url(self.path))


async def count(db, model) -> int:
    """How many rows a table holds."""
    async with db.transaction(write=False) as session:
        return (await session.execute(sa.select(sa.func.count()).select_from(model))).scalar()


def no_tracebacks(caplog) -> None:
    """Nothing was logged as an error, and nothing with a traceback."""
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [f"{r.name}: {r.getMessage()}" for r in bad]
