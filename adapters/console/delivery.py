"""The console's side of the outbox: what the bot owes anyone reached in the console, printed in the terminal.

The console stands in for everyone's chat at once, so a message to Bo is shown
to whoever is at the keyboard, under a line naming Bo. Printing cannot half
succeed, so a message is never uncertain here.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from adapters.console.render import clean, render
from bot.messages import Reply
from bot.outbox import Posted, Sent, Target

CONSOLE = "console"


class ConsoleSender:
    platform = CONSOLE

    def __init__(self, show: Callable[[str], None]) -> None:
        self.show = show
        self._ids = itertools.count(1)

    async def send(self, target: Target, reply: Reply) -> Sent:
        to = f"#{target.channel}" if target.channel else target.email
        message_id = str(next(self._ids))
        self.show(f"--- goalbot to {clean(to)} (message {message_id}) ---\n{render(reply)}\n")
        return Sent(f"console:{to}", message_id)

    async def update(self, target: Target, posted: Posted, reply: Reply) -> None:
        to = posted.conversation.removeprefix("console:")
        self.show(f"--- goalbot updated message {clean(posted.message_id)} to {clean(to)} ---\n{render(reply)}\n")
