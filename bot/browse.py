"""Reading goals: lists, trees and one goal in full, filtered to what the viewer may see.

Each read issues a fixed number of statements, however many goals it shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import select

from bot.access import can_change, can_see, get_goal, visible_clause
from bot.errors import UserError
from bot.people import Viewer, find_person
from storage import repository
from storage.models import Goal, GoalEvent, KeyResult, Milestone, OrgUnit, Person
from storage.vocabulary import Awaiting, Level, Status

PAGE_SIZE = 25
TREE_LIMIT = 150
DEFAULT_STATUSES = (Status.PROPOSED, Status.ACTIVE, Status.RETURNED)
TREE_STATUSES = (Status.PROPOSED, Status.ACTIVE, Status.ACHIEVED, Status.MISSED)


@dataclass(frozen=True)
class GoalRow:
    """A goal as lists and trees show it."""

    number: int
    title: str
    level: str
    status: str
    health: str | None
    progress: float
    owner: str
    private: bool
    parent_number: int | None = None
    depth: int = 0
    parent_archived: bool = False  # it supports an archived goal: to be linked elsewhere

    @property
    def ref(self) -> str:
        return f"G-{self.number}"


@dataclass
class GoalPage:
    title: str
    rows: list[GoalRow]
    total: int
    page: int
    pages: int
    empty_hint: str


@dataclass
class GoalTree:
    root: GoalRow | None
    rows: list[GoalRow]
    total: int


@dataclass
class GoalDetail:
    goal: Goal
    owner: str
    ancestors: list[Goal | None]  # nearest first; None for one the viewer may not see (private)
    children: list[GoalRow]
    key_results: list[KeyResult]
    milestones: list[Milestone]
    history: list[tuple[GoalEvent, str]]
    created_by: str
    may_change: bool
    extra: dict = field(default_factory=dict)


_owner_person = aliased(Person)
_owner_unit = aliased(OrgUnit)
_parent = aliased(Goal)


def _row_query():
    owner = sa.func.coalesce(_owner_person.name, _owner_unit.name, "")
    return (
        select(
            Goal.number, Goal.title, Goal.level, Goal.status, Goal.health, Goal.progress, owner.label("owner"),
            Goal.private, _parent.number.label("parent_number"), _parent.status.label("parent_status"),
            _parent.private.label("parent_private"),
        )
        .outerjoin(_owner_person, _owner_person.id == Goal.owner_person_id)
        .outerjoin(_owner_unit, _owner_unit.id == Goal.owner_unit_id)
        .outerjoin(_parent, _parent.id == Goal.parent_id)
    )


def _to_row(row, depth: int = 0) -> GoalRow:
    return GoalRow(
        number=row.number, title=row.title, level=row.level, status=row.status, health=row.health,
        progress=row.progress, owner=row.owner, private=row.private, parent_number=row.parent_number, depth=depth,
        parent_archived=row.parent_status == Status.ARCHIVED,
    )


async def list_goals(
    session: AsyncSession, viewer: Viewer, scope: str, person: str | None, include_all: bool, page: int
) -> GoalPage:
    """One page of goals in a scope: mine, team, company, or one person's."""
    me = viewer.id
    if scope == "mine":
        where = Goal.owner_person_id == me
        title, empty = "Your goals", "You have no goals yet. Propose one: goals add <title> parent:G-<n>"
    elif scope == "company":
        where = Goal.level == Level.COMPANY
        title, empty = "Company goals", "There are no company goals yet; an admin sets them with goals add <title> level:company"
    elif scope == "person":
        assert person is not None
        target = await find_person(session, viewer, person)
        where = Goal.owner_person_id == target.id
        title, empty = f"{target.name}'s goals", f"{target.name} has no goals you can see."
    elif scope == "unit":
        from bot.admin import find_unit

        assert person is not None
        unit = await find_unit(session, viewer, person)
        where = await _of_units(session, viewer, unit.id)
        title, empty = f"The goals of {unit.name}", f"{unit.name} has no goals you can see."
    else:
        where = await team_condition(session, viewer)
        title, empty = "Your team's goals", "Your team has no goals yet."
    conditions = [Goal.tenant_id == viewer.tenant.id, where, visible_clause(viewer)]
    if not include_all:
        conditions.append(Goal.status.in_(DEFAULT_STATUSES))
    total = (await session.execute(select(sa.func.count()).select_from(Goal).where(*conditions))).scalar_one()
    pages = max(1, -(-total // PAGE_SIZE))
    if page > pages:
        raise UserError(f"There {'is' if pages == 1 else 'are'} only {pages} page{'s' if pages > 1 else ''} of goals here.")
    level_order = sa.case({"company": 0, "department": 1, "team": 2, "individual": 3}, value=Goal.level, else_=4)
    rows = (
        await session.execute(
            _row_query().where(*conditions).order_by(level_order, Goal.number).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
        )
    ).all()
    return GoalPage(title=title, rows=[_to_row(r) for r in rows], total=total, page=page, pages=pages, empty_hint=empty)


async def team_condition(session: AsyncSession, viewer: Viewer):
    """The viewer's team's goals, as `goals list team` and `goals map team` mean it: their unit's and those of
    the units below it (and of the people in them), and those of everyone who reports to them."""
    reports = repository.reports_cte(viewer.id, name="team_reports")
    return await _of_units(session, viewer, viewer.person.org_unit_id or -1, select(reports.c.id))


async def _of_units(session: AsyncSession, viewer: Viewer, unit_id: int, reports=None):
    """Goals of the unit and the units below it, or of the people in them (and of those `reports` selects).
    The ids are read first and inlined, so PostgreSQL hashes the lists instead of rescanning a recursive
    subquery for every goal row."""
    units = repository.unit_subtree_cte(unit_id)
    unit_ids = [row[0] for row in await session.execute(select(units.c.id))]
    people = select(Person.id).where(Person.tenant_id == viewer.tenant.id, Person.org_unit_id.in_(unit_ids))
    person_ids = [row[0] for row in await session.execute(sa.union(people, reports) if reports is not None else people)]
    return sa.or_(
        Goal.owner_unit_id.in_(sa.bindparam("team_units", unit_ids or [-1], expanding=True, literal_execute=True)),
        Goal.owner_person_id.in_(sa.bindparam("team_people", person_ids or [-1], expanding=True, literal_execute=True)),
    )


async def goal_tree(session: AsyncSession, viewer: Viewer, number: int | None) -> GoalTree:
    """The goals under one goal, or the whole tree from its roots, depth first."""
    conditions = [Goal.tenant_id == viewer.tenant.id, Goal.status.in_(TREE_STATUSES), visible_clause(viewer)]
    if number is not None:
        root_goal = await get_goal(session, viewer, number)
        subtree = repository.goal_subtree_cte(root_goal.id)
        query = _row_query().add_columns(Goal.id, Goal.parent_id).join(subtree, subtree.c.id == Goal.id)
        rows = (await session.execute(query.where(*conditions).order_by(Goal.number))).all()
        root_id = root_goal.id
    else:
        rows = (await session.execute(_row_query().add_columns(Goal.id, Goal.parent_id).where(*conditions).order_by(Goal.number))).all()
        root_id = None
    children: dict[int | None, list] = {}
    ids = {row.id for row in rows} | ({root_id} if root_id is not None else set())  # the root, archived or not
    for row in rows:
        parent = row.parent_id if row.parent_id in ids else None
        if row.id == root_id:
            continue
        # A goal whose parent is hidden from the viewer is left out, not shown as a root; one whose public
        # parent was archived stands at the top, marked, until it is linked elsewhere.
        if row.parent_id is not None and row.parent_id not in ids:
            if row.parent_status != Status.ARCHIVED or row.parent_private:
                continue
            parent = None
        children.setdefault(parent if parent is not None else root_id, []).append(row)
    ordered: list[GoalRow] = []
    root = None
    if root_id is not None:
        root_row = next((r for r in rows if r.id == root_id), None)
        if root_row is None:  # the root itself is archived or returned
            root_row = (await session.execute(_row_query().add_columns(Goal.id, Goal.parent_id).where(Goal.id == root_id))).one()
        root = _to_row(root_row)
    stack = [(row, 1 if root_id is not None else 0) for row in reversed(children.get(root_id, []))]
    total = 0
    while stack:
        row, depth = stack.pop()
        total += 1
        if len(ordered) < TREE_LIMIT:
            ordered.append(_to_row(row, depth))
        stack.extend((child, depth + 1) for child in reversed(children.get(row.id, [])))
    return GoalTree(root=root, rows=ordered, total=total)


async def goal_detail(session: AsyncSession, viewer: Viewer, number: int) -> GoalDetail:
    """Everything `goals show` says about one goal the viewer may see: parent, children, key results, milestones, history."""
    goal = await get_goal(session, viewer, number)
    ancestors = [ancestor if await can_see(session, viewer, ancestor) else None
                 for ancestor in await repository.goal_ancestors(session, goal.id)]
    owner = ""
    if goal.owner_person_id:
        owner = (await session.get(Person, goal.owner_person_id)).name
    elif goal.owner_unit_id:
        owner = (await session.get(OrgUnit, goal.owner_unit_id)).name
    children = (
        await session.execute(
            _row_query().where(Goal.parent_id == goal.id, Goal.status != Status.ARCHIVED, visible_clause(viewer)).order_by(Goal.number)
        )
    ).all()
    key_results = (await session.execute(select(KeyResult).where(KeyResult.goal_id == goal.id).order_by(KeyResult.position))).scalars().all()
    milestones = (await session.execute(select(Milestone).where(Milestone.goal_id == goal.id).order_by(Milestone.position))).scalars().all()
    events = (
        await session.execute(
            select(GoalEvent, sa.func.coalesce(Person.name, "goalbot"))
            .outerjoin(Person, Person.id == GoalEvent.actor_id)
            .where(GoalEvent.goal_id == goal.id)
            .order_by(GoalEvent.id.desc())
            .limit(5)
        )
    ).all()
    creator = (await session.get(Person, goal.created_by_id)).name if goal.created_by_id else ""
    return GoalDetail(
        goal=goal, owner=owner, ancestors=ancestors, children=[_to_row(c) for c in children],
        key_results=list(key_results), milestones=list(milestones), history=[(e, n) for e, n in events],
        created_by=creator, may_change=await can_change(session, viewer, goal),
    )


CHOICES_LIMIT = 100


async def goal_choices(session: AsyncSession, viewer: Viewer, query: str) -> list[tuple[str, str]]:
    """Goals the viewer may link to whose reference or title matches what they typed, best first."""
    conditions = [Goal.tenant_id == viewer.tenant.id, Goal.status.in_(("proposed", "active")), visible_clause(viewer)]
    query = query.strip()
    ref = re.match(r"^g-?(\d{1,9})$", query, re.IGNORECASE)
    if ref:
        conditions.append(Goal.number == int(ref.group(1)))
    elif query:
        pattern = "%" + query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(sa.func.lower(Goal.title).like(pattern, escape="\\"))
    level_order = sa.case({"company": 0, "department": 1, "team": 2, "individual": 3}, value=Goal.level, else_=4)
    rows = (
        await session.execute(
            select(Goal.number, Goal.title).where(*conditions).order_by(level_order, Goal.number).limit(CHOICES_LIMIT)
        )
    ).all()
    return [(f"G-{number}", title) for number, title in rows]


@dataclass
class Pending:
    """What waits for the viewer: proposals to decide (theirs as manager) and assignments to accept."""

    to_decide: list[GoalRow]
    to_accept: list[GoalRow]


async def pending(session: AsyncSession, viewer: Viewer) -> Pending:
    """The proposals waiting for the viewer's decision (their reports' goals, and the goals of units their
    reports lead) and the goals assigned to them (or to a unit they lead) waiting for their acceptance."""
    me = viewer.id
    reports = select(Person.id).where(Person.manager_id == me)
    led_by_reports = select(OrgUnit.id).where(OrgUnit.lead_id.in_(reports))
    mine = select(OrgUnit.id).where(OrgUnit.lead_id == me)
    waiting = (Goal.tenant_id == viewer.tenant.id, Goal.status == Status.PROPOSED)
    decide = sa.and_(Goal.awaiting == Awaiting.MANAGER,
                     sa.or_(Goal.owner_person_id.in_(reports), Goal.owner_unit_id.in_(led_by_reports)))
    accept = sa.and_(Goal.awaiting == Awaiting.OWNER, sa.or_(Goal.owner_person_id == me, Goal.owner_unit_id.in_(mine)))
    rows = (await session.execute(_row_query().add_columns(decide.label("to_decide"))
                                  .where(*waiting, sa.or_(decide, accept)).order_by(Goal.number))).all()
    return Pending([_to_row(row) for row in rows if row.to_decide], [_to_row(row) for row in rows if not row.to_decide])


@dataclass
class Since:
    """Goals returned to the viewer, and kudos they were given lately."""

    returned: list[GoalRow]
    kudos: list[tuple[str, str]]  # (giver's name, message), newest first


KUDOS_LATELY_DAYS = 7


async def returned_and_thanked(session: AsyncSession, viewer: Viewer) -> Since:
    from datetime import timedelta

    from storage.models import Kudos, utcnow

    returned = (await session.execute(_row_query().where(
        Goal.tenant_id == viewer.tenant.id, Goal.status == Status.RETURNED, Goal.owner_person_id == viewer.id)
        .order_by(Goal.number))).all()
    giver = aliased(Person)
    kudos = (await session.execute(
        select(giver.name, Kudos.message).join(giver, giver.id == Kudos.giver_id)
        .where(Kudos.receiver_id == viewer.id, Kudos.created_at >= utcnow() - timedelta(days=KUDOS_LATELY_DAYS))
        .order_by(Kudos.id.desc()).limit(5))).all()
    return Since([_to_row(row) for row in returned], [(row[0], row[1]) for row in kudos])
