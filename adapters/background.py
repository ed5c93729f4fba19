"""Work that goes on after a request has its answer: kept until it ends, logged if it fails, awaited on shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine

log = logging.getLogger("goalbot.background")


class Background:
    def __init__(self, what: str) -> None:
        self.what = what
        self._tasks: set[asyncio.Task] = set()

    def spawn(self, work: Coroutine) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed after its answer", self.what, exc_info=task.exception())

    async def drain(self, timeout: float) -> None:
        """Let the work already started finish, for at most `timeout` seconds."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    def __len__(self) -> int:
        return len(self._tasks)
