"""The goal map: the signed links that open it, and the tree it shows to the person a link names.

A link names a tenant, a person and a scope (the whole map, one goal and what supports it, an org
unit's goals, or the person's own) and the instant it stops working. It is signed with the tenant's own
key (`Tenant.link_key`), so it cannot be altered, and a link made in one tenant opens nothing in another.
A link grants nothing by itself: each time it is opened the person is looked up again and the map shows
what they may see in chat at that moment. A person erased, one who revoked their links
(`goals map revoke`), or one who can no longer see the goal a link names, is refused. There is no
password and no login page: the link is the key, so it lasts a short time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import select

from bot import alignment, browse
from bot.access import get_goal, visible_clause
from bot.errors import UserError
from bot.messages import Reply
from bot.people import Viewer, tenant_by_key
from bot.privacy import is_erased
from storage import repository
from storage.models import Goal, GoalEvent, OrgUnit, Person, Tenant, as_utc
from storage.vocabulary import Level, Status, UnitKind

LINK_MINUTES = 60  # a link handed out in chat
DIGEST_LINK = timedelta(hours=24)  # the weekly digest's link: it is read some hours after it comes
TAB_KEPT = timedelta(days=7)  # how long the Teams tab remembers the person who opened a link in it
SALT = "goalbot.map"
MAP_LIMIT = 10_000  # goals one map shows; a bigger one says to open a unit's map
# What `goals list` shows (open, and returned to be changed) and what `goals tree` adds (achieved, missed).
MAP_STATUSES = (Status.PROPOSED, Status.ACTIVE, Status.RETURNED, Status.ACHIEVED, Status.MISSED)
CHECKINS_SHOWN = 5


class ScopeKind(StrEnum):
    ALL = "all"
    GOAL = "goal"
    UNIT = "unit"
    MINE = "mine"
    TEAM = "team"  # the goals of the person's unit (and those below it) and of everyone reporting to them


@dataclass(frozen=True)
class MapScope:
    """What a link opens: the whole map, a goal (by number) with what supports it, a unit (by id), the goals
    of the person's team, or their own."""

    kind: ScopeKind = ScopeKind.ALL
    id: int | None = None

    def encode(self) -> str:
        return self.kind.value if self.id is None else f"{self.kind.value}:{self.id}"

    @classmethod
    def decode(cls, text: str) -> MapScope:
        kind, _, number = str(text).partition(":")
        try:
            scope = cls(ScopeKind(kind), int(number) if number else None)
        except ValueError:
            raise LinkRefused("invalid") from None
        if (scope.id is None) != (scope.kind in (ScopeKind.ALL, ScopeKind.MINE, ScopeKind.TEAM)):
            raise LinkRefused("invalid")
        return scope


REFUSALS = {
    "invalid": "This link to the goal map is not valid: it may have been cut short or changed.",
    "expired": "This link to the goal map has expired.",
    "revoked": "This link to the goal map was revoked.",
    "gone": "This link to the goal map names someone goalbot no longer knows.",
    "unseen": "This link names a goal you can no longer see.",
    "no unit": "This link names an org unit that is no longer there.",
}


