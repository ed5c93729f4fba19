"""Owner nudges: one short direct message to the owner of a goal that supports nothing or has had no update
for two check-in periods, in the clock's round that brings their check-in prompt.

For a goal that supports nothing, the nudge suggests the most likely parent, with a
button that links it: among the goals whose titles look like it, org position first
(a goal of their team, then of their department, then the company's), then the
likeliest title; when none looks like it, it names the goals it could support.
Development and personal goals may well stand alone: they are not nudged to link.
A goal is stale after two prompts with no update. A goal is nudged about at most
once every two weeks; `goals settings nudges off` stops them. The round reads what it needs for every prompted person at once (a
fixed number of statements, however many people are due).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from rapidfuzz import fuzz
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot.alignment import ALIGNED_LEVELS, RECENT, STALE_PERIODS, STANDALONE
from bot.messages import Button, Buttons, Context, Do, Header, Paragraph, ProgressLine, Reply, ReplyBuilder, reply_to_dict
from bot.outbox import Kind, direct_row
from storage import repository
from storage.models import CheckinPeriod, Goal, OrgUnit, Person, as_utc
from storage.vocabulary import Level, PeriodState, Status, UnitKind

EVERY = timedelta(days=14)  # a goal is nudged about at most this often
# A day's room, so the prompt two weeks on (which a change of clocks may bring an hour early) nudges again.
AGAIN_AFTER = EVERY - timedelta(days=1)
PER_MESSAGE = 3  # goals in one nudge
TIERS = ("your team's goal", "your department's goal", "a company goal", "a goal elsewhere with a title like it")
SEARCHED = 200  # goals a round looks for a parent for across the organisation (the rest: in a later round)


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
    options: list = field(default_factory=list)  # goals it could support, when none looks like it


SUGGEST_SCORE = 50  # a parent is suggested only when its title is at least this like the goal's (0-100)


def suggest(goal, candidates: list[tuple[int, object]]):
    """The most likely parent among (tier, goal) candidates whose titles look like the goal's: the nearest
    tier, then the likeliest title; only goals at a higher level than `goal` may be its parent."""
    rank = Level(goal.level).rank
    best, key = None, None
    for tier, candidate in candidates:
        if candidate.id == goal.id or Level(candidate.level).rank >= rank:
            continue
        score = fuzz.token_set_ratio(goal.title.lower(), candidate.title.lower())
        order = (tier, -score, candidate.number)
        if score >= SUGGEST_SCORE and (key is None or order < key):
            best, key = (tier, candidate), order
    return best


async def queue(session: AsyncSession, due: list[Due], now: datetime, wall: datetime, owner_filter) -> list[dict]:
    """Outbox rows nudging the due people about the goals they answer for (their own, and their units' when
    they lead one) that support nothing or went stale, and each nudged goal marked. `owner_filter` is the
    round's condition for the due people (as Person)."""
    if not due:
        return []
    by_person = {item.person_id: item for item in due}
    last_update = sa.func.coalesce(Goal.progress_updated_at, Goal.approved_at, Goal.created_at)
    wanted = (Person.nudges_off.is_(False), Goal.status == Status.ACTIVE,
              sa.or_(Goal.nudged_at.is_(None), Goal.nudged_at < now - AGAIN_AFTER),
              sa.or_(sa.and_(Goal.parent_id.is_(None), Goal.level.in_(ALIGNED_LEVELS), Goal.category.not_in(STANDALONE)),
                     last_update < now - STALE_PERIODS * timedelta(days=7)))
    owned = select(Goal, Person.id).join(Person, Person.id == Goal.owner_person_id).where(*owner_filter, *wanted)
    led = (select(Goal, Person.id).join(OrgUnit, OrgUnit.id == Goal.owner_unit_id)
           .join(Person, Person.id == OrgUnit.lead_id).where(*owner_filter, *wanted))
    goals = [(goal, person) for query in (owned, led) for goal, person in (await session.execute(query)).all()
             if person in by_person]
    # When each due person was asked before (a goal is stale after two prompts with no update, not before).
    asked: dict[int, list[datetime]] = defaultdict(list)
    for person, due_at in (await session.execute(
        select(CheckinPeriod.person_id, CheckinPeriod.due_at).join(Person, Person.id == CheckinPeriod.person_id)
        .where(*owner_filter, CheckinPeriod.state == PeriodState.PROMPTED, CheckinPeriod.due_at < now,
               CheckinPeriod.due_at > now - RECENT)
    )).all():
        asked[person].append(as_utc(due_at))
    found: dict[int, list[Nudged]] = defaultdict(list)
    for goal, person_id in sorted(goals, key=lambda pair: pair[0].number):
        person = by_person[person_id]
        updated = max(as_utc(m) for m in (goal.progress_updated_at, goal.approved_at, goal.created_at) if m)
        stale = (now - updated > STALE_PERIODS * timedelta(days=person.period_days)
                 and sum(1 for at in asked[person_id] if at > updated) >= STALE_PERIODS)
        unaligned = goal.parent_id is None and goal.level in ALIGNED_LEVELS and goal.category not in STANDALONE
        if stale or unaligned:
            found[person_id].append(Nudged(goal, stale and not unaligned))
    if not found:
        return []
    tenants = {by_person[person].tenant_id for person in found}
    units = {unit.id: unit for unit in (await session.execute(
        select(OrgUnit.id, OrgUnit.kind, OrgUnit.parent_id).where(OrgUnit.tenant_id.in_(tenants)))).all()}
    nearby: dict[int, tuple[int | None, int | None]] = {}  # goal -> (its team, its department)
    for person_id, items in found.items():
        for item in items:
            owner_unit = item.goal.owner_unit_id
            nearby[item.goal.id] = _team_and_department(units, owner_unit if owner_unit is not None
                                                        else by_person[person_id].unit_id)
    near = {unit for pair in nearby.values() for unit in pair if unit is not None}
    parents = (await session.execute(
        select(Goal).where(Goal.tenant_id.in_(tenants), Goal.status == Status.ACTIVE, Goal.private.is_(False),
                           Goal.level != Level.INDIVIDUAL,
                           sa.or_(Goal.owner_unit_id.in_(near), Goal.level == Level.COMPANY))
        .order_by(Goal.number)
    )).scalars().all()
    by_unit: dict[int | None, list[Goal]] = defaultdict(list)
    company: dict[int, list[Goal]] = defaultdict(list)
    for parent in parents:
        by_unit[parent.owner_unit_id].append(parent)
        if parent.level == Level.COMPANY:
            company[parent.tenant_id].append(parent)
    rows, marked = [], []
    chosen: dict[int, list[Nudged]] = {}
    for person_id, items in found.items():
        person = by_person[person_id]
        items = sorted(items, key=lambda item: (item.stale, item.goal.number))[:PER_MESSAGE]
        for item in items:
            if not item.stale:
                team, department = nearby[item.goal.id]
                candidates = [*((0, g) for g in by_unit.get(team, ()) if team is not None),
                              *((1, g) for g in by_unit.get(department, ()) if department is not None),
                              *((2, g) for g in company.get(person.tenant_id, ()))]
                best = suggest(item.goal, candidates)
                if best is not None:
                    item.standing, item.parent = TIERS[best[0]], best[1]
                else:
                    rank = Level(item.goal.level).rank
                    item.options = [g for _, g in candidates if Level(g.level).rank < rank][:PER_MESSAGE]
            marked.append({"id": item.goal.id, "nudged_at": now})
        chosen[person_id] = items
    await _elsewhere(session, [(person_id, item) for person_id, items in chosen.items() for item in items
                               if not item.stale and item.parent is None][:SEARCHED])
    for person_id, items in chosen.items():
        person = by_person[person_id]
        rows.append(direct_row(person.tenant_id, person_id, person.platform, Kind.OWNER_NUDGE,
                               f"owner-nudge:{person_id}:{person.day}", reply_to_dict(render(items)), wall,
                               wall + timedelta(days=person.period_days)))
    await repository.update_many(session, Goal, "id", marked)
    return rows


