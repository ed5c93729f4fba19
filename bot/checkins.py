"""Check-ins: each person's period, what to answer, and recording an answer in one message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot import goals
from bot.commands import CheckIn as CheckInCommand
from bot.people import Viewer, valid_timezone
from storage.models import CheckIn, Goal, Person, utcnow
from storage.vocabulary import Status

# Biweekly people are prompted in the weeks an even number of weeks after this Monday.
BIWEEKLY_EPOCH = date(2024, 1, 1)


@dataclass
class Period:
    """The check-in a person owes now: the prompt they last had (late answers count) and the next one."""

    start: date
    prompt_at: datetime
    next_at: datetime


def current_period(person: Person, now: datetime | None = None) -> Period:
    """The person's latest prompt time at or before now, in their own time zone."""
    zone = ZoneInfo(person.timezone if valid_timezone(person.timezone) else "UTC")
    local_now = (now or utcnow()).astimezone(zone)
    hour, minute = (int(x) for x in person.checkin_time.split(":"))
    step = 14 if person.checkin_cadence == "biweekly" else 7
    day = local_now.date() - timedelta(days=(local_now.weekday() - person.checkin_weekday) % 7)
    if step == 14 and ((day - BIWEEKLY_EPOCH).days // 7) % 2:
        day -= timedelta(days=7)
    prompt_at = datetime.combine(day, time(hour, minute), zone)
    if prompt_at > local_now:
        day -= timedelta(days=step)
        prompt_at = datetime.combine(day, time(hour, minute), zone)
    next_day = day + timedelta(days=step)
    return Period(start=day, prompt_at=prompt_at, next_at=datetime.combine(next_day, time(hour, minute), zone))


@dataclass
class CheckInState:
    person: Person
    period: Period
    goals: list[Goal]
    answer: CheckIn | None
    away: bool


async def state(session: AsyncSession, viewer: Viewer) -> CheckInState:
    """What the viewer's check-in looks like now: their active goals and any answer given."""
    person = viewer.person
    period = current_period(person)
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


async def record_answer(session: AsyncSession, viewer: Viewer, command: CheckInCommand) -> tuple[CheckInState, list[Goal]]:
    """Apply every part of the answer and keep the answer for the period; all of it or none."""
    updated: list[Goal] = []
    for item in command.items:
        if item.done:
            updated.append(await goals.complete(session, viewer, item.goal))
        else:
            updated.append(await goals.progress(session, viewer, item.goal, item.percent, item.health, item.note))
    current = await state(session, viewer)
    now = utcnow()
    if current.answer is None:
        current.answer = CheckIn(
            tenant_id=viewer.tenant.id, person_id=viewer.id, period=current.period.start, answer=command.text,
        )
        session.add(current.answer)
    else:
        # A second answer in the same period edits the first; the goals keep both updates in their history.
        current.answer.answer = f"{current.answer.answer}\n{command.text}"[-4000:]
        current.answer.updated_at = now
    await session.flush()
    return current, updated
