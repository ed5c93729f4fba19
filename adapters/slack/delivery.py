"""Sends what the outbox owes Slack users, once each.

A row is claimed (`sending`) in its own committed transaction before the call,
so two replicas never send it both. A 429 puts it back with Slack's
Retry-After; a definite refusal fails it; a failure that leaves us unsure
whether Slack posted the message marks it `uncertain` instead of sending it
again. Updates in place (`chat.update`) are safe to repeat, so they are retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from adapters.slack import render
from bot.messages import reply_from_dict
from storage.database import Database
from storage.models import Identity, OutboxMessage, Person, Tenant, utcnow

log = logging.getLogger("goalbot.slack.delivery")
BATCH = 20
MAX_ATTEMPTS = 8
STUCK_AFTER = timedelta(minutes=5)
POLL_SECONDS = 2.0


@dataclass
class Claimed:
    id: int
    tenant_key: str
    tenant_id: int
    person_id: int
    email: str
    slack_user: str | None
    body: dict
    replaces: tuple[str, str] | None  # (channel, ts) of the message to update in place
    attempts: int


class SlackDelivery:
    def __init__(
        self,
        db: Database,
        client_for: Callable[[str], Awaitable[AsyncWebClient | None]],
        on_delivered: Callable[[str, str], None] | None = None,
        turn: Callable[[], contextlib.AbstractAsyncContextManager] | None = None,
    ) -> None:
        self.db = db
        # Each send waits for its turn, so deliveries give way to requests waiting for their ack.
        self.turn = turn or contextlib.nullcontext
        self.client_for = client_for
        self.on_delivered = on_delivered
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Deliver until cancelled: at once when woken, else every couple of seconds."""
        while True:
            try:
                await self.release_stuck()
                while await self.deliver_due():
                    pass
            except Exception:  # noqa: BLE001 - the worker must outlive one bad round
                log.exception("outbox round failed")
            try:
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            except TimeoutError:
                pass
            self._wake.clear()

    async def release_stuck(self) -> None:
        """Rows left `sending` by a crash: we cannot know if Slack got them, so they are not resent."""
        async with self.db.transaction(write=True) as session:
            stuck = (
                await session.execute(
                    select(OutboxMessage).where(
                        OutboxMessage.platform == "slack",
                        OutboxMessage.state == "sending",
                        OutboxMessage.next_attempt_at < utcnow() - STUCK_AFTER,
                    )
                )
            ).scalars().all()
            for row in stuck:
                row.state = "pending" if row.replaces_id else "uncertain"
                row.last_error = "interrupted while sending"
                log.warning("outbox message %s was interrupted while sending; marked %s", row.id, row.state)

    async def _claim(self) -> list[Claimed]:
        async with self.db.transaction(write=True) as session:
            query = (
                select(OutboxMessage, Tenant.key, Person.email)
                .join(Tenant, Tenant.id == OutboxMessage.tenant_id)
                .join(Person, Person.id == OutboxMessage.person_id)
                .where(
                    OutboxMessage.platform == "slack",
                    OutboxMessage.state == "pending",
                    OutboxMessage.next_attempt_at <= utcnow(),
                )
                .order_by(OutboxMessage.id)
                .limit(BATCH)
            )
            if not self.db.is_sqlite:
                query = query.with_for_update(skip_locked=True, of=OutboxMessage)
            rows = (await session.execute(query)).all()
            claimed = []
            for row, tenant_key, email in rows:
                replaces = None
                if row.replaces_id is not None:
                    original = await session.get(OutboxMessage, row.replaces_id)
                    if original is None or not original.channel or not original.message_id:
                        row.state = "failed"
                        row.last_error = "the message to update was never sent"
                        continue
                    replaces = (original.channel, original.message_id)
                slack_user = (
                    await session.execute(
                        select(Identity.external_id).where(Identity.person_id == row.person_id, Identity.platform == "slack")
                    )
                ).scalar()
                row.state = "sending"
                row.attempts += 1
                row.next_attempt_at = utcnow()
                claimed.append(Claimed(row.id, tenant_key, row.tenant_id, row.person_id, email, slack_user,
                                       row.body, replaces, row.attempts))
            return claimed

    async def deliver_due(self) -> int:
        """Send one batch of due messages; returns how many were claimed."""
        claimed = await self._claim()
        for item in claimed:
            async with self.turn():
                await self._deliver(item)
        return len(claimed)

    async def _deliver(self, item: Claimed) -> None:
        client = await self.client_for(item.tenant_key)
        if client is None:
            await self._finish(item, "failed", error="the workspace is not installed")
            return
        reply = reply_from_dict(item.body)
        new_identity = None
        try:
            if item.replaces:
                channel, ts = item.replaces
                response = await client.chat_update(channel=channel, ts=ts, text=render.text(reply), blocks=render.blocks(reply))
            else:
                user = item.slack_user
                if user is None:
                    found = await client.users_lookupByEmail(email=item.email)
                    user = new_identity = found["user"]["id"]
                response = await client.chat_postMessage(channel=user, text=render.text(reply), blocks=render.blocks(reply))
            await self._finish(item, "sent", channel=response.get("channel"), ts=response.get("ts"), identity=new_identity)
            if self.on_delivered and (item.slack_user or new_identity):
                self.on_delivered(item.tenant_key, item.slack_user or new_identity)
        except SlackApiError as error:
            code = error.response.get("error", "")
            if error.response.status_code == 429:
                retry = int(error.response.headers.get("Retry-After", "30") or 30)
                await self._finish(item, "pending", error="rate limited", delay=timedelta(seconds=retry))
            elif error.response.status_code >= 500:
                await self._unsure(item, f"slack answered {error.response.status_code}")
            else:
                await self._finish(item, "failed", error=code or str(error))
                log.warning("outbox message %s refused by Slack: %s", item.id, code)
        except aiohttp.ClientConnectorError as error:
            # Never connected: Slack cannot have the message, so it is safe to try again later.
            await self._finish(item, "pending", error=str(error)[:200], delay=timedelta(seconds=2 ** min(item.attempts, 8)))
        except (TimeoutError, aiohttp.ClientError) as error:
            await self._unsure(item, f"{type(error).__name__}: {error}"[:200])

    async def _unsure(self, item: Claimed, error: str) -> None:
        if item.replaces:  # an update can be repeated without harm
            await self._finish(item, "pending", error=error, delay=timedelta(seconds=2 ** min(item.attempts, 8)))
        else:
            log.error("outbox message %s may or may not have reached Slack (%s); not resending it", item.id, error)
            await self._finish(item, "uncertain", error=error)

    async def _finish(
        self, item: Claimed, state: str, *, error: str | None = None, channel: str | None = None,
        ts: str | None = None, delay: timedelta | None = None, identity: str | None = None,
    ) -> None:
        async with self.db.transaction(write=True) as session:
            row = await session.get(OutboxMessage, item.id)
            assert row is not None
            if state == "pending" and row.attempts >= MAX_ATTEMPTS:
                state = "failed"
            row.state = state
            row.last_error = error
            if state == "pending":
                row.next_attempt_at = utcnow() + (delay or timedelta(seconds=1))
            if state == "sent":
                row.sent_at = utcnow()
                if channel and ts and not item.replaces:
                    row.channel, row.message_id = channel, ts
            if identity:
                # The person may be joining through their own first message at this very moment.
                try:
                    async with session.begin_nested():
                        session.add(Identity(tenant_id=item.tenant_id, person_id=item.person_id, platform="slack",
                                             external_id=identity))
                except IntegrityError:
                    pass
