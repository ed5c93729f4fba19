"""Connections to `goalbot serve`: a slow or greedy client cannot hold the server.

aiohttp waits as long as a client likes for a request's headers. Here a
connection whose request headers are not all in within `header_timeout` seconds
is closed, and one client address may hold at most `per_client` connections at
once. A request body has its own deadline where the doors read it
(adapters/bodies.py). Genuine traffic sends its headers in one go and is never
near either limit.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger("goalbot.connections")
HEADER_TIMEOUT = 10.0
PER_CLIENT = 128


class Guard:
    """The limits, and how many connections each client address holds now."""

    def __init__(self, header_timeout: float = HEADER_TIMEOUT, per_client: int = PER_CLIENT) -> None:
        self.header_timeout = header_timeout
        self.per_client = per_client
        self.open: Counter[str] = Counter()

    def admit(self, peer: str) -> bool:
        if self.open[peer] >= self.per_client:
            return False
        self.open[peer] += 1
        return True

    def release(self, peer: str) -> None:
        self.open[peer] -= 1
        if self.open[peer] <= 0:
            del self.open[peer]


class GuardedHandler(RequestHandler):
    """aiohttp's protocol for one connection, with a deadline for request headers and a per-client cap."""

    __slots__ = ("_guard", "_peer", "_header_timer", "_due")

    def __init__(self, manager: web.Server, guard: Guard, **kwargs) -> None:
        super().__init__(manager, **kwargs)
        self._guard = guard
        self._peer: str | None = None
        self._header_timer: asyncio.TimerHandle | None = None
        self._due = 0.0  # when the armed deadline falls, on the loop's clock

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        if not self._guard.admit(address):
            log.warning("refused a connection from %s: it holds %d already", address, self._guard.per_client)
            self.force_close()
            return
        self._peer = address
        self._arm()  # a client that connects and sends nothing is closed too

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._current_request is None and not self._messages:
            self._arm()  # part of a request head: it must be complete in time
        elif self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        if self._peer is not None:
            self._guard.release(self._peer)
            self._peer = None
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._header_timer is None and self._guard.header_timeout > 0:
            self._due = self._loop.time() + self._guard.header_timeout
            self._header_timer = self._loop.call_later(self._guard.header_timeout, self._too_slow)

    def _too_slow(self) -> None:
        self._header_timer = None
        late = self._loop.time() - self._due
        if late > self._guard.header_timeout / 2:
            # The server was busy, not the client: what it sent may be waiting unread. It gets its time again.
            self._arm()
            return
        if self._current_request is None and not self._messages and self.transport is not None:
            log.warning("closed a connection from %s: no complete request within %.0f s", self._peer,
                        self._guard.header_timeout)
            self.force_close()


class GuardedServer:
    """aiohttp's web.Server, making GuardedHandlers for new connections (everything else is the server's)."""

    def __init__(self, server: web.Server, guard: Guard) -> None:
        self._server = server
        self._guard = guard

    def __call__(self) -> GuardedHandler:
        return GuardedHandler(self._server, self._guard, loop=self._server._loop, **self._server._kwargs)

    def __getattr__(self, name: str):
        return getattr(self._server, name)


class GuardedRunner(web.AppRunner):
    """An AppRunner whose connections are guarded."""

    def __init__(self, app: web.Application, guard: Guard, **kwargs) -> None:
        super().__init__(app, **kwargs)
        self.guard = guard

    async def _make_server(self):  # type: ignore[override]
        return GuardedServer(await super()._make_server(), self.guard)