async def _elsewhere(session: AsyncSession, items: list[tuple[int, Nudged]]) -> None:
    """For goals nothing near them looks like: the likeliest parent anywhere in the organisation that its owner
    may see, through the one similarity search (bot.similar)."""
    if not items:
        return
    from bot.people import Viewer
    from bot.similar import look_alikes
    from storage.models import Tenant

    people = {person.id: person for person in (await session.execute(
        select(Person).where(Person.id.in_({person_id for person_id, _ in items})))).scalars()}
    tenants = {tenant.id: tenant for tenant in (await session.execute(
        select(Tenant).where(Tenant.id.in_({person.tenant_id for person in people.values()})))).scalars()}
    for person_id, item in items:
        person = people[person_id]
        higher = [level.value for level in Level if level.rank < Level(item.goal.level).rank]
        found = await look_alikes(session, tenants[person.tenant_id], item.goal.title,
                                  viewer=Viewer(person, tenants[person.tenant_id], "clock"), statuses=(Status.ACTIVE,),
                                  levels=higher, exclude={item.goal.id}, limit=1, cutoff=SUGGEST_SCORE)
        if found:
            item.parent, item.standing, item.options = await session.get(Goal, found[0].id), TIERS[3], []


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
            # A unit's goal is not in its lead's check-in: it is updated by itself.
            update = ("Give it one in your check-in" if goal.owner_person_id is not None
                      else f"Give it one: goals progress {goal.ref} <percent> <health> <note>")
            builder.add(Paragraph(f"{goal.ref} has had no update for two check-ins. {update}, "
                                  f"or close it: goals done {goal.ref}, goals archive {goal.ref}."),
                        Buttons((Button(f"Open {goal.ref}", Do.SHOW, goal.ref, f"goals show {goal.ref}"),)))
        elif item.parent is not None:
            parent = item.parent
            builder.add(Paragraph(f"{goal.ref} supports no goal yet. It looks like it belongs under {parent.ref} "
                                  f"{parent.title} ({item.standing})."),
                        Buttons((Button(f"Link to {parent.ref}", Do.LINK, f"{goal.ref} {parent.ref}",
                                        f"goals link {goal.ref} {parent.ref}", "primary"),
                                 Button(f"Open {parent.ref}", Do.SHOW, parent.ref, f"goals show {parent.ref}"))))
        elif item.options:
            builder.add(Paragraph(f"{goal.ref} supports no goal yet. Goals near you it could support: "
                                  + ", ".join(f"{g.ref} {g.title}" for g in item.options) + "."),
                        Buttons(tuple(Button(f"Link to {g.ref}", Do.LINK, f"{goal.ref} {g.ref}",
                                             f"goals link {goal.ref} {g.ref}") for g in item.options)))
        else:
            builder.add(Paragraph(f"{goal.ref} supports no goal yet. Link it to the goal it serves: "
                                  f"goals link {goal.ref} G-<n> (goals tree shows them)."))
    builder.add(Context("One nudge per goal every two weeks at most. Stop them: goals settings nudges off"))
    return builder.build()
