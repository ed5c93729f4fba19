"""Queries over the org chart and the goal tree, shared by the core's services.

Recursive walks use UNION (not UNION ALL) so a cycle in bad data ends the walk
instead of looping forever.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, select

from storage.models import Goal, GoalEvent, KeyResult, Kudos, Milestone, OrgUnit, OutboxMessage, Person, Tenant

MAX_DEPTH = 64


def goal_ancestors_cte(goal_id: int, *, include_self: bool = False) -> sa.CTE:
    """Rows (id, depth) from the goal (depth 0, if included) up to its root."""
    start = select(Goal.id, Goal.parent_id, sa.literal(0).label("depth")).where(Goal.id == goal_id)
    if not include_self:
        parent = select(Goal.parent_id).where(Goal.id == goal_id).scalar_subquery()
        start = select(Goal.id, Goal.parent_id, sa.literal(1).label("depth")).where(Goal.id == parent)
    chain = start.cte("goal_chain", recursive=True)
    step = select(Goal.id, Goal.parent_id, (chain.c.depth + 1).label("depth")).join(
        chain, Goal.id == chain.c.parent_id
    ).where(chain.c.depth < MAX_DEPTH)
    return chain.union(step)


def goal_subtree_cte(goal_id: int) -> sa.CTE:
    """Rows (id, depth) of the goal (depth 0) and everything below it."""
    start = select(Goal.id, sa.literal(0).label("depth")).where(Goal.id == goal_id)
    tree = start.cte("goal_tree", recursive=True)
    step = select(Goal.id, (tree.c.depth + 1).label("depth")).join(tree, Goal.parent_id == tree.c.id).where(
        tree.c.depth < MAX_DEPTH
    )
    return tree.union(step)


def managers_cte(person_id: int) -> sa.CTE:
    """Rows (id, depth) of the person's manager (depth 1), their manager, and so on."""
    first = select(Person.manager_id.label("id"), sa.literal(1).label("depth")).where(
        Person.id == person_id, Person.manager_id.is_not(None)
    )
    chain = first.cte("manager_chain", recursive=True)
    step = (
        select(Person.manager_id.label("id"), (chain.c.depth + 1).label("depth"))
        .join(chain, Person.id == chain.c.id)
        .where(Person.manager_id.is_not(None), chain.c.depth < MAX_DEPTH)
    )
    return chain.union(step)


def managers_of_cte(person_ids: Sequence[int], name: str = "managers_of") -> sa.CTE:
    """Rows (id, depth) of the managers of any of these people, all the way up."""
    first = select(Person.manager_id.label("id"), sa.literal(1).label("depth")).where(
        Person.id.in_(list(person_ids)), Person.manager_id.is_not(None)
    )
    chain = first.cte(name, recursive=True)
    step = (
        select(Person.manager_id.label("id"), (chain.c.depth + 1).label("depth"))
        .join(chain, Person.id == chain.c.id)
        .where(Person.manager_id.is_not(None), chain.c.depth < MAX_DEPTH)
    )
    return chain.union(step)


def reports_cte(manager_id: int, name: str = "reports") -> sa.CTE:
    """Rows (id) of everyone who reports to the manager, directly or not."""
    first = select(Person.id).where(Person.manager_id == manager_id)
    reports = first.cte(name, recursive=True)
    step = select(Person.id).join(reports, Person.manager_id == reports.c.id)
    return reports.union(step)


def unit_subtree_cte(unit_id: int, name: str = "unit_tree") -> sa.CTE:
    """Rows (id) of the org unit and every unit under it."""
    first = select(OrgUnit.id).where(OrgUnit.id == unit_id)
    units = first.cte(name, recursive=True)
    step = select(OrgUnit.id).join(units, OrgUnit.parent_id == units.c.id)
    return units.union(step)


def led_units_cte(person_id: int, name: str = "led_units") -> sa.CTE:
    """Rows (id) of the org units a person leads and every unit under them."""
    first = select(OrgUnit.id).where(OrgUnit.lead_id == person_id)
    units = first.cte(name, recursive=True)
    step = select(OrgUnit.id).join(units, OrgUnit.parent_id == units.c.id)
    return units.union(step)


async def manager_ids(session: AsyncSession, person_id: int) -> list[int]:
    """The person's managers, nearest first."""
    chain = managers_cte(person_id)
    rows = await session.execute(select(chain.c.id).order_by(chain.c.depth))
    return [row[0] for row in rows]


async def goal_ancestors(session: AsyncSession, goal_id: int) -> list[Goal]:
    """The goal's parent, grandparent, ... up to its root, nearest first."""
    chain = goal_ancestors_cte(goal_id)
    rows = (await session.execute(select(Goal, chain.c.depth).join(chain, Goal.id == chain.c.id))).all()
    return [goal for goal, _depth in sorted(rows, key=lambda row: row[1])]


def goal_chains_cte(goal_ids: Sequence[int]) -> sa.CTE:
    """Rows (origin, id, depth): each of the goals (origin) with its parent (depth 1), grandparent, and so on."""
    start = select(Goal.id.label("origin"), Goal.parent_id.label("id"), sa.literal(1).label("depth")).where(
        Goal.id.in_(list(goal_ids)), Goal.parent_id.is_not(None)
    )
    chain = start.cte("goal_chains", recursive=True)
    step = (
        select(chain.c.origin, Goal.parent_id.label("id"), (chain.c.depth + 1).label("depth"))
        .join(chain, Goal.id == chain.c.id)
        .where(Goal.parent_id.is_not(None), chain.c.depth < MAX_DEPTH)
    )
    return chain.union(step)


