"""A conversation with the bot in a terminal, or scripted through standard input."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import threading
from datetime import UTC, datetime
from collections.abc import AsyncIterator

from adapters.console.delivery import CONSOLE, ConsoleSender
from adapters.console.render import render
from bot.clock import Clock, parse_instant, run_round
from bot.dispatch import Bot
from bot.messages import Actor, Address, ChannelMention, IncomingMessage, Reply
from bot.outbox import Outbox

PROMPT = "goalbot> "
# In the console, as in the README's examples, two spaces and a # start a comment to the end of the line
# (a single space does not: `waiting on PR #12` keeps its number).
COMMENT = re.compile(r"\s{2,}#.*$")


class ConsoleChat:
    """One person talking to the bot. `say` returns the reply as the terminal shows it."""

    def __init__(self, bot: Bot, email: str, tenant: str = "default") -> None:
        self.bot = bot
        self.tenant = tenant
        self.email = email.strip().lower()

    @property
    def actor(self) -> Actor:
        return Actor(platform=CONSOLE, user_id=self.email, tenant=self.tenant, email=self.email)

    async def send(self, text: str) -> Reply:
        message = IncomingMessage(actor=self.actor, text=text, address=Address.direct(CONSOLE, self.email),
                                  channels=channels_in(text))
        return await self.bot.handle(message)

    async def say(self, text: str) -> str:
        return render(await self.send(text))


CHANNEL = re.compile(r'(?<!\S)#(?:["\u201c]([^"\u201d]{1,80})["\u201d]|([^\s"\u201c]{1,80}))(?!\S)')


def channels_in(text: str) -> tuple[ChannelMention, ...]:
    """The console stands in for every channel: any `#name` (or `#"a name"`) is a channel goalbot is in, one
    channel whatever the case it is typed in."""
    names = dict.fromkeys(quoted or plain for quoted, plain in CHANNEL.findall(text))
    return tuple(ChannelMention(f"#{name}", name.lower(), name.lower()) for name in names)


async def stdin_lines() -> AsyncIterator[str]:
    """Lines of standard input, read on a thread so the event loop never blocks."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        try:
            for line in sys.stdin:
                loop.call_soon_threadsafe(queue.put_nowait, line.rstrip("\r\n"))
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=pump, name="console-stdin", daemon=True).start()
    while (line := await queue.get()) is not None:
        yield line


AS_USAGE = ":as EMAIL switches to someone in the organisation (goalbot console --as EMAIL --new adds a new person)"


def one_of(options: list[str]) -> str:
    return options[0] if len(options) == 1 else ", ".join(options[:-1]) + " or " + options[-1]


async def switch(chat: ConsoleChat, email: str) -> tuple[str, bool]:
    """`:as EMAIL`: what to show, and whether it worked. Only someone the organisation has; what waits
    for them is shown as they arrive."""
    email = email.strip().lower()
    if not email:
        return "Say who: " + AS_USAGE + ".", False
    known, closest = await chat.bot.emails_like(chat.tenant, email)
    if not known:
        hint = f" Did you mean {one_of(closest)}?" if closest else f" {AS_USAGE[0].upper()}{AS_USAGE[1:]}."
        return f"Nobody here has the email {email}.{hint}", False
    chat.email = email
    shown = f"You are now {email}."
    waiting = await chat.bot.waiting(chat.actor)
    return shown + ("\n" + render(waiting) if waiting is not None else ""), True


async def converse(chat: ConsoleChat, *, interactive: bool, out=None, clock: bool | None = None,
                   editing: bool = False) -> int:
    """Read commands, print replies; returns how many were refused or failed. `:as EMAIL` switches who is
    speaking, `:tick [INSTANT]` runs a round of the clock (at that instant, e.g. 2027-03-08T09:00:00Z),
    `:quit` ends.

    What the bot owes anyone reached in the console (approval requests, check-in prompts, ...) is printed
    after the reply that caused it. An interactive console also runs the clock every minute, as
    `goalbot serve` does, and prints what it brings as it comes (`clock` overrides that choice).
    """
    out = out or sys.stdout

    def show(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    completer = None
    if editing:  # a terminal: prompt_toolkit shows the prompt, keeps the history and completes on Tab
        from adapters.console.editing import CommandCompleter, prompted_lines, session

        completer = CommandCompleter()
        lines = prompted_lines(session(completer), PROMPT)
    else:
        lines = stdin_lines()

    def prompt() -> None:
        if interactive and not editing:
            out.write(PROMPT)
            out.flush()

    async def refresh_goals() -> None:
        if completer is not None:
            with contextlib.suppress(Exception):  # completion is a help, never a reason to stop
                completer.goals = await chat.bot.goal_choices(chat.actor, "")

    outbox = Outbox(chat.bot.db, ConsoleSender(show), worker="console")
    chat.bot.outboxes.append(outbox)
    ticking = Clock(chat.bot.db, outbox.wake, chat.bot.links) if (interactive if clock is None else clock) else None
    delivering = None
    if ticking is not None:
        ticking.start()
        delivering = asyncio.get_running_loop().create_task(outbox.run())
    if interactive:
        show(f"You are {chat.email}. Say `help` for the commands, `:as EMAIL` to be someone else, "
             "`:tick` to run the clock now, `:quit` to leave.")
    prompt()
    failed = 0
    await refresh_goals()
    try:
        async for line in lines:
            text = COMMENT.sub("", line).strip()
            if text in (":quit", ":q", "quit", "exit"):
                break
            if text == ":as" or text.startswith(":as "):
                shown, worked = await switch(chat, text[3:])
                failed += not worked
                show(shown + ("" if interactive else "\n"))
            elif text == ":tick" or text.startswith(":tick "):
                show(await tick(chat, text[5:].strip()) + ("" if interactive else "\n"))
            elif text and not text.startswith("#"):
                reply = await chat.send(text)
                failed += reply.error
                show(render(reply) + ("" if interactive else "\n"))
            if delivering is None:
                await outbox.deliver_due()
            else:
                outbox.wake()
                await asyncio.sleep(0)
            await refresh_goals()
            prompt()
    finally:
        if ticking is not None:
            await ticking.stop()
        if delivering is not None:
            outbox.stop()
            await delivering
        chat.bot.outboxes.remove(outbox)
    return failed


async def tick(chat: ConsoleChat, when: str) -> str:
    """One round of the clock for the console's tenant, now or at the instant given."""
    try:
        instant = parse_instant(when) if when else datetime.now(UTC)
    except ValueError as error:
        return f"{error}. Try: :tick 2027-03-08T09:00:00Z"
    try:
        tally = await run_round(chat.bot.db, instant, tenant=chat.tenant, links=chat.bot.links)
    except LookupError as error:
        return str(error).capitalize() + "."
    return f"{tally.line()}\n  ({tally.details()})"
