"""A conversation with the bot in a terminal, or scripted through standard input."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator

from adapters.console.render import render
from bot.dispatch import Bot
from bot.messages import Actor, Address, IncomingMessage, Reply

PROMPT = "goalbot> "
CONSOLE = "console"


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
        message = IncomingMessage(actor=self.actor, text=text, address=Address.direct(CONSOLE, self.email))
        return await self.bot.handle(message)

    async def say(self, text: str) -> str:
        return render(await self.send(text))


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


async def converse(chat: ConsoleChat, *, interactive: bool, out=None) -> None:
    """Read commands, print replies. `:as EMAIL` switches who is speaking; `:quit` ends."""
    out = out or sys.stdout

    def show(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    def prompt() -> None:
        if interactive:
            out.write(PROMPT)
            out.flush()

    if interactive:
        show(f"You are {chat.email}. Say `help` for the commands, `:as EMAIL` to be someone else, `:quit` to leave.")
    prompt()
    async for line in stdin_lines():
        text = line.strip()
        if text in (":quit", ":q", "quit", "exit"):
            break
        if text.startswith(":as "):
            chat.email = text[4:].strip().lower()
            show(f"You are now {chat.email}.")
        elif text and not text.startswith("#"):
            reply = await chat.say(text)
            show(reply + ("" if interactive else "\n"))
        prompt()
