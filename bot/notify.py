"""Telling other people: approval requests, decisions and kudos, kept in the outbox.

A notice is written in the same transaction as the change that causes it, so a
crash can lose neither; each platform's delivery worker sends it later. A
notice about a decision also updates, in place, the request it answers.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot import checkins, outbox, views
from bot.access import responsible_person
from bot.errors import Forbidden, UserError
from bot.goals import Decision, Proposal
from bot.messages import Reply
from bot.people import Viewer, find_person
from storage.models import Goal, GoalEvent, Identity, Kudos, OutboxMessage, Person, utcnow
from storage.vocabulary import Health, PeriodState, Status

# Platforms that can reach a person who is not in the conversation.
DELIVERABLE = ("slack", "teams", "console")


def preferred(accounts) -> dict[int, str]:
    """Of each person's chat accounts, given as (person id, platform) pairs, the platform listed first in DELIVERABLE."""
    found: dict[int, str] = {}
    for person, platform in accounts:
        found[person] = min(found.get(person, platform), platform, key=DELIVERABLE.index)
    return found


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
) -> int | None:
    """Owe `person` a message on the platform they are reached on (not before `not_before`, when given);
    the same key twice is one message. Its id; None when they cannot be reached on any platform."""
    platform = await _platform_for(session, viewer, person)
    if platform is None:
        return None
    return await outbox.enqueue(session, viewer.tenant.id, person, platform, kind, reply, key, goal=goal,
                                not_before=not_before)


async def proposal(session: AsyncSession, viewer: Viewer, result: Proposal) -> None:
    """A goal waiting for a decision: ask whoever decides, with the buttons to do it."""
    goal, decider = result.goal, result.decider
    if goal.status != Status.PROPOSED or decider is None or decider.id == viewer.id:
        return
    parent = await session.get(Goal, goal.parent_id) if goal.parent_id else None
    reply = views.approval_request(goal, viewer.person, parent)
    await enqueue(session, viewer, decider, outbox.Kind.APPROVAL, reply, f"approval:{goal.id}", goal)


async def proposal_changed(session: AsyncSession, goal: Goal) -> None:
    """A goal waiting for a decision was edited: the request says what it is now, where it was sent."""
    if goal.status != Status.PROPOSED or goal.created_by_id is None:
        return
    proposer = await session.get(Person, goal.created_by_id)
    parent = await session.get(Goal, goal.parent_id) if goal.parent_id else None
    # Only the request waiting now: one decided earlier (before a return and a resubmission) says what was decided.
    await outbox.replace_in_place(session, goal, outbox.Kind.APPROVAL, views.approval_request(goal, proposer, parent),
                                  latest_only=True)


async def resubmitted(session: AsyncSession, viewer: Viewer, result) -> None:
    """A returned goal, sent again: whoever decides is asked again, with what changed."""
    goal, decider = result.goal, result.decider
    if decider is None or decider.id == viewer.id:
        return
    parent = await session.get(Goal, goal.parent_id) if goal.parent_id else None
    count = (await session.execute(select(sa.func.count()).select_from(GoalEvent).where(
        GoalEvent.goal_id == goal.id, GoalEvent.action == "resubmitted"))).scalar_one()
    await enqueue(session, viewer, decider, outbox.Kind.APPROVAL, views.resubmission(result, viewer.person, parent),
                  f"approval:{goal.id}:again:{count}", goal)


async def withdrawn(session: AsyncSession, viewer: Viewer, goal: Goal) -> None:
    """A proposal about to be withdrawn: every request waiting on a decision about it says so instead."""
    await outbox.replace_in_place(session, goal, outbox.Kind.APPROVAL,
                                  Reply.text(f"{goal.ref} {goal.title} was withdrawn by {viewer.person.name}."))


