"""Owner nudges: one short direct message to the owner of a goal that supports nothing or has had no update
for two check-in periods, in the clock's round that brings their check-in prompt.

For a goal that supports nothing, the nudge suggests the most likely parent, with a
button that links it: org position first (a goal of their team, then of their
department, then the company's), title likeness between goals of the same standing.
A goal is nudged about at most once every two weeks; `goals settings nudges off`
stops them. The round reads what it needs for every prompted person at once (a
fixed number of statements, however many people are due).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from rapidfuzz import fuzz
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot.alignment import ALIGNED_LEVELS, STALE_PERIODS
from bot.messages import Button, Buttons, Context, Do, Header, Paragraph, ProgressLine, Reply, ReplyBuilder, reply_to_dict
from bot.outbox import Kind, direct_row
from storage import repository
from storage.models import Goal, OrgUnit, as_utc
from storage.vocabulary import Level, Status, UnitKind

EVERY = timedelta(days=14)  # a goal is nudged about at most this often
# A day's room, so the prompt two weeks on (which a change of clocks may bring an hour early) nudges again.
AGAIN_AFTER = EVERY - timedelta(days=1)
PER_MESSAGE = 3  # goals in one nudge
TIERS = ("your team's goal", "your department's goal", "a company goal")


@dataclass(frozen=True)
class Due:
    """A person whose check-in prompt this round brings."""

    person_id: int
    tenant_id: int
    unit_id: int | None
    platform: str
    period_days: int  # their check-in period: 7 weekly, 14 biweekly
    day: str  # their prompt's local date, naming this round's nudge


@dataclass
class Nudged:
    """One goal in a nudge: why, and for an unaligned goal the parent suggested (with its standing)."""

    goal: Goal
    stale: bool
    parent: Goal | None = None
    standing: str = ""


def suggest(goal, candidates: list[tuple[int, object]]):
    """The most likely parent among (tier, goal) candidates: the nearest tier, then the likeliest title; only
    goals at a higher level than `goal` may be its parent."""
    rank = Level(goal.level).rank
    best, key = None, None
    for tier, candidate in candidates:
        if candidate.id == goal.id or Level(candidate.level).rank >= rank:
            continue
        score = fuzz.token_set_ratio(goal.title.lower(), candidate.title.lower())
        order = (tier, -score, candidate.number)
        if key is None or order < key:
            best, key = (tier, candidate), order
    return best


async def queue(session: AsyncSession, due: list[Due], now: datetime, wall: datetime, owner_filter) -> list[dict]:
    """Outbox rows nudging the due people about their goals that support nothing or went stale, and each
    nudged goal marked. `owner_filter` is the round's condition for the due people (joined as Person)."""
    from storage.models import Person

    if not due:
        return []
    by_person = {item.person_id: item for item in due}
    stale_before = now - STALE_PERIODS * timedelta(days=7)
    last_update = sa.func.coalesce(Goal.progress_updated_at, Goal.approved_at, Goal.created_at)
    goals = [goal for goal in (await session.execute(
        select(Goal).join(Person, Person.id == Goal.owner_person_id)
        .where(*owner_filter, Person.nudges_off.is_(False), Goal.status == Status.ACTIVE,
               sa.or_(Goal.nudged_at.is_(None), Goal.nudged_at < now - AGAIN_AFTER),
               sa.or_(sa.and_(Goal.parent_id.is_(None), Goal.level.in_(ALIGNED_LEVELS)), last_update < stale_before))
        .order_by(Goal.number)
    )).scalars() if goal.owner_person_id in by_person]
    found: dict[int, list[Nudged]] = defaultdict(list)
    for goal in goals:
        person = by_person[goal.owner_person_id]
        updated = max(as_utc(m) for m in (goal.progress_updated_at, goal.approved_at, goal.created_at) if m)
        stale = now - updated > STALE_PERIODS * timedelta(days=person.period_days)
        unaligned = goal.parent_id is None and goal.level in ALIGNED_LEVELS
        if stale or unaligned:
            found[person.person_id].append(Nudged(goal, stale and not unaligned))
    if not found:
        return []
    tenants = {by_person[person].tenant_id for person in found}
    units = {unit.id: unit for unit in (await session.execute(
        select(OrgUnit.id, OrgUnit.kind, OrgUnit.parent_id).where(OrgUnit.tenant_id.in_(tenants)))).all()}
    nearby: dict[int, tuple[int | None, int | None]] = {}  # person -> (their team, their department)
    for person in found:
        nearby[person] = _team_and_department(units, by_person[person].unit_id)
    wanted = {unit for pair in nearby.values() for unit in pair if unit is not None}
    parents = (await session.execute(
        select(Goal).where(Goal.tenant_id.in_(tenants), Goal.status == Status.ACTIVE, Goal.private.is_(False),
                           Goal.level != Level.INDIVIDUAL,
                           sa.or_(Goal.owner_unit_id.in_(wanted), Goal.level == Level.COMPANY))
    )).scalars().all()
    by_unit: dict[int | None, list[Goal]] = defaultdict(list)
    company: dict[int, list[Goal]] = defaultdict(list)
    for parent in parents:
        by_unit[parent.owner_unit_id].append(parent)
        if parent.level == Level.COMPANY:
            company[parent.tenant_id].append(parent)
    rows, marked = [], []
    for person_id, items in found.items():
        person = by_person[person_id]
        team, department = nearby[person_id]
        candidates = [*((0, g) for g in by_unit.get(team, ()) if team is not None),
                      *((1, g) for g in by_unit.get(department, ()) if department is not None),
                      *((2, g) for g in company.get(person.tenant_id, ()))]
        items = sorted(items, key=lambda item: (item.stale, item.goal.number))[:PER_MESSAGE]
        for item in items:
            if not item.stale:
                best = suggest(item.goal, candidates)
                if best is not None:
                    item.standing, item.parent = TIERS[best[0]], best[1]
            marked.append({"id": item.goal.id, "nudged_at": now})
        rows.append(direct_row(person.tenant_id, person_id, person.platform, Kind.OWNER_NUDGE,
                               f"owner-nudge:{person_id}:{person.day}", reply_to_dict(render(items)), wall,
                               wall + timedelta(days=person.period_days)))
    await repository.update_many(session, Goal, "id", marked)
    return rows


