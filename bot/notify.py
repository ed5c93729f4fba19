"""Telling other people: approval requests, decisions and kudos, kept in the outbox.

A notice is written in the same transaction as the change that causes it, so a
crash can lose neither; each platform's delivery worker sends it later. A
notice about a decision also updates, in place, the request it answers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot import views
from bot.access import responsible_person
from bot.goals import Decision, Proposal
from bot.messages import Reply, reply_to_dict
from bot.people import Viewer
from storage.models import Goal, Identity, Kudos, OutboxMessage, Person

# Platforms that can reach a person who is not in the conversation.
DELIVERABLE = ("slack", "teams")


async def _platform_for(session: AsyncSession, viewer: Viewer, person: Person) -> str | None:
    """Where to reach a person: where they talk to the bot, preferring the sender's platform."""
    platforms = set(
        (await session.execute(select(Identity.platform).where(Identity.person_id == person.id))).scalars()
    )
    if viewer.platform in platforms and viewer.platform in DELIVERABLE:
        return viewer.platform
    for platform in DELIVERABLE:
        if platform in platforms:
            return platform
    # Not seen in chat yet: the sender's platform finds them by email.
    return viewer.platform if viewer.platform in DELIVERABLE else None


async def enqueue(
    session: AsyncSession,
    viewer: Viewer,
    person: Person,
    kind: str,
    reply: Reply,
    key: str,
    goal: Goal | None = None,
    not_before: datetime | None = None,
) -> OutboxMessage | None:
    """Owe `person` a message (not before `not_before`, when given); the same key twice is one message."""
    existing = (
        await session.execute(
            select(OutboxMessage).where(OutboxMessage.tenant_id == viewer.tenant.id, OutboxMessage.dedupe_key == key)
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    platform = await _platform_for(session, viewer, person)
    if platform is None:
        return None
    message = OutboxMessage(
        tenant_id=viewer.tenant.id, person_id=person.id, platform=platform, kind=kind,
        goal_id=goal.id if goal else None, dedupe_key=key, body=reply_to_dict(reply),
    )
    if not_before is not None:
        message.next_attempt_at = not_before
    session.add(message)
    await session.flush()
    return message


async def proposal(session: AsyncSession, viewer: Viewer, result: Proposal) -> None:
    """A goal waiting for a decision: ask whoever decides, with the buttons to do it."""
    goal = result.goal
    if goal.status != "proposed":
        return
    if goal.awaiting == "manager":
        decider_id = viewer.person.manager_id
    else:
        decider_id = await responsible_person(session, goal)
    decider = await session.get(Person, decider_id) if decider_id else None
    if decider is None or decider.id == viewer.id:
        return
    parent = await session.get(Goal, goal.parent_id) if goal.parent_id else None
    reply = views.approval_request(goal, viewer.person, parent)
    await enqueue(session, viewer, decider, "approval", reply, f"approval:{goal.id}", goal)


async def decision(session: AsyncSession, viewer: Viewer, result: Decision) -> None:
    """Update every request for this goal in place, and tell the other side what was decided."""
    goal = result.goal
    outcome = views.decision_outcome(goal, result.outcome, viewer.person)
    requests = (
        await session.execute(
            select(OutboxMessage).where(OutboxMessage.goal_id == goal.id, OutboxMessage.kind == "approval")
        )
    ).scalars().all()
    for request in requests:
        if request.state == "pending":
            # Not sent yet: send the outcome instead of a request nobody needs to answer.
            request.body = reply_to_dict(outcome)
        elif request.state == "sent":
            session.add(OutboxMessage(
                tenant_id=request.tenant_id, person_id=request.person_id, platform=request.platform,
                kind="update", goal_id=goal.id, dedupe_key=f"decided:{request.id}", body=reply_to_dict(outcome),
                replaces_id=request.id,
            ))
    # The other side is whoever created the goal: the proposer, or the manager who assigned it.
    told = await session.get(Person, goal.created_by_id) if goal.created_by_id else None
    if told is not None and told.id != viewer.id:
        await enqueue(session, viewer, told, "decision", views.decision_notice(goal, result.outcome, viewer.person),
                      f"decision:{goal.id}:{goal.updated_at.isoformat()}", goal)
    await session.flush()


async def kudos(session: AsyncSession, viewer: Viewer, given: Kudos, receiver: Person, goal: Goal | None) -> None:
    if receiver.id == viewer.id:
        return
    await enqueue(session, viewer, receiver, "kudos", views.kudos(given, viewer.person, receiver, goal),
                  f"kudos:{given.id}", goal)
