"""A person's own settings: when they are asked to check in, their time zone, time away."""

from __future__ import annotations

from datetime import date, time

from bot.errors import UserError
from bot.people import Viewer
from storage.models import Person, utcnow


def checkin_schedule(viewer: Viewer, weekday: int | None, at: time | None, cadence: str | None) -> Person:
    """Change any of the weekday (0 = Monday), local time and cadence of the person's check-in prompt."""
    person = viewer.person
    if weekday is not None:
        person.checkin_weekday = weekday
    if at is not None:
        person.checkin_time = at.strftime("%H:%M")
    if cadence is not None:
        person.checkin_cadence = cadence
    person.updated_at = utcnow()
    return person


def timezone(viewer: Viewer, name: str) -> Person:
    """The IANA zone the person's times are read in (already checked by the parser)."""
    viewer.person.timezone = name
    viewer.person.updated_at = utcnow()
    return viewer.person


def away(viewer: Viewer, until: date | None, today: date | None = None) -> Person:
    """Away until a date (no check-in prompts until then), or back (`None`)."""
    if until is not None and until < (today or utcnow().date()):
        raise UserError(f"{until} has passed already.", usage="goals away until 2027-01-05")
    viewer.person.away_until = until
    viewer.person.updated_at = utcnow()
    return viewer.person
