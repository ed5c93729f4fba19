"""Sends what the outbox owes Teams users, through their stored conversation reference.

Someone who has never opened goalbot in Teams has no conversation the bot may
write to; their messages wait (`pending`, checked hourly) and go out as soon as
they install the app or write to it.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from botbuilder.schema import ConversationReference
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from adapters.outbox import Claimed, OutboxWorker, backoff, log
from adapters.teams import cards
from adapters.teams.sender import Sender, retry_after, retryable, status_of
from bot.messages import reply_from_dict
from storage.database import Database
from storage.models import OutboxMessage, TeamsConversation, utcnow

WAITING = "waiting for them to open goalbot in Teams"
WAIT_CHECK = timedelta(hours=1)


class TeamsDelivery(OutboxWorker):
    platform = "teams"

    def __init__(self, db: Database, sender: Sender) -> None:
        super().__init__(db)
        self.sender = sender

    async def _reference(self, item: Claimed) -> ConversationReference | None:
        async with self.db.transaction(write=False) as session:
            query = select(TeamsConversation.reference).where(TeamsConversation.tenant_id == item.tenant_id)
            if item.replaces:
                query = query.where(TeamsConversation.conversation_id == item.replaces[0])
            else:
                query = query.where(TeamsConversation.person_id == item.person_id)
            data = (await session.execute(query.order_by(TeamsConversation.updated_at.desc()).limit(1))).scalar()
        return ConversationReference().deserialize(data) if data else None

    async def release_waiting(self, session: AsyncSession, person_id: int) -> None:
        """The person can be reached now: what waited for them is due at once."""
        await session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.platform == "teams", OutboxMessage.person_id == person_id,
                   OutboxMessage.state == "pending", OutboxMessage.last_error == WAITING)
            .values(next_attempt_at=utcnow())
        )

    async def deliver(self, item: Claimed) -> None:
        reference = await self._reference(item)
        if reference is None:
            if item.replaces:
                await self.finish(item, "failed", error="the conversation of the message to update is gone")
            else:
                await self.finish(item, "pending", error=WAITING, delay=WAIT_CHECK, count_attempt=False)
            return
        reply = reply_from_dict(item.body)
        content, summary = cards.render(reply), cards.summary(reply)
        try:
            if item.replaces:
                await self.sender.update(reference, item.replaces[1], content, summary)
                await self.finish(item, "sent")
            else:
                message_id = await self.sender.send(reference, content, summary)
                await self.finish(item, "sent", channel=reference.conversation.id, message_id=message_id)
        except Exception as error:  # noqa: BLE001 - sorted by what Teams said, below
            status = status_of(error)
            if retryable(error):
                pause = retry_after(error)
                await self.finish(item, "pending", error=f"teams answered {status}",
                                  delay=timedelta(seconds=pause) if pause is not None else backoff(item.attempts))
            elif status is not None and status < 500:
                log.warning("outbox message %s refused by Teams: %s", item.id, status)
                await self.finish(item, "failed", error=f"teams answered {status}")
            else:
                await self.unsure(item, f"{type(error).__name__}: {error}"[:200])
