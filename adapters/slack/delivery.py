"""Sends what the outbox owes Slack users (see adapters/outbox.py for the guarantees)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.outbox import Claimed, OutboxWorker, backoff, log
from adapters.slack import render
from bot.messages import reply_from_dict
from storage.database import Database


class SlackDelivery(OutboxWorker):
    platform = "slack"

    def __init__(
        self,
        db: Database,
        client_for: Callable[[str], Awaitable[AsyncWebClient | None]],
        on_delivered: Callable[[str, str], None] | None = None,
        turn: Callable[[], contextlib.AbstractAsyncContextManager] | None = None,
    ) -> None:
        super().__init__(db, turn)
        self.client_for = client_for
        self.on_delivered = on_delivered

    async def deliver(self, item: Claimed) -> None:
        client = await self.client_for(item.tenant_key)
        if client is None:
            await self.finish(item, "failed", error="the workspace is not installed")
            return
        reply = reply_from_dict(item.body)
        new_identity = None
        try:
            if item.replaces:
                channel, ts = item.replaces
                response = await client.chat_update(channel=channel, ts=ts, text=render.text(reply), blocks=render.blocks(reply))
            else:
                user = item.platform_user
                if user is None:
                    found = await client.users_lookupByEmail(email=item.email)
                    user = new_identity = found["user"]["id"]
                response = await client.chat_postMessage(channel=user, text=render.text(reply), blocks=render.blocks(reply))
            await self.finish(item, "sent", channel=response.get("channel"), message_id=response.get("ts"),
                              identity=new_identity)
            if self.on_delivered and (item.platform_user or new_identity):
                self.on_delivered(item.tenant_key, item.platform_user or new_identity)
        except SlackApiError as error:
            code = error.response.get("error", "")
            if error.response.status_code == 429:
                retry = int(error.response.headers.get("Retry-After", "30") or 30)
                await self.finish(item, "pending", error="rate limited", delay=timedelta(seconds=retry))
            elif error.response.status_code >= 500:
                await self.unsure(item, f"slack answered {error.response.status_code}")
            else:
                await self.finish(item, "failed", error=code or str(error))
                log.warning("outbox message %s refused by Slack: %s", item.id, code)
        except aiohttp.ClientConnectorError as error:
            # Never connected: Slack cannot have the message, so it is safe to try again later.
            await self.finish(item, "pending", error=str(error)[:200], delay=backoff(item.attempts))
        except (TimeoutError, aiohttp.ClientError) as error:
            await self.unsure(item, f"{type(error).__name__}: {error}"[:200])
