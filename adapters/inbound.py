"""Requests taken in, by their delivery key, so a retry or replay does nothing twice and a crash loses nothing.

The verified payload is kept until the work is done; the core marks a command's
delivery done inside the command's own transaction. A request acknowledged but
never finished (the process stopped mid-way) is handed back by `unfinished`
after a minute, a bounded number of times, while it can still be answered.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from adapters.background import Loops
from storage.database import Database
from storage.models import InboundDelivery, utcnow

log = logging.getLogger("goalbot.inbound")
KEPT = timedelta(days=2)
RECOVER_AFTER = timedelta(minutes=1)
RECOVER_ATTEMPTS = 3
KEY_LENGTH = 200


class Inbox:
    def __init__(self, db: Database, platform: str, *, recover_within: timedelta) -> None:
        self.db = db
        self.platform = platform
        self.recover_within = recover_within

    async def claim(self, key: str, payload: str | None = None) -> bool:
        """True the first time a delivery is seen; a retry or replay gets False and does nothing."""
        try:
            async with self.db.transaction(write=True) as session:
                session.add(InboundDelivery(platform=self.platform, delivery_key=key[:KEY_LENGTH], payload=payload))
        except IntegrityError:
            log.info("ignoring a repeated %s delivery %s", self.platform, key)
            return False
        return True

    async def done(self, key: str) -> None:
        """Mark a delivery done (a command that changed something has done so in its own transaction)."""
        async with self.db.transaction(write=False) as session:
            pending = (
                await session.execute(
                    select(InboundDelivery.id).where(
                        InboundDelivery.platform == self.platform,
                        InboundDelivery.delivery_key == key[:KEY_LENGTH],
                        InboundDelivery.done_at.is_(None),
                    )
                )
            ).first()
        if pending is None:
            return
        async with self.db.transaction(write=True) as session:
            await session.execute(
                sa.update(InboundDelivery)
                .where(InboundDelivery.platform == self.platform, InboundDelivery.delivery_key == key[:KEY_LENGTH])
                .values(done_at=utcnow(), payload=None)
            )

    async def unfinished(self) -> list[tuple[str, str]]:
        """(key, payload) of requests cut short earlier, each counted as one more attempt."""
        now = utcnow()
        async with self.db.transaction(write=True) as session:
            query = (
                select(InboundDelivery)
                .where(
                    InboundDelivery.platform == self.platform,
                    InboundDelivery.done_at.is_(None),
                    InboundDelivery.payload.is_not(None),
                    InboundDelivery.received_at < now - RECOVER_AFTER,
                    InboundDelivery.received_at > now - self.recover_within,
                    InboundDelivery.attempts < RECOVER_ATTEMPTS,
                )
                .order_by(InboundDelivery.id)
                .limit(50)
            )
            if not self.db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            rows = (await session.execute(query)).scalars().all()
            work = []
            for row in rows:
                row.attempts += 1
                work.append((row.delivery_key, row.payload or ""))
        for key, _ in work:
            log.warning("running again %s request %s, cut short earlier", self.platform, key)
        return work

    async def forget_old(self) -> None:
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
        await loops.pause(RECOVER_AFTER.total_seconds() / 2)
