"""goalbot's real server on a free port, for tests that talk to it over HTTP like a platform does."""

from __future__ import annotations

import aiohttp
from aiohttp.test_utils import TestServer

from adapters.server import TEAMS_KEY, build
from adapters.settings import Settings


class Served:
    """Builds the app from `settings` on the test's database; `path` is where the platform posts."""

    path = "/"

    def __init__(self, db, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    async def start(self) -> None:
        self.app, self.slack = await build(self.settings, db=self.db)
        self.teams = self.app.get(TEAMS_KEY)
        self.server = TestServer(self.app, host="127.0.0.1")
        await self.server.start_server()
        self.http = aiohttp.ClientSession()

    async def close(self) -> None:
        await self.http.close()
        await self.server.close()

    @property
    def url(self) -> str:
        return str(self.server.make_url(self.path))
