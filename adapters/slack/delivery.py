"""The Slack side of the outbox: post a reply to a person or a channel, update one in place, and look for
a message whose answer was lost.

Each workspace has a pace (`GOALBOT_SLACK_MESSAGES_PER_MINUTE`) that every post and
update waits for, so the pace, not Slack's 429s, does the limiting; a 429 holds the
whole workspace for its Retry-After. Every message carries Slack message metadata
naming its outbox row, so a post whose answer was lost is looked for in the
conversation's history (`conversations.history` with `include_all_metadata`, paced
apart, since Slack limits history reads hard) before it is sent again.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import aiohttp
from aiolimiter import AsyncLimiter
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import render
from bot.messages import Reply
from bot.outbox import Ambiguous, Failure, NotSent, Posted, RateLimited, Refused, Sent, Target, Unreachable

METADATA_EVENT = "goalbot_outbox"
HOLD_IN_LINE = 5.0  # a 429 pause longer than this is not waited out in a send: the outbox tries later
HISTORY_LOOKBACK = 50  # messages read back from the conversation
KEPT_WORKSPACES = 10_000


# goalbot is not in the channel (a private one it is not in is hidden from it): the post waits for an invite.
NOT_IN_CHANNEL = ("not_in_channel", "channel_not_found")


def failure(error: Exception, *, to_channel: bool = False) -> Failure:
    """What a failed Web API call means for a message: Slack's answer, else whether a connection was made."""
    if isinstance(error, SlackApiError):
        status = error.response.status_code
        if status == 429:
            return RateLimited("rate limited", float(error.response.headers.get("Retry-After", "30") or 30))
        if status >= 500:
            return Ambiguous(f"slack answered {status}")
        said = str(error.response.get("error") or status)
        if to_channel and said in NOT_IN_CHANNEL:
            return Unreachable(f"goalbot is not in the channel ({said}); /invite @goalbot there")
        return Refused(said)
    if isinstance(error, aiohttp.ClientConnectorError):
        return NotSent(str(error)[:200])  # never connected: Slack cannot have it
    return Ambiguous(f"{type(error).__name__}: {error}"[:200])


class _Workspace:
    """One workspace's pace for posting, its pace for history reads, and a hold after a 429."""

    def __init__(self, per_minute: int, history_per_minute: int) -> None:
        # Evenly spaced, with room for a tenth of a second's worth at once (so the moments between batches
        # are not lost): a cap counted over any minute is crossed by at most that much.
        burst = max(1, per_minute // 600)
        self.posts = AsyncLimiter(burst, burst * 60 / per_minute)
        self.history = AsyncLimiter(1, 60 / history_per_minute)
        self.held_until = 0.0

    async def wait(self) -> None:
        held = self.held_until - time.monotonic()
        if held > HOLD_IN_LINE:
            raise RateLimited("waiting out slack's rate limit", held)
        if held > 0:
            await asyncio.sleep(held)
        await self.posts.acquire()

    def hold(self, seconds: float) -> None:
        self.held_until = max(self.held_until, time.monotonic() + seconds)


class SlackSender:
    platform = "slack"

    def __init__(self, client_for: Callable[[str], Awaitable[AsyncWebClient | None]], per_minute: int = 600,
                 history_per_minute: int = 20) -> None:
        self.client_for = client_for
        self.per_minute = per_minute
        self.history_per_minute = history_per_minute
        self._workspaces: OrderedDict[str, _Workspace] = OrderedDict()

    def _workspace(self, tenant: str) -> _Workspace:
        found = self._workspaces.get(tenant)
        if found is None:
            found = self._workspaces[tenant] = _Workspace(self.per_minute, self.history_per_minute)
            while len(self._workspaces) > KEPT_WORKSPACES:
                self._workspaces.popitem(last=False)
        return found

    async def _client(self, target: Target) -> AsyncWebClient:
        client = await self.client_for(target.tenant)
        if client is None:
            raise Refused("the workspace is not installed")
        return client

    async def _paced(self, target: Target, call: Callable[[], Awaitable]):
        workspace = self._workspace(target.tenant)
        await workspace.wait()
        try:
            return await call()
        except (SlackApiError, TimeoutError, aiohttp.ClientError) as error:
            found = failure(error, to_channel=target.channel is not None)
            if isinstance(found, RateLimited):
                workspace.hold(found.retry_after or 30)
            raise found from None

    async def send(self, target: Target, reply: Reply) -> Sent:
        client = await self._client(target)
        looked_up = None
        channel = target.channel or target.user
        if channel is None:
            try:
                found = await client.users_lookupByEmail(email=target.email)
            except (SlackApiError, TimeoutError, aiohttp.ClientError) as error:
                raise failure(error) from None
            channel = looked_up = found["user"]["id"]
        # A direct message goes to the user's id: Slack opens the DM and answers with its D… id.
        response = await self._paced(target, lambda: client.chat_postMessage(
            channel=channel, text=render.text(reply), blocks=render.blocks(reply),
            metadata={"event_type": METADATA_EVENT, "event_payload": {"outbox_id": target.message}},
        ))
        return Sent(response.get("channel"), response.get("ts"), looked_up)

    async def update(self, target: Target, posted: Posted, reply: Reply) -> None:
        client = await self._client(target)
        await self._paced(target, lambda: client.chat_update(
            channel=posted.conversation, ts=posted.message_id, text=render.text(reply), blocks=render.blocks(reply)))

    async def find(self, target: Target) -> Posted | None:
        """Whether the message for this outbox row was posted after all: read back the conversation's latest
        messages and look for the row's metadata. Raises a `Failure` when Slack cannot be asked now."""
        client = await self._client(target)
        workspace = self._workspace(target.tenant)
        try:
            channel = target.channel
            if channel is None:
                user = target.user or (await client.users_lookupByEmail(email=target.email))["user"]["id"]
                opened = await client.conversations_open(users=user)
                channel = opened["channel"]["id"]
            await workspace.history.acquire()
            history = await client.conversations_history(channel=channel, limit=HISTORY_LOOKBACK,
                                                         include_all_metadata=True)
        except (SlackApiError, TimeoutError, aiohttp.ClientError) as error:
            found = failure(error)
            raise (found if isinstance(found, RateLimited) else NotSent(f"could not look: {found.reason}")) from None
        for message in history.get("messages") or []:
            metadata = message.get("metadata") or {}
            if metadata.get("event_type") == METADATA_EVENT and \
                    (metadata.get("event_payload") or {}).get("outbox_id") == target.message:
                return Posted(channel, message["ts"])
        return None
