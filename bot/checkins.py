"""Check-ins: whose schedule applies, each person's period, what to answer, and recording an answer.

A person's schedule is their own (`goals settings checkin`), else the default of
the nearest org unit above them that has one, else the tenant's, else Monday
09:00 weekly. The clock (`bot.clock`) opens periods by queueing prompts; an
answer belongs to the latest period opened, until the next prompt.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot import goals, schedule
from bot.errors import UserError
from bot.commands import CheckIn as CheckInCommand
from bot.people import Viewer
from bot.schedule import Schedule
from storage.models import CheckIn, CheckinDefault, CheckinPeriod, Goal, Holiday, KeyResult, OrgUnit, Person, as_utc, utcnow
from storage.vocabulary import PeriodState, Status


def parse_at(text: str) -> time:
    hour, minute = (int(part) for part in text.split(":"))
    return time(hour, minute)


def own_schedule(person: Person) -> Schedule:
    return Schedule(person.checkin_weekday, parse_at(person.checkin_time), person.checkin_cadence)


# Whose schedule applies ----------------------------------------------------------------


@dataclass
class Defaults:
    """The tenants' and units' default schedules, and the unit tree to find the nearest one."""

    schedules: dict[tuple[int, int | None], Schedule]
    parents: dict[int, int | None]
    names: dict[int, str]

    def for_person(self, tenant_id: int, unit_id: int | None) -> tuple[Schedule, str]:
        """The default that applies to someone in `unit_id`, and where it comes from."""
        seen: set[int] = set()
        while unit_id is not None and unit_id not in seen:
            seen.add(unit_id)
            found = self.schedules.get((tenant_id, unit_id))
            if found is not None:
                return found, f"the default of {self.names.get(unit_id, 'your unit')}"
            unit_id = self.parents.get(unit_id)
        found = self.schedules.get((tenant_id, None))
        return (found, "your organisation's default") if found else (schedule.DEFAULT, "the standard default")


async def load_defaults(session: AsyncSession, tenant_ids: Iterable[int]) -> Defaults:
    """Every default and unit of these tenants, in two queries."""
    tenant_ids = list(set(tenant_ids))
    rows = (await session.execute(select(CheckinDefault).where(CheckinDefault.tenant_id.in_(tenant_ids)))).scalars()
    schedules = {(row.tenant_id, row.org_unit_id): Schedule(row.weekday, parse_at(row.at), row.cadence) for row in rows}
    parents: dict[int, int | None] = {}
    names: dict[int, str] = {}
    if any(unit is not None for _, unit in schedules):
        for unit_id, parent_id, name in (
            await session.execute(select(OrgUnit.id, OrgUnit.parent_id, OrgUnit.name).where(OrgUnit.tenant_id.in_(tenant_ids)))
        ).all():
            parents[unit_id] = parent_id
            names[unit_id] = name
    return Defaults(schedules, parents, names)


async def schedule_of(session: AsyncSession, person: Person) -> tuple[Schedule, str]:
    """The schedule that applies to the person, and where it comes from ("your own" or a default)."""
    if person.checkin_own:
        return own_schedule(person), "your own"
    defaults = await load_defaults(session, [person.tenant_id])
    return defaults.for_person(person.tenant_id, person.org_unit_id)


async def latest_period(session: AsyncSession, person_id: int, at_or_before: datetime | None = None) -> CheckinPeriod | None:
    """The person's latest period the clock opened (or skipped), at or before an instant."""
    query = select(CheckinPeriod).where(CheckinPeriod.person_id == person_id)
    if at_or_before is not None:
        query = query.where(CheckinPeriod.due_at <= at_or_before)
    return (await session.execute(query.order_by(CheckinPeriod.due_at.desc()).limit(1))).scalar_one_or_none()


async def reschedule(session: AsyncSession, person: Person, now: datetime | None = None) -> datetime | None:
    """Work out the person's next prompt after a change (schedule, zone, on/off): the next occurrence
    after now, never a second prompt for a period already prompted."""
    now = now or utcnow()
    if person.checkins_off:
        person.next_prompt_at = None
        return None
    plan, _ = await schedule_of(session, person)
    latest = await latest_period(session, person.id)
    after = max(now, as_utc(latest.due_at)) if latest is not None else now
    _, person.next_prompt_at = schedule.next_prompt(plan, schedule.zone_of(person.timezone), after,
                                                    not_on=latest.period if latest is not None else None)
    return person.next_prompt_at


async def next_sent_prompt(session: AsyncSession, person: Person, after: datetime) -> datetime | None:
    """The next prompt that will really be sent: past the person's time away and the tenant's holidays."""
    if person.checkins_off:
        return None
    plan, _ = await schedule_of(session, person)
    zone = schedule.zone_of(person.timezone)
    holidays = set((await session.execute(
        select(Holiday.day).where(Holiday.tenant_id == person.tenant_id, Holiday.day >= after.date()))).scalars())
    at = after
    for _ in range(400):
        day, at = schedule.next_prompt(plan, zone, at)
        if not (person.away_until is not None and day <= person.away_until) and day not in holidays:
            return at
    return None


async def unschedule(session: AsyncSession, tenant_id: int, unit_ids: set[int] | None) -> None:
    """People whose default changed are worked out again by the clock's next round."""
    query = sa.update(Person).where(Person.tenant_id == tenant_id, Person.checkin_own.is_(False))
    if unit_ids is not None:
        query = query.where(Person.org_unit_id.in_(unit_ids))
    await session.execute(query.values(next_prompt_at=None))