async def decision(session: AsyncSession, viewer: Viewer, result: Decision) -> None:
    """Update every request for this goal in place, and tell the other side what was decided."""
    goal = result.goal
    outcome = views.decision_outcome(goal, result.outcome, viewer.person)
    await outbox.replace_in_place(session, goal, outbox.Kind.APPROVAL, outcome)
    # The other side is whoever created the goal: the proposer, or the manager who assigned it.
    told = await session.get(Person, goal.created_by_id) if goal.created_by_id else None
    if told is not None and told.id != viewer.id:
        await enqueue(session, viewer, told, outbox.Kind.DECISION, views.decision_notice(goal, result.outcome, viewer.person),
                      f"decision:{goal.id}:{goal.updated_at.isoformat()}", goal)
    await session.flush()


async def kudos(session: AsyncSession, viewer: Viewer, given: Kudos, receiver: Person, goal: Goal | None) -> None:
    """Tell the receiver of kudos (not when someone thanks themselves)."""
    if receiver.id == viewer.id:
        return
    await enqueue(session, viewer, receiver, outbox.Kind.KUDOS, views.kudos(given, viewer.person, receiver, goal),
                  f"kudos:{given.id}", goal)


async def health_changed(session: AsyncSession, viewer: Viewer, goal: Goal, before: str | None) -> list[str]:
    """A goal became blocked: its parent goal's owner and its owner's manager are told at once, once per
    period (one message when they are the same person). Unblocked: those told hear that it cleared.
    Returns who is told, each as "Name" or "Name (not reachable in chat yet)"."""
    told_names: list[str] = []
    if goal.health == before or Health.BLOCKED not in (goal.health, before):
        return told_names
    owner = await session.get(Person, goal.owner_person_id) if goal.owner_person_id else None
    if owner is None:
        return told_names
    if goal.health == Health.BLOCKED:
        told: list[int] = []
        if goal.parent_id is not None:
            parent = await session.get(Goal, goal.parent_id)
            responsible = await responsible_person(session, parent) if parent is not None else None
            if responsible is not None:
                told.append(responsible)
        if owner.manager_id is not None:
            told.append(owner.manager_id)
        period = (await checkins.current_period(session, owner)).start
        for person_id in dict.fromkeys(told):
            if person_id == viewer.id:
                continue
            person = await session.get(Person, person_id)
            queued = await enqueue(session, viewer, person, outbox.Kind.ESCALATION,
                                   views.blocker_notice(goal, owner, goal.note), f"blocked:{goal.id}:{period}:{person_id}", goal)
            told_names.append(person.name if queued is not None else f"{person.name} (not reachable in chat yet)")
        return told_names
    escalations = (await session.execute(
        select(OutboxMessage).where(OutboxMessage.goal_id == goal.id, OutboxMessage.kind == outbox.Kind.ESCALATION,
                                    OutboxMessage.dedupe_key.like("blocked:%"))
    )).scalars().all()
    for row in escalations:
        person = await session.get(Person, row.person_id) if row.person_id else None
        if person is not None:
            await enqueue(session, viewer, person, outbox.Kind.ESCALATION, views.blocker_cleared(goal, owner),
                          f"cleared:{row.id}", goal)
            told_names.append(person.name)
    return told_names


async def nudge(session: AsyncSession, viewer: Viewer, who: str) -> Person:
    """A manager asks a report who has not answered this period's check-in to do it: one message per period."""
    person = await find_person(session, viewer, who)
    if person.id == viewer.id:
        raise UserError("That is you: say checkin to answer your own.")
    if not (viewer.is_admin or await viewer.manages(session, person.id)):
        raise Forbidden(f"Only {person.name}'s managers can nudge them.")
    period = await checkins.latest_period(session, person.id, utcnow())
    if period is None or period.state != PeriodState.PROMPTED:
        raise UserError(f"{person.name} has not been asked to check in this period.")
    if period.answered_at is not None:
        raise UserError(f"{person.name} has checked in already for the week of {period.period}.")
    key = f"nudge:{period.id}"
    already = (await session.execute(select(OutboxMessage.id).where(
        OutboxMessage.tenant_id == viewer.tenant.id, OutboxMessage.dedupe_key == key))).first()
    if already is not None:
        raise UserError(f"{person.name} was nudged for the week of {period.period} already.")
    if await enqueue(session, viewer, person, outbox.Kind.NUDGE, views.nudge(viewer.person, period.period), key) is None:
        raise UserError(f"{person.name} cannot be reached in chat yet.")
    return person
