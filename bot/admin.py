"""What admins set for everyone in their organisation: check-in defaults, reminders, holidays; and the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot import alignment, checkins, values
from bot.alignment import Scope, ScopeKind
from bot.errors import Forbidden, NotFound, UserError
from bot.outbox import QUEUED, State
from bot.people import Viewer
from bot.schedule import Schedule
from storage import repository
from storage.models import CheckinDefault, Holiday, OrgUnit, OutboxMessage, Person, utcnow

FAILURES_SHOWN = 5


def require_admin(viewer: Viewer, doing: str) -> None:
    if not viewer.is_admin:
        raise Forbidden(f"Only admins can {doing}; ask one of your organisation's admins.")


async def find_unit(session: AsyncSession, viewer: Viewer, name: str) -> OrgUnit:
    """The org unit with this name (any case); refused when there is none, or more than one."""
    found = (await session.execute(
        select(OrgUnit).where(OrgUnit.tenant_id == viewer.tenant.id, sa.func.lower(OrgUnit.name) == name.lower())
        .order_by(OrgUnit.id)
    )).scalars().all()
    if not found:
        raise NotFound(f"There is no unit called {values.quote(name)}." + await _closest_units(session, viewer, name))
    if len(found) > 1:
        kinds = " and ".join(f"the {unit.kind} {unit.name}" for unit in found)
        raise UserError(f"{values.quote(name)} could be {kinds}; rename one of them first.")
    return found[0]


async def _closest_units(session: AsyncSession, viewer: Viewer, name: str) -> str:
    """" Did you mean Platform?", from the tenant's unit names, when one is close."""
    from rapidfuzz import fuzz, process

    names = list((await session.execute(select(OrgUnit.name).where(OrgUnit.tenant_id == viewer.tenant.id))).scalars())
    close = [found for found, _, _ in process.extract(name, names, scorer=fuzz.WRatio, processor=str.lower,
                                                      score_cutoff=80, limit=2)]
    return f" Did you mean {' or '.join(close)}?" if close else ""


async def set_checkin_default(session: AsyncSession, viewer: Viewer, weekday: int, at: time, cadence: str,
                              unit_name: str | None) -> tuple[Schedule, str]:
    """The check-in schedule of everyone in the organisation, or in one unit and the units below it, who has
    not set their own. Their next prompts follow it from its next occurrence."""
    require_admin(viewer, "set check-in defaults")
    unit = await find_unit(session, viewer, unit_name) if unit_name else None
    row = (await session.execute(select(CheckinDefault).where(
        CheckinDefault.tenant_id == viewer.tenant.id,
        CheckinDefault.org_unit_id.is_(None) if unit is None else CheckinDefault.org_unit_id == unit.id,
    ))).scalar_one_or_none()
    if row is None:
        row = CheckinDefault(tenant_id=viewer.tenant.id, org_unit_id=unit.id if unit else None, weekday=weekday,
                             at="", cadence=cadence)
        session.add(row)
    row.weekday, row.at, row.cadence, row.updated_at = weekday, at.strftime("%H:%M"), cadence, utcnow()
    units = None
    if unit is not None:
        tree = repository.unit_subtree_cte(unit.id)
        units = set((await session.execute(select(tree.c.id))).scalars())
    await session.flush()
    await checkins.unschedule(session, viewer.tenant.id, units)
    return Schedule(weekday, at, cadence), unit.name if unit else "your organisation"


async def set_reminder(session: AsyncSession, viewer: Viewer, minutes: int) -> int:
    """How long after a prompt those who have not answered are reminded (0: never)."""
    require_admin(viewer, "set check-in reminders")
    viewer.tenant.reminder_minutes = minutes
    return minutes


async def holidays(session: AsyncSession, viewer: Viewer, op: str, day: date | None, name: str) -> tuple[list[Holiday], bool]:
    """Add (or rename) or remove a holiday (a local date with no prompts for anyone); the tenant's holidays
    from today on, and whether an existing holiday was renamed."""
    renamed = False
    if op != "list":
        require_admin(viewer, "change holidays")
    if op == "add":
        assert day is not None
        existing = (await session.execute(select(Holiday).where(Holiday.tenant_id == viewer.tenant.id,
                                                                Holiday.day == day))).scalar_one_or_none()
        if existing is not None:
            if not name or name == existing.name:
                raise UserError(f"{day} is a holiday already ({existing.name or 'no name'}).",
                                usage=f"goals admin holiday remove {day}")
            existing.name, renamed = name, True
        else:
            session.add(Holiday(tenant_id=viewer.tenant.id, day=day, name=name))
    elif op == "remove":
        removed = await session.execute(sa.delete(Holiday).where(Holiday.tenant_id == viewer.tenant.id, Holiday.day == day))
        if not removed.rowcount:
            raise NotFound(f"{day} is not a holiday.")
    await session.flush()
    return list((await session.execute(
        select(Holiday).where(Holiday.tenant_id == viewer.tenant.id, Holiday.day >= utcnow().date() if op == "list" else sa.true())
        .order_by(Holiday.day)
    )).scalars()), renamed


