"""Where alignment stands: one computation of the figures managers and admins read, for any scope.

A scope is the whole tenant, an org unit (with the units below it) or a manager's
reports, all the way down (the manager's own goals are not in it). The tenant's
people, units, goals, key results, recent check-in periods, achievements and kudos
are read once (a fixed number of queries, however many scopes), and every scope's
figures come from that one reading, so a thousand digests cost what one does.

The figures (the article's KPIs and what needs a manager's attention):
- alignment: the share of active team and individual goals that support a parent,
  and the share of individual goals that support a team goal or one above it;
- check-in response: of each person's current period in which they were asked, the
  share answered (skipped, missed and dropped periods asked nobody, so do not count);
- goals by health; at-risk and off-track goals with their latest note; blockers;
  stale goals (no update for two check-in periods); unaligned and overdue goals;
- proposals waiting for the manager's decision;
- wins since the window's start: goals achieved, key results that reached their
  target, kudos received;
- the unit's top goals; goals shared across departments (a parent whose supporters
  sit in two or more departments);
- likely duplicates across teams: active goals whose titles look alike (as kept by
  `bot.similar`), one of them the scope's, in two different org units.

Private goals count wherever their owner is in scope, since only the manager chain
and admins read these figures; a channel's summary asks for public goals only.
Each period's counts are kept (`AlignmentSnapshot`) so "last time" is what it was then.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import select

from bot import checkins
from bot.schedule import zone_of
from storage.models import (
    AlignmentSnapshot, CheckinPeriod, Goal, GoalEvent, GoalLikeness, KeyResult, Kudos, OrgUnit, Person, as_utc, utcnow,
)
from storage.vocabulary import Awaiting, Cadence, Category, Health, Level, PeriodState, Status, UnitKind

STALE_PERIODS = 2  # a goal with no update for this many check-in periods is stale
ALIGNED_LEVELS = (Level.TEAM, Level.INDIVIDUAL)  # the goals the alignment rate is about
STANDALONE = (Category.DEVELOPMENT, Category.PERSONAL)  # goals that may well support nothing: never "unaligned"
ABOVE_INDIVIDUAL = (Level.TEAM, Level.DEPARTMENT, Level.COMPANY)
RECENT = timedelta(days=31)  # check-in periods older than this are no one's current period


class ScopeKind(StrEnum):
    TENANT = "tenant"
    UNIT = "unit"
    MANAGER = "manager"


@dataclass(frozen=True)
class Scope:
    kind: ScopeKind
    id: int | None = None  # the unit's or the manager's id; None for the tenant

    @property
    def key(self) -> tuple[str, int]:
        return self.kind.value, self.id or 0


# What is read once ---------------------------------------------------------------------


@dataclass
class GoalRow:
    id: int
    number: int
    title: str
    level: str
    status: str
    health: str | None
    progress: float
    note: str
    private: bool
    parent_id: int | None
    owner_person_id: int | None
    owner_unit_id: int | None
    awaiting: str | None
    due_date: date | None
    last_update: datetime
    category: str = Category.BUSINESS

    @property
    def ref(self) -> str:
        return f"G-{self.number}"

    @property
    def alignable(self) -> bool:
        """Whether it should support a goal above it: a team or individual goal about the business."""
        return self.level in ALIGNED_LEVELS and self.category not in STANDALONE


@dataclass
class PersonRow:
    id: int
    name: str
    email: str
    manager_id: int | None
    unit_id: int | None
    timezone: str
    period_days: int  # how long their check-in period is (7 weekly, 14 biweekly)


@dataclass
class UnitRow:
    id: int
    name: str
    kind: str
    parent_id: int | None
    lead_id: int | None


@dataclass
class Reading:
    """One tenant's data as the figures need it, read at `now`; `since` starts the window for wins."""

    tenant_id: int
    now: datetime
    since: datetime
    people: dict[int, PersonRow]
    units: dict[int, UnitRow]
    goals: dict[int, GoalRow]
    periods: dict[int, list[tuple[date, datetime, str, bool]]]  # person -> recent (day, due, state, answered)
    achieved: set[int]  # goals achieved since `since`
    kr_hits: list[tuple[int, int]]  # (goal id, key result position) that reached their target since `since`
    kudos: list[tuple[int, int]]  # (kudos id, receiver id) given since `since`
    likeness: list[tuple[int, int, float]] = field(default_factory=list)  # (goal, other, score): likely duplicates
    children: dict[int, list[int]] = field(default_factory=dict)
    reports: dict[int, list[int]] = field(default_factory=dict)
    unit_children: dict[int, list[int]] = field(default_factory=dict)
    by_responsible: dict[int | None, list[GoalRow]] = field(default_factory=dict)  # goals each person answers for
    by_unit: dict[int | None, list[GoalRow]] = field(default_factory=dict)  # goals of each org unit (or its people)
    members: dict[int | None, list[int]] = field(default_factory=dict)  # people of each org unit
    owned_by_unit: dict[int | None, list[GoalRow]] = field(default_factory=dict)  # goals a unit itself owns
    kudos_to: Counter = field(default_factory=Counter)  # kudos received, by person
    hits_of: dict[int, list[int]] = field(default_factory=dict)  # key results on target, by goal
    look_alikes: dict[int, list[tuple[int, float]]] = field(default_factory=dict)  # goal -> (other, score)
    _below: dict[int, frozenset[int]] = field(default_factory=dict)
    _departments: dict[int, int] = field(default_factory=dict)  # a parent goal: how many departments support it
    _leads: dict[int, list[int]] | None = None
    _current: dict[date | None, dict[int, tuple[str, bool]]] = field(default_factory=dict)
    _flags: dict[int, tuple[bool, bool]] = field(default_factory=dict)  # goal -> (stale, overdue)
    _subtree: dict[int, frozenset[int]] = field(default_factory=dict)
    _department: dict[int | None, int | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for goal in self.goals.values():
            if goal.parent_id is not None:
                self.children.setdefault(goal.parent_id, []).append(goal.id)
            self.by_responsible.setdefault(self.responsible(goal), []).append(goal)
            self.by_unit.setdefault(self.unit_of(goal), []).append(goal)
            if goal.owner_unit_id is not None:
                self.owned_by_unit.setdefault(goal.owner_unit_id, []).append(goal)
        self.kudos_to = Counter(receiver for _, receiver in self.kudos)
        for goal_id, position in self.kr_hits:
            self.hits_of.setdefault(goal_id, []).append(position)
        for goal_id, other_id, score in self.likeness:
            self.look_alikes.setdefault(goal_id, []).append((other_id, score))
            self.look_alikes.setdefault(other_id, []).append((goal_id, score))
        for person in self.people.values():
            if person.manager_id is not None:
                self.reports.setdefault(person.manager_id, []).append(person.id)
            self.members.setdefault(person.unit_id, []).append(person.id)
        for unit in self.units.values():
            if unit.parent_id is not None:
                self.unit_children.setdefault(unit.parent_id, []).append(unit.id)

    def below(self, manager_id: int) -> frozenset[int]:
        """Everyone reporting to the manager, directly or through others (never the manager)."""
        found = self._below.get(manager_id)
        if found is None:
            found = self._below[manager_id] = _walk_down(self.reports, manager_id)
        return found

    def subtree(self, unit_id: int) -> frozenset[int]:
        """The unit and every unit below it."""
        found = self._subtree.get(unit_id)
        if found is None:
            seen: set[int] = set()
            stack = [unit_id]
            while stack:
                unit = stack.pop()
                if unit not in seen:
                    seen.add(unit)
                    stack.extend(self.unit_children.get(unit, ()))
            found = self._subtree[unit_id] = frozenset(seen)
        return found

    def department_of(self, unit_id: int | None) -> int | None:
        """The department a unit is in (the unit itself when it is one); None above or outside departments."""
        if unit_id not in self._department:
            self._department[unit_id] = _department(self.units, unit_id)
        return self._department[unit_id]

    def responsible(self, goal: GoalRow) -> int | None:
        """Who answers for a goal: its owner, or the lead of the unit that owns it."""
        if goal.owner_person_id is not None:
            return goal.owner_person_id
        unit = self.units.get(goal.owner_unit_id) if goal.owner_unit_id is not None else None
        return unit.lead_id if unit else None

    def unit_of(self, goal: GoalRow) -> int | None:
        """The org unit a goal belongs to: its owning unit, or its owner's."""
        if goal.owner_unit_id is not None:
            return goal.owner_unit_id
        owner = self.people.get(goal.owner_person_id) if goal.owner_person_id is not None else None
        return owner.unit_id if owner else None

    # Scopes ------------------------------------------------------------------------------

    def scope_people(self, scope: Scope) -> frozenset[int]:
        if scope.kind == ScopeKind.MANAGER:
            return self.below(scope.id)
        if scope.kind == ScopeKind.UNIT:
            return frozenset(person for unit in self.subtree(scope.id) for person in self.members.get(unit, ()))
        return frozenset(self.people)

    def current_periods(self, until: date | None = None) -> dict[int, tuple[str, bool]]:
        """Each person's current period as (state, answered): their latest dated before `until` (all, when
        None), unless it is older than their period: then they have had none since (off, or away long)."""
        found = self._current.get(until)
        if found is None:
            found = {}
            latest_possible = self.now if until is None else min(
                self.now, datetime.combine(until, datetime.min.time(), tzinfo=self.now.tzinfo))
            for person_id, rows in self.periods.items():
                person = self.people.get(person_id)
                if person is None:
                    continue
                oldest = latest_possible - timedelta(days=person.period_days + 1)
                best = None
                for day, due_at, state, answered in rows:
                    if (until is None or day < until) and due_at > oldest and (best is None or best[0] < due_at):
                        best = (due_at, state, answered)
                if best is not None:
                    found[person_id] = best[1:]
            self._current[until] = found
        return found

    def flags(self, goal: GoalRow) -> tuple[bool, bool]:
        """Whether a goal is stale (no update for two of its owner's check-in periods) and overdue (its due
        date has passed where its owner is)."""
        found = self._flags.get(goal.id)
        if found is None:
            person = self.people.get(self.responsible(goal) or -1)
            days = person.period_days if person else 7
            today = self.now.astimezone(zone_of(person.timezone if person else "UTC")).date()
            found = self._flags[goal.id] = (self.now - goal.last_update > timedelta(days=STALE_PERIODS * days),
                                            goal.due_date is not None and goal.due_date < today)
        return found

    def led_by(self, person_id: int) -> list[int]:
        """The org units a person leads."""
        if self._leads is None:
            self._leads = {}
            for unit in self.units.values():
                if unit.lead_id is not None:
                    self._leads.setdefault(unit.lead_id, []).append(unit.id)
        return self._leads.get(person_id, [])

    def departments_supporting(self, parent_id: int) -> int:
        """How many departments the active goals supporting this one sit in."""
        found = self._departments.get(parent_id)
        if found is None:
            departments = {self.department_of(self.unit_of(self.goals[child]))
                           for child in self.children.get(parent_id, ()) if self.goals[child].status == Status.ACTIVE}
            departments.discard(None)
            found = self._departments[parent_id] = len(departments)
        return found

    def scope_goals(self, scope: Scope, *, public_only: bool = False) -> list[GoalRow]:
        """The scope's goals (any status): a manager's, those its reports answer for; a unit's, those
        owned by it, a unit below it or someone in them; the tenant's, all."""
        if scope.kind == ScopeKind.MANAGER:
            chosen = [g for person in self.below(scope.id) for g in self.by_responsible.get(person, ())]
        elif scope.kind == ScopeKind.UNIT:
            chosen = [g for unit in self.subtree(scope.id) for g in self.by_unit.get(unit, ())]
        else:
            chosen = list(self.goals.values())
        return [g for g in chosen if not (public_only and g.private)]


async def people_and_units(session: AsyncSession, tenant_id: int) -> tuple[dict[int, PersonRow], dict[int, UnitRow]]:
    """A tenant's people (with the length of their check-in period) and org units, in three queries."""
    defaults = await checkins.load_defaults(session, [tenant_id])
    # The big reads go straight to the connection: plain rows, without the ORM's per-row work.
    connection = await session.connection()
    people = {}
    for row in (await connection.execute(
        select(Person.id, Person.name, Person.email, Person.manager_id, Person.org_unit_id, Person.timezone,
               Person.checkin_own, Person.checkin_cadence).where(Person.tenant_id == tenant_id)
    )).all():
        cadence = row.checkin_cadence if row.checkin_own else defaults.for_person(tenant_id, row.org_unit_id)[0].cadence
        people[row.id] = PersonRow(row.id, row.name, row.email, row.manager_id, row.org_unit_id, row.timezone,
                                   14 if cadence == Cadence.BIWEEKLY else 7)
    units = {row.id: UnitRow(row.id, row.name, row.kind, row.parent_id, row.lead_id) for row in (await connection.execute(
        select(OrgUnit.id, OrgUnit.name, OrgUnit.kind, OrgUnit.parent_id, OrgUnit.lead_id)
        .where(OrgUnit.tenant_id == tenant_id)
    )).all()}
    return people, units


SCOPED_UP_TO = 2_000  # a manager with fewer people below is read alone; above, the whole tenant is read


async def read(session: AsyncSession, tenant_id: int, now: datetime | None = None,
               since: datetime | None = None, *, manager: int | None = None) -> Reading:
    """Read what the figures need of one tenant, in a fixed number of queries. With `manager`, only what
    that manager's figures need (the people and units whole; the goals, periods, wins, kudos and likely
    duplicates of those below them, the goals theirs support or look like, and how many departments
    support each)."""
    now = now or utcnow()
    since = since or now - timedelta(days=7)
    people, units = await people_and_units(session, tenant_id)
    connection = await session.connection()
    below = None
    if manager is not None:
        below = _below(people, manager)
        if len(below) > SCOPED_UP_TO:
            below = None  # most of the tenant: reading it whole is cheaper than naming them all
    goal_columns = (Goal.id, Goal.number, Goal.title, Goal.level, Goal.status, Goal.health, Goal.progress, Goal.note,
                    Goal.private, Goal.parent_id, Goal.owner_person_id, Goal.owner_unit_id, Goal.awaiting,
                    Goal.due_date, Goal.progress_updated_at, Goal.approved_at, Goal.created_at, Goal.category)
    open_goals = (Goal.tenant_id == tenant_id, Goal.status != Status.ARCHIVED)
    goals: dict[int, GoalRow] = {}

    async def take(query) -> None:
        for row in (await connection.execute(query)).all():
            last = max(as_utc(moment) for moment in (row.progress_updated_at, row.approved_at, row.created_at) if moment)
            goals[row.id] = GoalRow(row.id, row.number, row.title, row.level, row.status, row.health, row.progress,
                                    row.note, row.private, row.parent_id, row.owner_person_id, row.owner_unit_id,
                                    row.awaiting, row.due_date, last, row.category)

    departments: dict[int, int] = {}
    likeness = select(GoalLikeness.goal_id, GoalLikeness.other_id, GoalLikeness.score).where(
        GoalLikeness.tenant_id == tenant_id)
    if below is None:
        await take(select(*goal_columns).where(*open_goals))
        pairs = (await connection.execute(likeness)).all()
    else:
        led = [unit.id for unit in units.values() if unit.lead_id in below]

        def owned_below(goal):
            return sa.or_(goal.owner_person_id.in_(below), goal.owner_unit_id.in_(led))

        await take(select(*goal_columns).where(*open_goals, owned_below(Goal)))
        one, other = aliased(Goal), aliased(Goal)
        pairs = (await connection.execute(
            likeness.join(one, one.id == GoalLikeness.goal_id).join(other, other.id == GoalLikeness.other_id)
            .where(sa.or_(owned_below(one), owned_below(other)))
        )).all()
        theirs = set(goals)
        parents = {goal.parent_id for goal in goals.values() if goal.parent_id is not None} - theirs
        alike = {goal_id for pair in pairs for goal_id in pair[:2]} - theirs - parents
        if parents or alike:
            await take(select(*goal_columns).where(*open_goals, Goal.id.in_(parents | alike)))
        departments = await _departments_supporting(connection, theirs | parents, people, units)
    person_filter = (lambda column: column.in_(below)) if below is not None else (lambda column: sa.true())
    # The scope's goals as a condition on their owners (a short list), not a list of every goal's id.
    theirs_only = (sa.or_(Goal.owner_person_id.in_(below), Goal.owner_unit_id.in_(led))
                   if below is not None else sa.true())
    periods: dict[int, list[tuple[date, datetime, str, bool]]] = {}
    for person_id, day, due_at, state, answered_at in (await connection.execute(
        select(CheckinPeriod.person_id, CheckinPeriod.period, CheckinPeriod.due_at, CheckinPeriod.state,
               CheckinPeriod.answered_at)
        .where(CheckinPeriod.tenant_id == tenant_id, CheckinPeriod.due_at <= now, CheckinPeriod.due_at > now - RECENT,
               person_filter(CheckinPeriod.person_id))
    )).all():
        periods.setdefault(person_id, []).append((day, as_utc(due_at), state, answered_at is not None))
    events = (await connection.execute(
        select(GoalEvent.goal_id, GoalEvent.action, GoalEvent.after)
        .join(Goal, Goal.id == GoalEvent.goal_id)
        .where(GoalEvent.tenant_id == tenant_id, GoalEvent.at > since, GoalEvent.at <= now,
               GoalEvent.action.in_(("achieved", "key result updated")), theirs_only)
    )).all()
    achieved = {goal_id for goal_id, action, _ in events if action == "achieved" and goal_id in goals
                and goals[goal_id].status == Status.ACHIEVED}
    targets = {(row.goal_id, row.position): row for row in (await connection.execute(
        select(KeyResult.goal_id, KeyResult.position, KeyResult.start, KeyResult.target, KeyResult.current)
        .join(Goal, Goal.id == KeyResult.goal_id).where(Goal.tenant_id == tenant_id,
                                                        KeyResult.updated_at > since, theirs_only)
    )).all()}
    kr_hits = sorted({key for goal_id, action, after in events if action == "key result updated"
                      for key in [(goal_id, (after or {}).get("key_result"))] if key in targets
                      and _reached(targets[key])})
    kudos = [(row.id, row.receiver_id) for row in (await connection.execute(
        select(Kudos.id, Kudos.receiver_id).where(Kudos.tenant_id == tenant_id, Kudos.created_at > since,
                                                  Kudos.created_at <= now, person_filter(Kudos.receiver_id))
    )).all()]
    reading = Reading(tenant_id, now, since, people, units, goals, periods, achieved, kr_hits, kudos,
                      likeness=[tuple(pair) for pair in pairs])
    reading._departments.update(departments)  # read whole above: this reading has not all the supporters
    return reading


async def _departments_supporting(connection, goal_ids: set[int], people: dict[int, PersonRow],
                                  units: dict[int, UnitRow]) -> dict[int, int]:
    """How many departments the active goals supporting each of these sit in, in one query."""
    if not goal_ids:
        return {}
    pairs = (await connection.execute(
        select(Goal.parent_id, Goal.owner_unit_id, Goal.owner_person_id).distinct()
        .where(Goal.parent_id.in_(goal_ids), Goal.status == Status.ACTIVE)
    )).all()
    found: dict[int, set[int]] = {goal_id: set() for goal_id in goal_ids}
    department_of: dict[int | None, int | None] = {}
    for parent, unit, owner in pairs:
        unit = unit if unit is not None else (people[owner].unit_id if owner in people else None)
        if unit not in department_of:
            department_of[unit] = _department(units, unit)
        department = department_of[unit]
        if department is not None:
            found[parent].add(department)
    return {goal_id: len(departments) for goal_id, departments in found.items()}


def _below(people: dict[int, PersonRow], manager: int) -> frozenset[int]:
    """Everyone reporting to the manager, directly or not, from the people as read."""
    reports: dict[int, list[int]] = {}
    for person in people.values():
        if person.manager_id is not None:
            reports.setdefault(person.manager_id, []).append(person.id)
    return _walk_down(reports, manager)


def _walk_down(reports: dict[int, list[int]], manager: int) -> frozenset[int]:
    """Everyone below the manager in the reporting lines (the manager never, even in a loop)."""
    seen: set[int] = set()
    stack = list(reports.get(manager, ()))
    while stack:
        person = stack.pop()
        if person not in seen and person != manager:
            seen.add(person)
            stack.extend(reports.get(person, ()))
    return frozenset(seen)


def _department(units: dict[int, UnitRow], unit_id: int | None) -> int | None:
    """The department a unit is in (the unit itself when it is one)."""
    seen: set[int] = set()
    while unit_id is not None and unit_id not in seen:
        seen.add(unit_id)
        unit = units.get(unit_id)
        if unit is None:
            return None
        if unit.kind == UnitKind.DEPARTMENT:
            return unit_id
        unit_id = unit.parent_id
    return None


def _reached(kr) -> bool:
    """Whether a key result is at or past its target, for rising and falling metrics."""
    return kr.current >= kr.target if kr.target >= kr.start else kr.current <= kr.target


# The figures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Duplicate:
    """Two active goals in different org units whose titles look alike (`goal` is the scope's), with the
    likeness 0-100 and the name of each one's unit."""

    goal: GoalRow
    other: GoalRow
    score: float
    unit: str
    other_unit: str


@dataclass
class Figures:
    """One scope's figures at one instant. `counts()` is what a snapshot keeps."""

    scope: Scope
    aligned: int
    alignable: int
    individual_linked: int
    individual: int
    answered: int
    asked: int
    unanswered: list[PersonRow]  # asked in their current period, not answered yet
    health: dict[str, int]
    at_risk: list[GoalRow]  # at risk or off track, the worst first
    blockers: list[GoalRow]
    stale: list[GoalRow]
    unaligned: list[GoalRow]
    overdue: list[GoalRow]
    pending: list[GoalRow]  # proposals waiting for the manager's decision
    achieved: list[GoalRow]
    kr_hits: list[tuple[GoalRow, int]]
    kudos: int
    top: list[GoalRow]
    shared: list[tuple[GoalRow, int]]  # a parent and how many departments its supporters are in
    duplicates: list[Duplicate]  # likely duplicates across teams, the likest first

    @property
    def alignment_rate(self) -> float | None:
        return _share(self.aligned, self.alignable)

    @property
    def individual_rate(self) -> float | None:
        return _share(self.individual_linked, self.individual)

    @property
    def response_rate(self) -> float | None:
        return _share(self.answered, self.asked)

    def counts(self) -> dict[str, float | int | None]:
        return {
            "alignment_rate": self.alignment_rate, "aligned": self.aligned, "alignable": self.alignable,
            "individual_rate": self.individual_rate, "individual_linked": self.individual_linked,
            "individual": self.individual, "response_rate": self.response_rate, "answered": self.answered,
            "asked": self.asked, **{f"health_{name}": count for name, count in self.health.items()},
            "at_risk": len(self.at_risk), "blockers": len(self.blockers), "stale": len(self.stale),
            "unaligned": len(self.unaligned), "overdue": len(self.overdue), "pending": len(self.pending),
            "achieved": len(self.achieved), "kr_hits": len(self.kr_hits), "kudos": self.kudos,
            "shared": len(self.shared), "duplicates": len(self.duplicates),
        }


def _share(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


HEALTH_ORDER = {Health.BLOCKED: 0, Health.OFF_TRACK: 1, Health.AT_RISK: 2}


def figures(reading: Reading, scope: Scope, *, public_only: bool = False, until: date | None = None) -> Figures:
    """The scope's figures from one reading; check-in responses for the period ending before `until`."""
    goals = reading.scope_goals(scope, public_only=public_only)
    people = reading.scope_people(scope)
    active = [g for g in goals if g.status == Status.ACTIVE]
    alignable = [g for g in active if g.alignable]
    individual = [g for g in active if g.level == Level.INDIVIDUAL]
    parent_level = {g.id: reading.goals[g.parent_id].level for g in individual
                    if g.parent_id is not None and g.parent_id in reading.goals}
    asked = answered = 0
    unanswered = []
    current = reading.current_periods(until)
    for person in people:
        state, was_answered = current.get(person, ("", False))
        if state == PeriodState.PROMPTED:
            asked += 1
            answered += was_answered
            if not was_answered:
                unanswered.append(reading.people[person])
    health = Counter(g.health or "none" for g in active)
    by_number = sorted(active, key=lambda g: g.number)
    pending = []
    if scope.kind == ScopeKind.MANAGER:
        pending = [g for g in sorted(goals, key=lambda g: g.number)
                   if g.status == Status.PROPOSED and g.awaiting == Awaiting.MANAGER and g.owner_person_id is not None
                   and reading.people.get(g.owner_person_id) is not None
                   and reading.people[g.owner_person_id].manager_id == scope.id]
    in_scope = {g.id for g in goals}
    return Figures(
        scope=scope,
        aligned=sum(1 for g in alignable if g.parent_id is not None),
        alignable=len(alignable),
        individual_linked=sum(1 for g in individual if parent_level.get(g.id) in ABOVE_INDIVIDUAL),
        individual=len(individual),
        answered=answered,
        asked=asked,
        unanswered=sorted(unanswered, key=lambda person: person.name.lower()),
        health={name: health.get(name, 0) for name in (*(h.value for h in Health), "none")},
        at_risk=sorted((g for g in active if g.health in (Health.AT_RISK, Health.OFF_TRACK)),
                       key=lambda g: (HEALTH_ORDER.get(g.health, 9), g.number)),
        blockers=[g for g in by_number if g.health == Health.BLOCKED],
        stale=[g for g in by_number if reading.flags(g)[0]],
        unaligned=[g for g in by_number if g.alignable and g.parent_id is None],
        overdue=[g for g in by_number if reading.flags(g)[1]],
        pending=pending,
        achieved=[g for g in sorted(goals, key=lambda g: g.number) if g.id in reading.achieved],
        kr_hits=[(g, position) for g in sorted(goals, key=lambda g: g.number) for position in reading.hits_of.get(g.id, ())],
        kudos=sum(reading.kudos_to[person] for person in people),
        top=_top(reading, scope, active),
        shared=_shared(reading, in_scope, public_only),
        duplicates=_duplicates(reading, scope, in_scope, public_only),
    )


def _top(reading: Reading, scope: Scope, active: list[GoalRow]) -> list[GoalRow]:
    """The goals at the top of the scope: the unit's own (a manager's: the units they lead), or the company's."""
    if scope.kind == ScopeKind.TENANT:
        return [g for g in sorted(active, key=lambda g: g.number) if g.level == Level.COMPANY]
    if scope.kind == ScopeKind.UNIT:
        units = [scope.id]
    else:
        units = reading.led_by(scope.id)
    return sorted((g for unit in units for g in reading.owned_by_unit.get(unit, ()) if g.status == Status.ACTIVE),
                  key=lambda g: (Level(g.level).rank, g.number))


def _shared(reading: Reading, in_scope: set[int], public_only: bool) -> list[tuple[GoalRow, int]]:
    """Parents that the scope's goals support, or that are the scope's, whose active supporters sit in
    two or more departments; the most departments first."""
    found = []
    parents = {reading.goals[i].parent_id for i in in_scope if reading.goals[i].parent_id in reading.goals} | in_scope
    for parent_id in parents:
        parent = reading.goals[parent_id]
        if parent.status != Status.ACTIVE or (public_only and parent.private):
            continue
        departments = reading.departments_supporting(parent_id)
        if departments >= 2:
            found.append((parent, departments))
    return sorted(found, key=lambda pair: (-pair[1], pair[0].number))


def _duplicates(reading: Reading, scope: Scope, in_scope: set[int], public_only: bool) -> list[Duplicate]:
    """Active goals of the scope whose titles look like another active goal's in a different org unit, each
    pair once. A goal outside a manager's scope is named only when public (it is not theirs to see
    otherwise); a parent and the goal supporting it are a cascade, not a duplicate."""
    found = []
    seen: set[tuple[int, int]] = set()
    for goal_id in sorted(in_scope):
        goal = reading.goals[goal_id]
        if goal.status != Status.ACTIVE:
            continue
        for other_id, score in reading.look_alikes.get(goal_id, ()):
            other = reading.goals.get(other_id)
            pair = (min(goal_id, other_id), max(goal_id, other_id))
            if other is None or other.status != Status.ACTIVE or pair in seen:
                continue
            if other.private and (public_only or (scope.kind == ScopeKind.MANAGER and other_id not in in_scope)):
                continue
            if goal.parent_id == other_id or other.parent_id == goal_id:
                continue
            unit, other_unit = reading.unit_of(goal), reading.unit_of(other)
            if unit is None or other_unit is None or unit == other_unit:
                continue
            seen.add(pair)
            found.append(Duplicate(goal, other, score, reading.units[unit].name, reading.units[other_unit].name))
    return sorted(found, key=lambda d: (-d.score, d.goal.number, d.other.number))


def every_figure(reading: Reading, scopes: Iterable[Scope], *, public_only: bool = False,
                 until: date | None = None) -> dict[Scope, Figures]:
    return {scope: figures(reading, scope, public_only=public_only, until=until) for scope in scopes}


def managers(reading: Reading) -> list[int]:
    """Everyone with at least one report."""
    return sorted(manager for manager in reading.reports if manager in reading.people)


# Snapshots ------------------------------------------------------------------------------


async def keep(session: AsyncSession, tenant_id: int, period: date, found: Iterable[Figures]) -> None:
    """Keep (or refresh) the counts of these scopes for a period, in one statement."""
    from storage.repository import upsert_many

    rows = [{"tenant_id": tenant_id, "scope_kind": f.scope.kind.value, "scope_id": f.scope.id or 0,
             "period": period, "figures": f.counts(), "taken_at": utcnow()} for f in found]
    await upsert_many(session, AlignmentSnapshot, rows, ("tenant_id", "scope_kind", "scope_id", "period"),
                      ("figures", "taken_at"))


async def before(session: AsyncSession, tenant_id: int, scopes: Iterable[Scope], period: date) -> dict[Scope, dict]:
    """Each scope's counts for its latest period before `period` (what "last time" was, then)."""
    scopes = list(scopes)
    if not scopes:
        return {}
    by_key = {scope.key: scope for scope in scopes}
    latest = (
        select(AlignmentSnapshot.scope_kind, AlignmentSnapshot.scope_id,
               sa.func.max(AlignmentSnapshot.period).label("period"))
        .where(AlignmentSnapshot.tenant_id == tenant_id, AlignmentSnapshot.period < period,
               sa.tuple_(AlignmentSnapshot.scope_kind, AlignmentSnapshot.scope_id).in_(list(by_key)))
        .group_by(AlignmentSnapshot.scope_kind, AlignmentSnapshot.scope_id)
        .subquery()
    )
    rows = (await session.execute(
        select(AlignmentSnapshot.scope_kind, AlignmentSnapshot.scope_id, AlignmentSnapshot.figures)
        .join(latest, sa.and_(latest.c.scope_kind == AlignmentSnapshot.scope_kind,
                              latest.c.scope_id == AlignmentSnapshot.scope_id,
                              latest.c.period == AlignmentSnapshot.period))
        .where(AlignmentSnapshot.tenant_id == tenant_id)
    )).all()
    return {by_key[(kind, scope_id)]: counts for kind, scope_id, counts in rows if (kind, scope_id) in by_key}


def week_of(moment: datetime) -> date:
    """The Monday (UTC) of the week an instant is in: the period of unit and tenant figures."""
    day = moment.date()
    return day - timedelta(days=day.weekday())
