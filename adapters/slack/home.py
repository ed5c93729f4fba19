"""The Home tab: each person's dashboard, drawn when they open it and redrawn soon after it changes."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import render
from bot.errors import UserError
from bot.messages import Dashboard, Reply
from bot.turns import Outcome

if TYPE_CHECKING:
    from adapters.slack.app import SlackApp

log = logging.getLogger("goalbot.slack")
DEBOUNCE = 0.5  # several changes within this long redraw a tab once


async def show(client: AsyncWebClient, user_id: str, reply: Reply) -> None:
    await client.views_publish(user_id=user_id, view={"type": "home", "blocks": render.blocks(reply, render.SURFACE_BLOCKS)})


class HomeTabs:
    def __init__(self, slack: SlackApp) -> None:
        self.slack = slack
        self._due: set[tuple[str, str]] = set()
        self._task: asyncio.Task | None = None

    async def opened(self, body: dict, request, client: AsyncWebClient, team_id: str | None, user_id: str) -> None:
        """Someone opened the Home tab: their dashboard, drawn through the pipeline like any request."""
        async def translate() -> Dashboard:
            return Dashboard(await self.slack.actor(client, team_id, user_id))

        async def answer(outcome: Outcome) -> None:
            if outcome.reply is not None and not outcome.reply.error:
                await show(client, user_id, outcome.reply)
            elif outcome.reply is not None:
                log.warning("the Home tab of %s was not drawn: %s", user_id, outcome.reply.summary)

        await self.slack.take(body, request, team_id, translate, answer)

    def refresh(self, tenant: str, user_id: str) -> None:
        """Redraw someone's Home tab soon; several changes in a row redraw it once."""
        self._due.add((tenant, user_id))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._redraw())

    async def _redraw(self) -> None:
        # Each round waits first, so changes that keep coming redraw a tab at most once per DEBOUNCE.
        while self._due:
            await asyncio.sleep(DEBOUNCE)
            due, self._due = self._due, set()
            for tenant, user_id in due:
                await self._draw(tenant, user_id)

    async def _draw(self, tenant: str, user_id: str) -> None:
        try:
            client = await self.slack.client_for(tenant)
            if client is not None:
                async with self.slack.after_ack():
                    actor = await self.slack.profiles.actor(client, tenant, user_id)
                    await show(client, user_id, await self.slack.bot.home(actor))
        except UserError as error:
            log.warning("the Home tab of %s in %s was not drawn: %s", user_id, tenant, error.message)
        except Exception:  # noqa: BLE001 - one person's Home must not stop the others'
            log.exception("publishing the Home tab of %s in %s failed", user_id, tenant)

    async def stop(self) -> None:
        if self._task is not None:
            self._due.clear()
            _, late = await asyncio.wait({self._task}, timeout=5)
            for task in late:
                task.cancel()
