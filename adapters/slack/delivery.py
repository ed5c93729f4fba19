"""The Slack side of the outbox: post a reply to a person or a channel, update one in place."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import render
from bot.messages import Reply
from bot.outbox import Ambiguous, Failure, NotSent, Posted, RateLimited, Refused, Sent, Target


def failure(error: Exception) -> Failure:
    """What a failed Web API call means for a message: Slack's answer, else whether a connection was made."""
    if isinstance(error, SlackApiError):
        status = error.response.status_code
        if status == 429:
            return RateLimited("rate limited", float(error.response.headers.get("Retry-After", "30") or 30))
        if status >= 500:
            return Ambiguous(f"slack answered {status}")
        return Refused(str(error.response.get("error") or status))
    if isinstance(error, aiohttp.ClientConnectorError):
        return NotSent(str(error)[:200])  # never connected: Slack cannot have it
    return Ambiguous(f"{type(error).__name__}: {error}"[:200])


class SlackSender:
    platform = "slack"

    def __init__(self, client_for: Callable[[str], Awaitable[AsyncWebClient | None]]) -> None:
        self.client_for = client_for

    async def _client(self, target: Target) -> AsyncWebClient:
        client = await self.client_for(target.tenant)
        if client is None:
            raise Refused("the workspace is not installed")
        return client

    async def send(self, target: Target, reply: Reply) -> Sent:
        client = await self._client(target)
        try:
            looked_up = None
            channel = target.channel or target.user
            if channel is None:
                found = await client.users_lookupByEmail(email=target.email)
                channel = looked_up = found["user"]["id"]
            response = await client.chat_postMessage(channel=channel, text=render.text(reply), blocks=render.blocks(reply))
        except (SlackApiError, TimeoutError, aiohttp.ClientError) as error:
            raise failure(error) from None
        return Sent(response.get("channel"), response.get("ts"), looked_up)

    async def update(self, target: Target, posted: Posted, reply: Reply) -> None:
        client = await self._client(target)
        try:
            await client.chat_update(channel=posted.conversation, ts=posted.message_id, text=render.text(reply),
                                     blocks=render.blocks(reply))
        except (SlackApiError, TimeoutError, aiohttp.ClientError) as error:
            raise failure(error) from None
