"""A person's own settings: when they are asked to check in, their time zone, time away."""

from __future__ import annotations

from datetime import date, time

from sqlalchemy.ext.asyncio import AsyncSession

from bot import checkins
from bot.errors import UserError
from bot.people import Viewer
from storage.models import Person, utcnow


async def checkin_schedule(session: AsyncSession, viewer: Viewer, weekday: int | None, at: time | None,
                           cadence: str | None) -> Person:
    """The person's own check-in schedule: any of the weekday (0 = Monday), local time and cadence changed,
    the rest kept from the schedule that applied. It takes effect at its next occurrence."""
    person = viewer.person
    current, _ = await checkins.schedule_of(session, person)
    person.checkin_own = True
    person.checkin_weekday = current.weekday if weekday is None else weekday
    person.checkin_time = (current.at if at is None else at).strftime("%H:%M")
    person.checkin_cadence = cadence or current.cadence
    person.checkins_off = False
    person.updated_at = utcnow()
    await checkins.reschedule(session, person)
    return person


async def checkin_switch(session: AsyncSession, viewer: Viewer, switch: str) -> Person:
    """`off`: no prompts; `on`: prompts again; `default`: the unit's or organisation's schedule again."""
    person = viewer.person
    if switch == "off":
        person.checkins_off = True
    elif switch == "on":
        person.checkins_off = False
    else:
        person.checkin_own = False
        person.checkins_off = False
    person.updated_at = utcnow()
    await checkins.reschedule(session, person)
    return person


async def timezone(session: AsyncSession, viewer: Viewer, name: str) -> Person:
    """The IANA zone the person's times are read in (already checked by the parser)."""
    viewer.person.timezone = name
    viewer.person.updated_at = utcnow()
    await checkins.reschedule(session, viewer.person)
    return viewer.person


def away(viewer: Viewer, until: date | None, today: date | None = None) -> tuple[Person, date | None]:
    """Away through a date (no check-in prompts on it or before it), or back (`None`); with the date the
    person was away until before (None when they were not away)."""
    today = today or utcnow().date()
    if until is not None and until < today:
        raise UserError(f"{until} has passed already.", usage="goals away until 2027-01-05")
    before = viewer.person.away_until if viewer.person.away_until and viewer.person.away_until >= today else None
    viewer.person.away_until = until
    viewer.person.updated_at = utcnow()
    return viewer.person, before