def _team_and_department(units: dict, unit_id: int | None) -> tuple[int | None, int | None]:
    """The team a person's unit is (if it is one) and the department above it (or it)."""
    team = department = None
    seen: set[int] = set()
    while unit_id is not None and unit_id not in seen and unit_id in units:
        seen.add(unit_id)
        unit = units[unit_id]
        if unit.kind == UnitKind.TEAM and team is None and department is None:
            team = unit.id
        if unit.kind == UnitKind.DEPARTMENT:
            department = unit.id
            break
        unit_id = unit.parent_id
    return team, department


def render(items: list[Nudged]) -> Reply:
    """The nudge: each goal with why, the suggested parent and a button that links it."""
    builder = ReplyBuilder().add(Header("A nudge about your goals"))
    for item in items:
        goal = item.goal
        builder.add(ProgressLine(ref=goal.ref, label=goal.title, percent=goal.progress, health=goal.health))
        if item.stale:
            builder.add(Paragraph(f"{goal.ref} has had no update for two check-ins. Give it one in your check-in, "
                                  f"or close it: goals done {goal.ref}, goals archive {goal.ref}."),
                        Buttons((Button(f"Open {goal.ref}", Do.SHOW, goal.ref, f"goals show {goal.ref}"),)))
        elif item.parent is not None:
            parent = item.parent
            builder.add(Paragraph(f"{goal.ref} supports no goal yet. It looks like it belongs under {parent.ref} "
                                  f"{parent.title} ({item.standing})."),
                        Buttons((Button(f"Link to {parent.ref}", Do.LINK, f"{goal.ref} {parent.ref}",
                                        f"goals link {goal.ref} {parent.ref}", "primary"),
                                 Button(f"Open {parent.ref}", Do.SHOW, parent.ref, f"goals show {parent.ref}"))))
        else:
            builder.add(Paragraph(f"{goal.ref} supports no goal yet. Link it to the goal it serves: "
                                  f"goals link {goal.ref} G-<n> (goals tree shows them)."))
    builder.add(Context("One nudge per goal every two weeks at most. Stop them: goals settings nudges off"))
    return builder.build()