class LinkRefused(Exception):
    """A link that opens nothing; `reason` is one of REFUSALS, said to the person holding it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def message(self) -> str:
        return REFUSALS[self.reason] + " Say goals map to goalbot in chat for a new one."


@dataclass(frozen=True)
class MapLink:
    url: str
    token: str
    expires: datetime


@dataclass(frozen=True)
class Pass:
    """What a verified link says: whose it is, what it opens, when it was made and until when it works."""

    tenant: str
    person_id: int
    scope: MapScope
    issued: datetime
    expires: datetime


def _serializer(key: str) -> URLSafeSerializer:
    return URLSafeSerializer(key, salt=SALT, signer_kwargs={"digest_method": hashlib.sha256})


def _instant(milliseconds: int) -> datetime:
    return datetime.fromtimestamp(milliseconds / 1000, UTC)


@dataclass(frozen=True)
class MapLinks:
    """Where the map is served (the address people's browsers reach goalbot at), and how long links last."""

    base_url: str = "http://127.0.0.1:3000"
    minutes: int = LINK_MINUTES

    def make(self, tenant: Tenant, person_id: int, scope: MapScope, now: datetime,
             lifetime: timedelta | None = None) -> MapLink:
        """A link for the person to the scope, working from `now` for `lifetime` (else `minutes`)."""
        issued = as_utc(now)
        expires = issued + (lifetime or timedelta(minutes=self.minutes))
        token = _serializer(tenant.link_key).dumps(
            [tenant.key, person_id, scope.encode(), int(issued.timestamp() * 1000), int(expires.timestamp() * 1000)])
        return MapLink(f"{self.base_url.rstrip('/')}/map?t={token}", token, expires)

    @property
    def minutes_words(self) -> str:
        """How long a link works, as said in chat: `1 hour`, `90 minutes`."""
        if self.minutes % 60 == 0:
            hours = self.minutes // 60
            return f"{hours} hour{'s' if hours > 1 else ''}"
        return f"{self.minutes} minute{'s' if self.minutes > 1 else ''}"


def verify(token: str, key: str, now: datetime) -> Pass:
    """The link's content when it was signed with `key` and has not expired at `now`; else LinkRefused."""
    try:
        tenant, person_id, scope, issued, expires = _serializer(key).loads(token)
        found = Pass(str(tenant), int(person_id), MapScope.decode(scope), _instant(int(issued)), _instant(int(expires)))
    except (BadSignature, ValueError, TypeError):
        raise LinkRefused("invalid") from None
    if as_utc(now) >= found.expires:
        raise LinkRefused("expired")
    return found


def tenant_named(token: str) -> str:
    """The tenant a link says it is for, read before its signature is checked (with that tenant's key)."""
    _, payload = _serializer("").loads_unsafe(token or "")
    if not isinstance(payload, list) or len(payload) != 5 or not isinstance(payload[0], str):
        raise LinkRefused("invalid")
    return payload[0]


MAX_TOKEN = 600


async def open_link(session: AsyncSession, token: str, now: datetime) -> tuple[Viewer, Pass]:
    """The person a link is for, as they are now, and what it opens; LinkRefused when it opens nothing."""
    if not token or len(token) > MAX_TOKEN:
        raise LinkRefused("invalid")
    tenant = await tenant_by_key(session, tenant_named(token))
    if tenant is None:
        raise LinkRefused("invalid")
    found = verify(token, tenant.link_key, now)
    person = (await session.execute(
        select(Person).where(Person.id == found.person_id, Person.tenant_id == tenant.id))).scalar_one_or_none()
    if person is None or is_erased(person):
        raise LinkRefused("gone")
    if person.map_links_after is not None and found.issued < as_utc(person.map_links_after):
        raise LinkRefused("revoked")
    viewer = Viewer(person=person, tenant=tenant, platform="web")
    if found.scope.kind == ScopeKind.GOAL:
        try:
            await get_goal(session, viewer, found.scope.id)
        except UserError:
            raise LinkRefused("unseen") from None
    elif found.scope.kind == ScopeKind.UNIT:
        unit = await session.get(OrgUnit, found.scope.id)
        if unit is None or unit.tenant_id != tenant.id:
            raise LinkRefused("no unit")
    return viewer, found


async def scope_for(session: AsyncSession, viewer: Viewer, goal: int | None, unit: str | None,
                    kind: ScopeKind) -> tuple[MapScope, str]:
    """What `goals map [G-n|mine|team|<unit>]` asks for, checked as the viewer may see it, and its name in words."""
    if goal is not None:
        found = await get_goal(session, viewer, goal)
        return MapScope(ScopeKind.GOAL, goal), f"{found.ref} {found.title}"
    if unit is not None:
        from bot.admin import find_unit

        found_unit = await find_unit(session, viewer, unit)
        return MapScope(ScopeKind.UNIT, found_unit.id), found_unit.name
    if kind == ScopeKind.MINE:
        return MapScope(ScopeKind.MINE), "your goals"
    if kind == ScopeKind.TEAM:
        return MapScope(ScopeKind.TEAM), "your team's goals"
    return MapScope(ScopeKind.ALL), viewer.tenant.name


def revoke(viewer: Viewer, now: datetime) -> None:
    """Every map link made for the viewer before `now` stops working (to the millisecond links carry)."""
    now = as_utc(now)
    viewer.person.map_links_after = now.replace(microsecond=now.microsecond // 1000 * 1000)


# The map ------------------------------------------------------------------------------------


@dataclass
class MapNode:
    """A goal on the map (as the alignment figures read it), with what its row shows and the filters read."""

    goal: alignment.GoalRow
    owner: str
    stale: bool
    overdue: bool
    unaligned: bool
    mine: bool
    department: int | None
    team: int | None
    supports: str = ""  # for a goal at the top whose parent is not on this map: what it supports
    children: list[MapNode] = field(default_factory=list)

    @property
    def number(self) -> int:
        return self.goal.number

    @property
    def ref(self) -> str:
        return self.goal.ref


@dataclass
class GoalMap:
    title: str
    viewer: str
    scope: MapScope
    roots: list[MapNode]
    count: int
    departments: list[tuple[int, str]]  # (id, name)
    teams: list[tuple[int, str, int | None]]  # (id, name, the department it is in)
    left_out: int = 0  # goals past MAP_LIMIT


@dataclass
class MapPage:
    """What a link opens: the map, what the link says, and the person's dashboard when it opens theirs."""

    map: GoalMap
    link: Pass
    mine: Reply | None = None  # the person's dashboard, as the Slack Home tab shows it


_owner_person = aliased(Person)
_owner_unit = aliased(OrgUnit)


async def read(session: AsyncSession, viewer: Viewer, scope: MapScope, now: datetime) -> GoalMap:
    """The map of the scope as the viewer may see it: every goal of theirs to see, from the top down, in a
    fixed number of queries. Goals they may not see are never read."""
    tenant_id = viewer.tenant.id
    people, units = await alignment.people_and_units(session, tenant_id)
    conditions = [Goal.tenant_id == tenant_id, Goal.status.in_(MAP_STATUSES), visible_clause(viewer)]
    title = f"The goal map of {viewer.tenant.name}"
    root_id = None
    org = alignment.Reading(tenant_id, now, now, people, units, {}, {}, set(), [], [])  # the org chart alone
    if scope.kind == ScopeKind.GOAL:
        root = await get_goal(session, viewer, scope.id)
        subtree = repository.goal_subtree_cte(root.id)
        conditions.append(Goal.id.in_(select(subtree.c.id)))
        root_id, title = root.id, f"{root.ref} {root.title} and the goals that support it"
    elif scope.kind == ScopeKind.UNIT:
        unit = units[scope.id]
        unit_ids = sorted(org.subtree(scope.id))
        person_ids = sorted({p for u in unit_ids for p in org.members.get(u, ())})
        conditions.append(sa.or_(Goal.owner_unit_id.in_(unit_ids or [-1]), Goal.owner_person_id.in_(person_ids or [-1])))
        title = f"The goals of {unit.name}"
    elif scope.kind == ScopeKind.TEAM:
        conditions.append(await browse.team_condition(session, viewer))
        title = "Your team's goals"
    elif scope.kind == ScopeKind.MINE:
        title = "My goals"
    level_order = sa.case({"company": 0, "department": 1, "team": 2, "individual": 3}, value=Goal.level, else_=4)
    connection = await session.connection()
    total = (await connection.execute(select(sa.func.count()).select_from(Goal).where(*conditions))).scalar_one()
    rows = (await connection.execute(
        select(Goal.id, Goal.number, Goal.title, Goal.level, Goal.status, Goal.health, Goal.progress, Goal.note,
               Goal.private, Goal.parent_id, Goal.owner_person_id, Goal.owner_unit_id, Goal.awaiting, Goal.due_date,
               Goal.progress_updated_at, Goal.approved_at, Goal.created_at, Goal.category,
               sa.func.coalesce(_owner_person.name, _owner_unit.name, "").label("owner"))
        .outerjoin(_owner_person, _owner_person.id == Goal.owner_person_id)
        .outerjoin(_owner_unit, _owner_unit.id == Goal.owner_unit_id)
        .where(*conditions).order_by(level_order, Goal.number).limit(MAP_LIMIT)
    )).all()
    goals, owners = {}, {}
    for row in rows:
        last = max(as_utc(moment) for moment in (row.progress_updated_at, row.approved_at, row.created_at) if moment)
        goals[row.id] = alignment.GoalRow(
            row.id, row.number, row.title, row.level, row.status, row.health, row.progress, row.note, row.private,
            row.parent_id, row.owner_person_id, row.owner_unit_id, row.awaiting, row.due_date, last, row.category)
        owners[row.id] = row.owner
    reading = alignment.Reading(tenant_id, now, now, people, units, goals, {}, set(), [], [])
    outside = await _parents_outside(session, viewer, {g.parent_id for g in goals.values()
                                                        if g.parent_id is not None and g.parent_id not in goals})
    nodes: dict[int, MapNode] = {}
    departments: dict[int, str] = {}
    teams: dict[int, tuple[str, int | None]] = {}
    for goal in goals.values():
        unit_id = reading.unit_of(goal)
        department = reading.department_of(unit_id)
        team = _team_of(units, unit_id)
        if department is not None:
            departments[department] = units[department].name
        if team is not None:
            teams[team] = (units[team].name, department)
        open_goal = goal.status in (Status.PROPOSED, Status.ACTIVE, Status.RETURNED)
        stale, overdue = reading.flags(goal)
        nodes[goal.id] = MapNode(
            goal=goal, owner=owners[goal.id], stale=stale and goal.status == Status.ACTIVE, overdue=overdue and open_goal,
            unaligned=goal.alignable and goal.parent_id is None and open_goal,
            mine=goal.owner_person_id == viewer.id,  # as `goals list mine` and the dashboard mean it
            department=department, team=team,
        )
    roots: list[MapNode] = []
    for goal_id, node in nodes.items():
        parent = goals[goal_id].parent_id
        if parent is not None and parent in nodes and goal_id != root_id:
            nodes[parent].children.append(node)
        else:
            if parent is not None and goal_id != root_id:
                node.supports = outside.get(parent, "a goal you cannot see")
            roots.append(node)
    rank = {level.value: level.rank for level in Level}
    roots.sort(key=lambda n: (rank.get(n.goal.level, 9), n.number))
    for node in nodes.values():
        node.children.sort(key=lambda n: n.number)
    return GoalMap(
        title=title, viewer=viewer.person.name, scope=scope, roots=roots, count=len(nodes),
        departments=sorted(departments.items(), key=lambda pair: pair[1].lower()),
        teams=sorted(((team, name, department) for team, (name, department) in teams.items()),
                     key=lambda found: found[1].lower()),
        left_out=max(0, total - len(nodes)),
    )


def _team_of(units: dict[int, alignment.UnitRow], unit_id: int | None) -> int | None:
    """The team a goal's unit is, when it is a team (not a department or the company)."""
    unit = units.get(unit_id) if unit_id is not None else None
    return unit_id if unit is not None and unit.kind == UnitKind.TEAM else None


async def _parents_outside(session: AsyncSession, viewer: Viewer, parent_ids: set[int]) -> dict[int, str]:
    """For parents not on the map (outside its scope, or archived): `G-3 Title` for those the viewer
    may see; the others are left out, and their children say they support a goal the viewer cannot see."""
    if not parent_ids:
        return {}
    rows = (await session.execute(
        select(Goal.id, Goal.number, Goal.title, Goal.status)
        .where(Goal.tenant_id == viewer.tenant.id, Goal.id.in_(sorted(parent_ids)), visible_clause(viewer))
    )).all()
    return {row.id: f"G-{row.number} {row.title}" + (f" ({row.status})" if row.status == Status.ARCHIVED else "")
            for row in rows}


@dataclass
class CheckInLine:
    at: datetime
    who: str
    action: str
    after: dict


async def recent_checkins(session: AsyncSession, goal_id: int) -> list[CheckInLine]:
    """The goal's latest updates from check-ins and progress: percentages, health, notes, key results."""
    rows = (await session.execute(
        select(GoalEvent.at, sa.func.coalesce(Person.name, "goalbot"), GoalEvent.action, GoalEvent.after)
        .outerjoin(Person, Person.id == GoalEvent.actor_id)
        .where(GoalEvent.goal_id == goal_id, GoalEvent.action.in_(("progress", "key result updated", "achieved")))
        .order_by(GoalEvent.id.desc()).limit(CHECKINS_SHOWN)
    )).all()
    return [CheckInLine(as_utc(at), who, action, after or {}) for at, who, action, after in rows]