async def ancestor_ids(session: AsyncSession, goal_ids: Sequence[int]) -> dict[int, set[int]]:
    """The ids of each goal's parent, grandparent, ..., for many goals in one query."""
    found: dict[int, set[int]] = {goal_id: set() for goal_id in goal_ids}
    if goal_ids:
        chain = goal_chains_cte(goal_ids)
        for origin, ancestor in (await session.execute(select(chain.c.origin, chain.c.id))).all():
            found[origin].add(ancestor)
    return found


async def ancestors_of(session: AsyncSession, goal_ids: Sequence[int]) -> dict[int, list[Goal]]:
    """Each goal's parent, grandparent, ... nearest first, for many goals in one query."""
    if not goal_ids:
        return {}
    chain = goal_chains_cte(goal_ids)
    rows = (await session.execute(
        select(chain.c.origin, chain.c.depth, Goal).join(Goal, Goal.id == chain.c.id).order_by(chain.c.origin, chain.c.depth)
    )).all()
    found: dict[int, list[Goal]] = {goal_id: [] for goal_id in goal_ids}
    for origin, _depth, goal in rows:
        found[origin].append(goal)
    return found


async def lock_chain(session: AsyncSession, goal_id: int) -> list[Goal]:
    """The goal and its ancestors, nearest first, locked and freshly read.

    Rows are locked in id order (PostgreSQL; SQLite serialises writers anyway), so
    concurrent rollups through a shared ancestor wait for each other and then see
    each other's committed progress instead of overwriting it.
    """
    chain = goal_ancestors_cte(goal_id, include_self=True)
    depth = {row.id: row.depth for row in await session.execute(select(chain.c.id, chain.c.depth))}
    await lock_goals(session, list(depth))
    goals = (
        await session.execute(
            select(Goal).where(Goal.id.in_(list(depth))).execution_options(populate_existing=True)
        )
    ).scalars().all()
    return sorted(goals, key=lambda goal: depth[goal.id])


async def lock_goals(session: AsyncSession, goal_ids: Sequence[int]) -> None:
    """Take row locks on the goals, in id order (a no-op on SQLite, where writers are serialised)."""
    if goal_ids:
        await session.execute(
            select(Goal.id).where(Goal.id.in_(sorted(set(goal_ids)))).order_by(Goal.id).with_for_update()
        )


async def next_goal_number(session: AsyncSession, tenant_id: int) -> int:
    """Hand out the tenant's next G-<n>; the row lock makes it safe under concurrency."""
    result = await session.execute(
        sa.update(Tenant)
        .where(Tenant.id == tenant_id)
        .values(last_goal_number=Tenant.last_goal_number + 1)
        .returning(Tenant.last_goal_number)
    )
    return result.scalar_one()


def _insert(session: AsyncSession, model: type):
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(model.__table__)


async def insert_one_new(session: AsyncSession, model: type, row: SQLModel, unique: Sequence[str]) -> int | None:
    """Insert one row (a model instance, its defaults filled in) unless it would repeat a row already there
    on the `unique` columns: its new id, or None when it was there already. One statement, where the
    session's own add and flush would need a look first."""
    table = model.__table__
    values = {column.name: getattr(row, column.name) for column in table.columns if column.name != "id"}
    statement = _insert(session, model).values(values).on_conflict_do_nothing(index_elements=list(unique))
    return (await session.execute(statement.returning(table.c.id))).scalar_one_or_none()


async def insert_new(session: AsyncSession, model: type, rows: list[dict], unique: Sequence[str]) -> None:
    """Insert many rows in one statement, leaving out any that would repeat a row already there on the
    `unique` columns (INSERT ... ON CONFLICT DO NOTHING, on both engines)."""
    if not rows:
        return
    await session.execute(_insert(session, model).on_conflict_do_nothing(index_elements=list(unique)), rows)


async def upsert_many(session: AsyncSession, model: type, rows: list[dict], unique: Sequence[str],
                      update: Sequence[str]) -> None:
    """Insert many rows in one statement; a row that repeats one already there on the `unique` columns
    updates its `update` columns instead (INSERT ... ON CONFLICT DO UPDATE, on both engines)."""
    if not rows:
        return
    statement = _insert(session, model)
    statement = statement.on_conflict_do_update(index_elements=list(unique),
                                                set_={name: statement.excluded[name] for name in update})
    await session.execute(statement, rows)


async def update_many(session: AsyncSession, model: type, key: str, rows: list[dict]) -> None:
    """Update many rows by their `key` column in one statement (executemany): each dict has the key and the new values."""
    if not rows:
        return
    table = model.__table__
    columns = [name for name in rows[0] if name != key]
    statement = (
        sa.update(table)
        .where(table.c[key] == sa.bindparam("_" + key))
        .values({name: sa.bindparam("_" + name) for name in columns})
    )
    await session.execute(statement, [{"_" + name: value for name, value in row.items()} for row in rows])


async def delete_goal(session: AsyncSession, goal_id: int) -> None:
    """Delete a goal and what is only its own (key results, milestones, history, likely duplicates); kudos
    and messages that named it stay, no longer naming it. Whatever supports it must be moved first."""
    for model in (KeyResult, Milestone, GoalEvent):
        await session.execute(sa.delete(model).where(model.goal_id == goal_id).execution_options(synchronize_session=False))
    for model in (Kudos, OutboxMessage):
        await session.execute(sa.update(model).where(model.goal_id == goal_id).values(goal_id=None)
                              .execution_options(synchronize_session=False))
    await session.execute(sa.delete(Goal).where(Goal.id == goal_id).execution_options(synchronize_session=False))
