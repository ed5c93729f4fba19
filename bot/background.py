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
        """Start the work now; it is kept until it ends, and a failure is logged."""
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


class Loops:
    """Loops that run while the server does and stop between rounds when asked, so none is cut off in
    the middle of a database transaction (which, on PostgreSQL, can leave its locks held)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.stopping = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._on_stop: list = []

    def start(self, *jobs: Coroutine, on_stop=()) -> None:
        """Run the jobs until `stop`; `on_stop` callbacks tell them to finish their round."""
        self.stopping.clear()
        loop = asyncio.get_running_loop()
        self._tasks.update(loop.create_task(job) for job in jobs)
        self._on_stop = list(on_stop)

    async def pause(self, seconds: float) -> None:
        """Sleep between rounds; returns at once when the loops are stopping."""
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except TimeoutError:
            pass

    async def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        for callback in self._on_stop:
            callback()
        if self._tasks:
            _, late = await asyncio.wait(list(self._tasks), timeout=timeout)
            for task in late:
                log.warning("%s: a loop did not stop within %.0f s; cancelling it", self.what, timeout)
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
