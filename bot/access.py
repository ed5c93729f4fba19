"""Who may see and change which goal, decided from the verified viewer only."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot.errors import Forbidden, NotFound
from bot.people import Viewer
from storage import repository
from storage.models import Goal, OrgUnit, Person

LEVEL_RANK = {"company": 0, "department": 1, "team": 2, "individual": 3}


async def responsible_person(session: AsyncSession, goal: Goal) -> int | None:
    """The person answerable for a goal: its owner, or the lead of the unit that owns it."""
    if goal.owner_person_id is not None:
        return goal.owner_person_id
    if goal.owner_unit_id is not None:
        return (await session.execute(select(OrgUnit.lead_id).where(OrgUnit.id == goal.owner_unit_id))).scalar()
    return None


def visible_clause(viewer: Viewer) -> sa.ColumnElement[bool]:
    """SQL condition for the goals the viewer may see (public, or private and theirs to see)."""
    if viewer.is_admin:
        return sa.true()
    reports = repository.reports_cte(viewer.id, name="visible_reports")
    my_people = sa.union(select(sa.literal(viewer.id)), select(reports.c.id)).scalar_subquery()
    led_units = select(OrgUnit.id).where(
        OrgUnit.tenant_id == viewer.tenant.id,
        sa.or_(OrgUnit.lead_id == viewer.id, OrgUnit.lead_id.in_(select(reports.c.id))),
    )
    return sa.or_(
        Goal.private.is_(False),
        Goal.owner_person_id == viewer.id,
        Goal.owner_person_id.in_(select(reports.c.id)),
        Goal.owner_unit_id.in_(led_units),
        sa.and_(Goal.owner_person_id.is_(None), Goal.owner_unit_id.is_(None), Goal.created_by_id.in_(my_people)),
    )


async def can_see(session: AsyncSession, viewer: Viewer, goal: Goal) -> bool:
    """Whether the viewer may see the goal: a public one, everyone in the tenant; a private one, whoever is
    responsible for it (its owner, or its unit's lead), their managers and admins."""
    if not goal.private or viewer.is_admin:
        return True
    owner = await responsible_person(session, goal)
    if owner is None:
        owner = goal.created_by_id
    if owner is None:
        return False
    return owner == viewer.id or await viewer.manages(session, owner)


async def can_change(session: AsyncSession, viewer: Viewer, goal: Goal) -> bool:
    """The owner, anyone above them in the org chart, and admins change a goal."""
    if viewer.is_admin:
        return True
    owner = await responsible_person(session, goal)
    if owner is None:
        return goal.created_by_id == viewer.id
    return owner == viewer.id or await viewer.manages(session, owner)


async def get_goal(session: AsyncSession, viewer: Viewer, number: int) -> Goal:
    """The goal G-<number> of the viewer's tenant, if they may see it."""
    goal = (
        await session.execute(select(Goal).where(Goal.tenant_id == viewer.tenant.id, Goal.number == number))
    ).scalar_one_or_none()
    # A private goal the viewer may not see answers exactly like a missing one.
    if goal is None or not await can_see(session, viewer, goal):
        raise NotFound(f"No goal G-{number}.")
    return goal


async def require_change(session: AsyncSession, viewer: Viewer, goal: Goal, doing: str) -> None:
    """Raise Forbidden unless the viewer may change the goal (see `can_change`); `doing` names the change."""
    if not await can_change(session, viewer, goal):
        who = await describe_owner(session, goal)
        raise Forbidden(f"Only {who}, their managers and admins can {doing} {goal.ref}.")


async def describe_owner(session: AsyncSession, goal: Goal) -> str:
    """Who is responsible for the goal, by name, for a refusal ("Only Bo Larsen, their managers ...")."""
    person_id = await responsible_person(session, goal)
    if person_id is None:
        return "its creator"
    name = (await session.execute(select(Person.name).where(Person.id == person_id))).scalar()
    return name or "its owner"
