"""Where the bot can write to someone at any time: the conversation references a platform hands out.

Teams only lets a bot write first into a conversation it has a reference for
(a personal chat, once the app is installed or the person writes). The adapter
stores each reference here, tied to the person once they are known; the outbox's
sender reads it back. The reference itself is the platform's own, kept as JSON.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot import outbox
from storage.database import Database
from storage.models import Identity, Person, TeamsConversation, Tenant, utcnow

ATTEMPTS = 3


async def remember(db: Database, tenant: str, user_id: str, actor_id: str, conversation_id: str,
                   reference: dict[str, Any], aad_object_id: str | None = None) -> bool:
    """Store (or refresh) the reference of `user_id`'s personal chat. `actor_id` is the id the person
    is known by as an actor; when they are, whatever the outbox kept waiting for them is due at once.
    Returns whether the person is known (so their messages can go out)."""
    for attempt in range(ATTEMPTS):
        try:
            async with db.transaction(write=True) as session:
                tenant_row = (await session.execute(select(Tenant).where(Tenant.key == tenant))).scalar_one_or_none()
                if tenant_row is None:
                    return False
                person_id = (
                    await session.execute(
                        select(Identity.person_id).where(
                            Identity.tenant_id == tenant_row.id, Identity.platform == "teams",
                            Identity.external_id == actor_id,
                        )
                    )
                ).scalar()
                row = (
                    await session.execute(
                        select(TeamsConversation).where(
                            TeamsConversation.tenant_id == tenant_row.id, TeamsConversation.user_id == user_id
                        )
                    )
                ).scalar_one_or_none()
                if row is None:
                    row = TeamsConversation(tenant_id=tenant_row.id, user_id=user_id, conversation_id="")
                    session.add(row)
                row.person_id = person_id
                row.aad_object_id = aad_object_id
                row.conversation_id = conversation_id
                row.reference = reference
                row.updated_at = utcnow()
                if person_id is not None:
                    await outbox.release_waiting(session, "teams", person_id)
                return person_id is not None
        except IntegrityError:  # the same person's first two messages at once: the second finds the first's row
            if attempt == ATTEMPTS - 1:
                raise
    return False


async def forget(db: Database, tenant: str, user_id: str) -> None:
    """The app was removed from the chat: nothing can be written there any more."""
    async with db.transaction(write=True) as session:
        row = (
            await session.execute(
                select(TeamsConversation)
                .join(Tenant, Tenant.id == TeamsConversation.tenant_id)
                .where(Tenant.key == tenant, TeamsConversation.user_id == user_id)
            )
        ).scalar_one_or_none()
        if row is not None:
            await session.delete(row)


async def reference(db: Database, tenant_id: int, *, person_id: int | None = None,
                    conversation: str | None = None) -> dict[str, Any] | None:
    """The newest stored reference for a person, or for a conversation; with neither, any of the tenant's
    (its service URL and tenant are what a channel message needs)."""
    async with db.transaction(write=False) as session:
        query = select(TeamsConversation.reference).where(TeamsConversation.tenant_id == tenant_id)
        if conversation is not None:
            query = query.where(TeamsConversation.conversation_id == conversation)
        elif person_id is not None:
            query = query.where(TeamsConversation.person_id == person_id)
        return (await session.execute(query.order_by(TeamsConversation.updated_at.desc()).limit(1))).scalar()


async def references(session: AsyncSession, platform: str, person_ids: set[int]) -> dict[int, dict[str, Any]]:
    """The newest stored reference of each of these people, by person (Teams keeps references; others none)."""
    if platform != "teams" or not person_ids:
        return {}
    rows = await session.execute(
        select(TeamsConversation.person_id, TeamsConversation.reference)
        .where(TeamsConversation.person_id.in_(person_ids))
        .order_by(TeamsConversation.updated_at, TeamsConversation.id)
    )
    return {person_id: data for person_id, data in rows}  # the newest last, so it wins


async def emails(db: Database, tenant: str, user_ids: set[str]) -> dict[str, str]:
    """The emails of the people behind these chat ids (those who have a stored conversation)."""
    if not user_ids:
        return {}
    async with db.transaction(write=False) as session:
        return dict((
            await session.execute(
                select(TeamsConversation.user_id, Person.email)
                .join(Tenant, Tenant.id == TeamsConversation.tenant_id)
                .join(Person, Person.id == TeamsConversation.person_id)
                .where(Tenant.key == tenant, TeamsConversation.user_id.in_(user_ids))
            )
        ).all())
