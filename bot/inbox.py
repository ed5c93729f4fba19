"""Requests taken in, by their delivery key, so a retry or replay does nothing twice and a crash loses nothing.

The verified payload is kept until the work is done; a command that changes
something marks its delivery done inside its own transaction (`mark_done`). While a process works on a
request it keeps renewing the request's lease; a request acknowledged but never
finished (the process stopped mid-way, so its lease ran out) is handed back by
`unfinished`, a bounded number of times, while it can still be answered. Work
that is only slow (an answer waiting for the platform's pace) is never run twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot.background import Loops
from storage.database import Database
from storage.models import InboundDelivery, utcnow

log = logging.getLogger("goalbot.inbound")
KEPT = timedelta(days=2)
RECOVER_AFTER = timedelta(minutes=1)  # a lease: renewed every third of it while the work goes on
RECOVER_ATTEMPTS = 3
KEY_LENGTH = 200
RENEW_BATCH = 500


async def mark_done(session: AsyncSession, platform: str, key: str) -> bool:
    """Mark the delivery done within the session's transaction; False when an earlier run already did it."""
    result = await session.execute(
        sa.update(InboundDelivery)
        .where(
            InboundDelivery.platform == platform,
            InboundDelivery.delivery_key == key[:KEY_LENGTH],
            InboundDelivery.done_at.is_(None),
        )
        .values(done_at=utcnow(), payload=None)
        .returning(InboundDelivery.id)
    )
    if result.first() is not None:
        return True
    # Either never recorded (nothing to guard) or recorded and done already.
    recorded = (
        await session.execute(
            select(InboundDelivery.id).where(
                InboundDelivery.platform == platform, InboundDelivery.delivery_key == key[:KEY_LENGTH]
            )
        )
    ).first()
    return recorded is None


class Inbox:
    def __init__(self, db: Database, platform: str, *, recover_within: timedelta) -> None:
        self.db = db
        self.platform = platform
        self.recover_within = recover_within
        self.lease = RECOVER_AFTER
        self._held: dict[str, int] = {}  # keys this process is working on, and how many times over
        self._renewer: asyncio.Task | None = None
        self._stopping = asyncio.Event()

    async def claim(self, key: str, payload: str | None = None) -> bool:
        """True the first time a delivery is seen; a retry or replay gets False and does nothing."""
        try:
            async with self.db.transaction(write=True) as session:
                now = utcnow()
                await session.execute(sa.insert(InboundDelivery).values(
                    platform=self.platform, delivery_key=key[:KEY_LENGTH], payload=payload, received_at=now,
                    attempts=1, lease_until=now + self.lease,
                ))
        except IntegrityError:
            log.info("ignoring a repeated %s delivery %s", self.platform, key)
            return False
        return True

    async def done(self, key: str) -> None:
        """Mark a delivery done whose work changed nothing (a command that did has marked it in its own transaction)."""
        async with self.db.transaction(write=True) as session:
            await session.execute(
                sa.update(InboundDelivery)
                .where(InboundDelivery.platform == self.platform, InboundDelivery.delivery_key == key[:KEY_LENGTH],
                       InboundDelivery.done_at.is_(None))
                .values(done_at=utcnow(), payload=None)
            )

    @contextlib.asynccontextmanager
    async def working(self, key: str):
        """Around the work on a claimed delivery: its lease is renewed until the work ends."""
        key = key[:KEY_LENGTH]
        self._held[key] = self._held.get(key, 0) + 1
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew(), name=f"{self.platform} leases")
        try:
            yield
        finally:
            self._held[key] -= 1
            if not self._held[key]:
                del self._held[key]

    async def _renew(self) -> None:
        """Every third of a lease, one statement renews the leases of everything this process works on."""
        while self._held and not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.lease.total_seconds() / 3)
            keys = list(self._held)
            if not keys or self._stopping.is_set():
                return
            try:
                for start in range(0, len(keys), RENEW_BATCH):
                    async with self.db.transaction(write=True) as session:
                        await session.execute(
                            sa.update(InboundDelivery)
                            .where(InboundDelivery.platform == self.platform,
                                   InboundDelivery.delivery_key.in_(keys[start:start + RENEW_BATCH]),
                                   InboundDelivery.done_at.is_(None))
                            .values(lease_until=utcnow() + self.lease)
                        )
            except Exception:  # noqa: BLE001 - a missed renewal is retried next time; the lease still has time
                log.warning("renewing %d %s leases failed; trying again shortly", len(keys), self.platform)

    async def stop(self) -> None:
        """Stop renewing (between two renewals, never inside one): what is still held is recovered later."""
        self._stopping.set()
        if self._renewer is not None:
            await self._renewer

    async def unfinished(self) -> list[tuple[str, str]]:
        """(key, payload) of requests cut short earlier (nobody renews their lease), each counted as one
        more attempt and leased to this process."""
        now = utcnow()
        async with self.db.transaction(write=True) as session:
            query = (
                select(InboundDelivery)
                .where(
                    InboundDelivery.platform == self.platform,
                    InboundDelivery.done_at.is_(None),
                    InboundDelivery.payload.is_not(None),
                    sa.or_(InboundDelivery.lease_until < now,
                           sa.and_(InboundDelivery.lease_until.is_(None), InboundDelivery.received_at < now - self.lease)),
                    InboundDelivery.received_at > now - self.recover_within,
                    InboundDelivery.attempts < RECOVER_ATTEMPTS,
                )
                .order_by(InboundDelivery.id)
                .limit(50)
            )
            if not self.db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            # What this process is still working on is never its own to recover, whatever the lease says.
            rows = [row for row in (await session.execute(query)).scalars().all() if row.delivery_key not in self._held]
            work = []
            for row in rows:
                row.attempts += 1
                row.lease_until = now + self.lease
                work.append((row.delivery_key, row.payload or ""))
        for key, _ in work:
            log.warning("running again %s request %s, cut short earlier", self.platform, key)
        return work

    async def forget_old(self) -> None:
        """Delete delivery records older than KEPT: a platform never sends a request again that late."""
        async with self.db.transaction(write=True) as session:
            await session.execute(
                sa.delete(InboundDelivery).where(
                    InboundDelivery.platform == self.platform, InboundDelivery.received_at < utcnow() - KEPT
                )
            )


async def housekeeping(inbox: Inbox, recover: Callable[[], Awaitable[int]], loops: Loops) -> None:
    """Every half minute: run again what was cut short; now and then, forget old deliveries."""
    rounds = 0
    while not loops.stopping.is_set():
        try:
            await recover()
            if rounds % 120 == 0:
                await inbox.forget_old()
        except Exception:  # noqa: BLE001 - the loop must outlive one bad round
            log.exception("%s housekeeping failed", inbox.platform)
        rounds += 1
        await loops.pause(inbox.lease.total_seconds() / 2)