@dataclass
class OutboxReport:
    counts: list[tuple[str, str, int]]  # kind, state, how many
    failures: list[tuple[OutboxMessage, str]]  # the latest that failed or may not have arrived, with the recipient
    waiting: list[tuple[OutboxMessage, str]]  # the latest waiting for someone who cannot be written to yet


async def outbox_report(session: AsyncSession, viewer: Viewer) -> OutboxReport:
    """The organisation's outbox: messages by kind and state, and the latest that failed or may not have arrived."""
    require_admin(viewer, "see the outbox")
    counts = (await session.execute(
        select(OutboxMessage.kind, OutboxMessage.state, sa.func.count())
        .where(OutboxMessage.tenant_id == viewer.tenant.id)
        .group_by(OutboxMessage.kind, OutboxMessage.state).order_by(OutboxMessage.kind, OutboxMessage.state)
    )).all()
    recipient = sa.func.coalesce(Person.email, "#" + sa.func.coalesce(OutboxMessage.to_channel, ""))
    latest = (select(OutboxMessage, recipient).outerjoin(Person, Person.id == OutboxMessage.person_id)
              .where(OutboxMessage.tenant_id == viewer.tenant.id).order_by(OutboxMessage.id.desc()).limit(FAILURES_SHOWN))
    failures = (await session.execute(
        latest.where(OutboxMessage.state.in_((State.FAILED, State.UNCERTAIN, State.DROPPED)))
    )).all()
    waiting = (await session.execute(
        latest.where(OutboxMessage.state == State.PENDING, OutboxMessage.last_error.like("unreachable:%"))
    )).all()
    return OutboxReport([tuple(row) for row in counts], [tuple(row) for row in failures], [tuple(row) for row in waiting])


async def retry_message(session: AsyncSession, viewer: Viewer, message_id: int) -> OutboxMessage:
    """Send a failed or uncertain message again, now."""
    require_admin(viewer, "retry messages")
    row = await session.get(OutboxMessage, message_id)
    if row is None or row.tenant_id != viewer.tenant.id:
        raise NotFound(f"There is no message {message_id} in the outbox.")
    if row.state not in (State.FAILED, State.UNCERTAIN, State.DROPPED):
        raise UserError(f"Message {message_id} is {row.state}; only failed, uncertain or dropped messages are retried.")
    row.state, row.attempts, row.next_attempt_at, row.expires_at = State.PENDING, 0, utcnow(), None
    row.last_error = f"retried by {viewer.person.name}"
    session.info[QUEUED] = True
    return row


@dataclass
class UnitFigures:
    name: str
    figures: object  # alignment.Figures
    last: dict | None


async def alignment_report(session: AsyncSession, viewer: Viewer, unit_name: str | None,
                           now: datetime | None = None) -> tuple[str, list[UnitFigures]]:
    """The organisation's alignment per department (or per unit inside the named one), with the whole's
    first, each against what last week came to. Private goals count: only admins read this."""
    require_admin(viewer, "see the alignment of the organisation")
    now = now or utcnow()
    reading = await alignment.read(session, viewer.tenant.id, now)
    if unit_name:
        unit = await find_unit(session, viewer, unit_name)
        whole, title = Scope(ScopeKind.UNIT, unit.id), unit.name
        inside = sorted((u for u in reading.units.values() if u.parent_id == unit.id), key=lambda u: u.name.lower())
    else:
        whole, title = Scope(ScopeKind.TENANT), viewer.tenant.name or "The organisation"
        inside = sorted((u for u in reading.units.values() if u.kind == "department"), key=lambda u: u.name.lower())
    scopes = [whole, *(Scope(ScopeKind.UNIT, u.id) for u in inside)]
    week = alignment.week_of(now)
    lasts = await alignment.before(session, viewer.tenant.id, scopes, week)
    names = [title, *(u.name for u in inside)]
    return title, [UnitFigures(name, alignment.figures(reading, scope), lasts.get(scope))
                   for name, scope in zip(names, scopes)]
