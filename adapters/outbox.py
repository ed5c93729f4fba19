"""Sends what the outbox owes people on one platform, once each.

A row is claimed (`sending`) in its own committed transaction before the call,
so two replicas never send it both (`FOR UPDATE SKIP LOCKED` on PostgreSQL). A
rate limit puts it back with the platform's Retry-After; a definite refusal
fails it; a failure that leaves us unsure whether the platform posted the
message marks it `uncertain` instead of sending it again. Updates in place are
safe to repeat, so they are retried. Each platform says how to send one row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from storage.database import Database
from storage.models import Identity, OutboxMessage, Person, Tenant, utcnow

log = logging.getLogger("goalbot.outbox")
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
    platform_user: str | None  # the person's id on this platform, when known
    body: dict
    replaces: tuple[str, str] | None  # (conversation, message id) of the message to update in place
    attempts: int


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=2 ** min(attempts, 8))


class OutboxWorker:
    """The delivery loop; a platform subclass implements `deliver(item)` and reports through `finish`."""

    platform = ""

    def __init__(self, db: Database, turn: Callable[[], contextlib.AbstractAsyncContextManager] | None = None) -> None:
        self.db = db
        # Each send waits for its turn, so deliveries give way to requests waiting for their answer.
        self.turn = turn or contextlib.nullcontext
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Finish the message in hand, then stop (between transactions, never inside one)."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Deliver until stopped: at once when woken, else every couple of seconds."""
        self._stopping = False
        while not self._stopping:
            try:
                await self.release_stuck()
                while not self._stopping and await self.deliver_due():
                    pass
            except Exception:  # noqa: BLE001 - the worker must outlive one bad round
                log.exception("%s outbox round failed", self.platform)
            if self._stopping:
                break
            try:
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            except TimeoutError:
                pass
            self._wake.clear()

    async def release_stuck(self) -> None:
        """Rows left `sending` by a crash: we cannot know if the platform got them, so they are not resent."""
        async with self.db.transaction(write=True) as session:
            stuck = (
                await session.execute(
                    select(OutboxMessage).where(
                        OutboxMessage.platform == self.platform,
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
                    OutboxMessage.platform == self.platform,
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
                platform_user = (
                    await session.execute(
                        select(Identity.external_id).where(
                            Identity.person_id == row.person_id, Identity.platform == self.platform
                        )
                    )
                ).scalar()
                row.state = "sending"
                row.attempts += 1
                row.next_attempt_at = utcnow()
                claimed.append(Claimed(row.id, tenant_key, row.tenant_id, row.person_id, email, platform_user,
                                       row.body, replaces, row.attempts))
            return claimed

    async def deliver_due(self) -> int:
        """Send one batch of due messages; returns how many were claimed."""
        claimed = await self._claim()
        for index, item in enumerate(claimed):
            if self._stopping:
                await self._unclaim(claimed[index:])
                break
            async with self.turn():
                await self.deliver(item)
        return len(claimed)

    async def _unclaim(self, items: list[Claimed]) -> None:
        """Claimed but not tried (the worker is stopping): due again, this attempt not counted."""
        for item in items:
            await self.finish(item, "pending", error=None, delay=timedelta(0), count_attempt=False)

    async def deliver(self, item: Claimed) -> None:
        raise NotImplementedError

    async def unsure(self, item: Claimed, error: str) -> None:
        """The platform may or may not have the message: an update is repeated, a new message is not."""
        if item.replaces:
            await self.finish(item, "pending", error=error, delay=backoff(item.attempts))
        else:
            log.error("outbox message %s may or may not have reached %s (%s); not resending it",
                      item.id, self.platform, error)
            await self.finish(item, "uncertain", error=error)

    async def finish(
        self, item: Claimed, state: str, *, error: str | None = None, channel: str | None = None,
        message_id: str | None = None, delay: timedelta | None = None, identity: str | None = None,
        count_attempt: bool = True,
    ) -> None:
        async with self.db.transaction(write=True) as session:
            row = await session.get(OutboxMessage, item.id)
            assert row is not None
            if not count_attempt:
                row.attempts -= 1
            if state == "pending" and row.attempts >= MAX_ATTEMPTS:
                state = "failed"
            row.state = state
            row.last_error = error[:500] if error else None
            if state == "pending":
                row.next_attempt_at = utcnow() + (delay or timedelta(seconds=1))
            if state == "sent":
                row.sent_at = utcnow()
                if channel and message_id and not item.replaces:
                    row.channel, row.message_id = channel, message_id
            if identity:
                # The person may be joining through their own first message at this very moment.
                try:
                    async with session.begin_nested():
                        session.add(Identity(tenant_id=item.tenant_id, person_id=item.person_id,
                                             platform=self.platform, external_id=identity))
                except IntegrityError:
                    pass
