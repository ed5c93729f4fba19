"""One pipeline for every inbound turn, on every platform; and what an adapter provides to use it.

The adapter contract
--------------------
A platform is one folder under `adapters/` that does four things and nothing else:

1. **Verify** each inbound request (signature, token) before reading anything from it.
2. **Translate** it to the neutral model of `bot.messages`: the verified `Actor`
   and an `Inbound` (`IncomingMessage`, `Action` or `Dashboard`), with the
   `Address` it came from.
3. **Render** the core's `Reply` in the platform's format, escaping every string.
4. **Deliver**: answer the request, and supply an `outbox.Sender` (send a rendered
   reply to an address, update a message in place, report a typed `Failure`).

It hands each request to `Turns.take` with the request's delivery key, the payload
to keep and a coroutine that translates it. In return the core records the
delivery (a retry or replay of it does nothing twice), keeps its payload until the
work is done (a request cut short by a crash is handed back to the adapter's
`replay` with the kept payload, through the same entry), runs the command in one
transaction that also marks the delivery done, delivers the outbox through the
sender, and says what changed (`Outcome`). No adapter runs SQL of its own (Slack's OAuth
installations are kept by slack_sdk's own stores, on the same engine). The console,
which has no platform deliveries to record and no one to send to on its own, calls
`Bot.handle` directly and renders the reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta

from bot.background import Background, Loops
from bot.dispatch import Bot
from bot.errors import UserError
from bot.inbox import Inbox, housekeeping
from bot.messages import Inbound, Reply
from bot.outbox import Outbox, Sender, Target

log = logging.getLogger("goalbot.turns")


@dataclass(frozen=True)
class Outcome:
    """What one inbound turn came to."""

    reply: Reply | None = None  # None: nothing to answer (a repeat, or the adapter answered itself)
    duplicate: bool = False  # a delivery already taken in: nothing was done
    changed: bool = False  # a command changed something
    redraw: tuple[str, ...] = ()  # platform ids of the people whose dashboards now show something else
    queued: bool = False  # the outbox has new messages (its workers were woken)


Translate = Callable[[], Awaitable[Inbound | Reply | None]]
Answer = Callable[[Outcome], Awaitable[None]]
Replay = Callable[[str, str], Awaitable[None]]


class Turns:
    """One platform's inbound turns, and the background that goes with them: recovery and the outbox."""

    def __init__(self, bot: Bot, platform: str, *, recover_within: timedelta, replay: Replay,
                 sender: Sender | None = None, turn: Callable[[], contextlib.AbstractAsyncContextManager] | None = None,
                 on_sent: Callable[[Target], None] | None = None, worker: str = "goalbot") -> None:
        self.bot = bot
        self.platform = platform
        self.replay = replay
        self.inbox = Inbox(bot.db, platform, recover_within=recover_within)
        self.outbox = (Outbox(bot.db, sender, turn=turn, on_sent=on_sent, worker=f"{worker}/{platform}")
                       if sender is not None else None)
        if self.outbox is not None:
            bot.outboxes.append(self.outbox)
        self.background = Background(f"a {platform} request")
        self.loops = Loops(platform)

    async def take(self, key: str, payload: str | None, translate: Translate, *, answer: Answer | None = None,
                   replayed: bool = False) -> Outcome:
        """Take one request in, by its delivery key, and do all of it.

        The delivery is recorded first (with `payload`, kept until the work is done), so
        nothing acknowledged is lost while the platform is asked who the person is. Then
        `translate` gives the neutral input (or a `Reply` when the adapter already knows the
        answer, or None when it has done what was asked itself), the core runs it, and
        `answer`, when given, delivers the outcome, all while the request's lease is renewed.
        `replayed` is a request this process took back from the inbox: it is recorded already.
        """
        marked = False
        # Held before it is claimed, so this process never takes back its own request in the moment
        # between the claim's commit and the work (a burst can make that moment longer than a lease).
        async with self.inbox.working(key):
            if not replayed and not await self.inbox.claim(key, payload):
                return Outcome(duplicate=True)
            try:
                given = await translate()
            except UserError as error:
                given = Reply.refusal(error)
            if given is None or isinstance(given, Reply):
                outcome = Outcome(given)
            else:
                result = await self.bot.perform(given, key)
                marked = result.marked
                outcome = Outcome(result.reply, changed=result.changed, queued=result.queued,
                                  redraw=(given.actor.user_id,) if result.changed else ())
            if answer is not None:
                await answer(outcome)
            # Inside the lease, so nobody takes it back in between. An exception above leaves the
            # delivery open: it is run again once its lease runs out.
            if not marked:
                await self.inbox.done(key)
        return outcome

    def spawn(self, work: Coroutine) -> asyncio.Task:
        """Run work in the background, kept until it ends and awaited on shutdown."""
        return self.background.spawn(work)

    async def recover(self) -> int:
        """Hand the requests cut short earlier (a crash, a restart) back to the adapter, with their kept payloads."""
        work = await self.inbox.unfinished()
        for key, payload in work:
            self.spawn(self._replay(key, payload))
        return len(work)

    async def _replay(self, key: str, payload: str) -> None:
        try:
            await self.replay(key, payload)
        except ValueError as error:
            log.warning("a kept %s request %s cannot be read again (%s); dropping it", self.platform, key, error)
            await self.inbox.done(key)

    def start(self) -> None:
        """Start delivering the outbox and recovering requests cut short."""
        jobs = [housekeeping(self.inbox, self.recover, self.loops)]
        if self.outbox is not None:
            jobs.append(self.outbox.run())
        self.loops.start(*jobs, on_stop=[self.outbox.stop] if self.outbox is not None else [])

    async def stop(self, drain: float = 10.0) -> None:
        """Let requests already taken in finish (the platform will not send them again), then stop."""
        await self.background.drain(drain)
        await self.loops.stop()
        await self.inbox.stop()