# A person's check-in now ---------------------------------------------------------------


@dataclass
class Period:
    """The check-in a person owes now: the prompt they last had (late answers count) and the next one."""

    start: date
    prompt_at: datetime
    next_at: datetime | None
    row: CheckinPeriod | None = None


async def current_period(session: AsyncSession, person: Person, now: datetime | None = None) -> Period:
    """The latest period opened for the person (the clock opens one only when it is due); before the first
    prompt, the one their schedule gives."""
    now = now or utcnow()
    zone = schedule.zone_of(person.timezone)
    row = await latest_period(session, person.id)
    next_at = as_utc(person.next_prompt_at)
    plan = None
    if next_at is None and not person.checkins_off:
        plan, _ = await schedule_of(session, person)
        _, next_at = schedule.next_prompt(plan, zone, now)
    if row is not None:
        return Period(row.period, as_utc(row.due_at), as_utc(next_at), row)
    plan = plan or (await schedule_of(session, person))[0]
    start, prompt_at = schedule.latest_prompt(plan, zone, now)
    return Period(start, prompt_at, next_at)


@dataclass
class CheckInState:
    person: Person
    period: Period
    goals: list[Goal]
    answer: CheckIn | None
    away: bool


async def state(session: AsyncSession, viewer: Viewer, now: datetime | None = None) -> CheckInState:
    """What the viewer's check-in looks like now: their active goals and any answer given."""
    person = viewer.person
    period = await current_period(session, person, now)
    my_goals = (
        await session.execute(
            select(Goal)
            .where(Goal.tenant_id == viewer.tenant.id, Goal.owner_person_id == person.id, Goal.status == Status.ACTIVE)
            .order_by(Goal.number)
        )
    ).scalars().all()
    answer = (
        await session.execute(select(CheckIn).where(CheckIn.person_id == person.id, CheckIn.period == period.start))
    ).scalar_one_or_none()
    away = person.away_until is not None and person.away_until >= period.start
    return CheckInState(person, period, list(my_goals), answer, away)


@dataclass
class Recorded:
    """An answer as it was taken: the period, each goal it changed, and the healths before."""

    current: CheckInState
    updated: list[Goal]
    healths_before: dict[int, str | None]


async def record_answer(session: AsyncSession, viewer: Viewer, command: CheckInCommand) -> Recorded:
    """Apply every part of the answer and keep the answer for the period; all of it or none. A refused
    part refuses the whole answer, naming the part."""
    updated: list[Goal] = []
    before: dict[int, str | None] = {}
    for item in command.items:
        try:
            if item.key_result is not None:
                goal, _ = await goals.update_key_result(session, viewer, item.goal, item.key_result, item.value)
            else:
                goal = await goals.get_goal(session, viewer, item.goal)
                before.setdefault(goal.id, goal.health)
                if item.done:
                    if item.note:
                        await goals.progress(session, viewer, item.goal, None, None, item.note)
                    goal = await goals.complete(session, viewer, item.goal, anyway=True)
                else:
                    goal = await goals.progress(session, viewer, item.goal, item.percent, item.health, item.note)
        except UserError as error:
            if len(command.items) > 1:
                raise UserError(f"Nothing was saved: {item.ref} cannot be updated. {error.problem}", error.usage) from None
            raise
        if goal not in updated:
            updated.append(goal)
    current = await state(session, viewer)
    mark_answered(current.period)
    now = utcnow()
    if current.answer is None:
        current.answer = CheckIn(
            tenant_id=viewer.tenant.id, person_id=viewer.id, period=current.period.start, answer=command.text,
        )
        session.add(current.answer)
    else:
        # A second answer in the same period corrects the first; the goals keep both updates in their history.
        current.answer.answer = f"{current.answer.answer}\n{command.text}"[-4000:]
        current.answer.updated_at = now
    await session.flush()
    return Recorded(current, updated, before)


async def open_prompt(session: AsyncSession, viewer: Viewer) -> CheckInState | None:
    """The viewer's check-in when a prompt is out and not answered yet (a reply to it may name no goal)."""
    current = await state(session, viewer)
    row = current.period.row
    if row is None or row.state not in (PeriodState.PROMPTED, PeriodState.DROPPED) or (
            row.answered_at is not None and not row.pending_answer):
        return None
    return current


def keep_pending(current: CheckInState, text: str) -> None:
    """A reply that named no goal, kept on the period until the person says which goal it is about."""
    assert current.period.row is not None
    current.period.row.pending_answer = text[:4 * 1000]


def take_pending(current: CheckInState) -> str | None:
    row = current.period.row
    if row is None or not row.pending_answer:
        return None
    text, row.pending_answer = row.pending_answer, None
    return text


async def key_results_of(session: AsyncSession, goal_list: list[Goal]) -> dict[int, list[KeyResult]]:
    """Each goal's key results, in order, in one query."""
    found: dict[int, list[KeyResult]] = {}
    if goal_list:
        rows = await session.execute(select(KeyResult).where(KeyResult.goal_id.in_([g.id for g in goal_list]))
                                     .order_by(KeyResult.goal_id, KeyResult.position))
        for kr in rows.scalars():
            found.setdefault(kr.goal_id, []).append(kr)
    return found


def mark_answered(period: Period) -> None:
    """The period has its answer: no reminder for it."""
    if period.row is not None:
        period.row.answered_at = period.row.answered_at or utcnow()
        period.row.remind_at = None
