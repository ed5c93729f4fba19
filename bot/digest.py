"""A manager's digest: where their reports' alignment stands this period, against the last, and what
needs them. Built from the one alignment computation (`bot.alignment`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot import alignment
from bot.maps import DIGEST_LINK, MapLinks, MapScope
from bot.maps import ScopeKind as MapScopeKind
from bot.checkins import parse_at
from bot.alignment import Figures, Scope, ScopeKind
from bot.errors import UserError
from bot.goals import TOUCHED
from bot.messages import (
    Button, Buttons, Context, Do, Fields, Header, Link, Paragraph, ProgressLine, Reply, ReplyBuilder, reply_to_dict,
)
from bot.notify import DELIVERABLE, preferred
from bot.outbox import QUEUED, Kind, State, direct_row
from bot.people import Viewer
from bot.schedule import WEEKDAYS, Schedule, end_of_day, latest_prompt, next_prompt, zone_of
from storage import repository
from storage.models import AlignmentSnapshot, Identity, OutboxMessage, Person, Tenant, as_utc, utcnow
from storage.vocabulary import Cadence, Health

DEFAULT = Schedule(0, time(9, 30), Cadence.WEEKLY)  # Monday 09:30, after the 09:00 check-ins
WEEK = timedelta(days=7)


@dataclass
class Digest:
    manager: str
    period: date  # the local date of the digest's latest occurrence: the period it covers
    figures: Figures
    last: dict | None  # the counts kept for the period before, if any
    names: dict[int, str]  # people by id, for owners
    map: Link | None = None  # opens the map of the manager's team


def period_of(zone: str, now: datetime, plan: Schedule = DEFAULT) -> date:
    """The period a digest read at `now` covers: the local date of its latest occurrence."""
    return latest_prompt(plan, zone_of(zone), now)[0]


def plan_of(person) -> Schedule:
    """A person's digest schedule: weekly, on their weekday at their local time (Monday 09:30 by default)."""
    return Schedule(person.digest_weekday, parse_at(person.digest_time), Cadence.WEEKLY)


def describe(person) -> str:
    """`Monday 09:30 Europe/Lisbon time`, or off."""
    if person.digests_off:
        return "off (goals settings digest on to have it again)"
    return f"{WEEKDAYS[person.digest_weekday].capitalize()} {person.digest_time}, {person.timezone} time"


async def settings(session: AsyncSession, viewer: Viewer, weekday: int | None, at: time | None,
                   switch: str | None) -> tuple[Person, bool]:
    """Change the viewer's digest (weekday, time, off or on); the clock works out the next one. With whether
    anyone reports to them (there is no digest before someone does)."""
    person = viewer.person
    if switch is not None:
        person.digests_off = switch == "off"
    else:
        person.digests_off = False
        if weekday is not None:
            person.digest_weekday = weekday
        if at is not None:
            person.digest_time = at.strftime("%H:%M")
    person.next_digest_at = None
    person.updated_at = utcnow()
    has_reports = (await session.execute(select(Person.id).where(Person.manager_id == person.id).limit(1))).first()
    return person, has_reports is not None


# The clock's part ---------------------------------------------------------------------------

MAX_PER_ROUND = 5_000


def _has_reports():
    reports = aliased(Person)
    return sa.exists().where(reports.manager_id == Person.id)


async def queue_due(session: AsyncSession, now: datetime, tenant_id: int | None, is_sqlite: bool,
                    links: MapLinks = MapLinks()) -> int:
    """The clock's round: managers with no next digest yet get one worked out; each whose digest is due
    now gets it queued, once per period (its local date), with the period's counts kept as a snapshot.
    A digest whose local day passed while the clock was stopped is not sent late. Returns how many were queued."""
    columns = (Person.id, Person.tenant_id, Person.name, Person.timezone, Person.digest_weekday, Person.digest_time,
               Person.next_digest_at, Person.last_platform)

    def chosen(*conditions):
        query = select(*columns).where(*conditions, Person.digests_off.is_(False), _has_reports())
        if tenant_id is not None:
            query = query.where(Person.tenant_id == tenant_id)
        query = query.order_by(Person.id).limit(MAX_PER_ROUND)
        return query if is_sqlite else query.with_for_update(skip_locked=True, of=Person)

    new = (await session.execute(chosen(Person.next_digest_at.is_(None)))).all()
    await repository.update_many(session, Person, "id", [
        {"id": row.id, "next_digest_at": next_prompt(plan_of(row), zone_of(row.timezone), now)[1]} for row in new])
    due = (await session.execute(chosen(Person.next_digest_at <= now))).all()
    if not due:
        return 0
    sending, advances = [], []
    for row in due:
        zone = zone_of(row.timezone)
        # The latest occurrence up to now (after a stop, the ones before it are past: never sent late).
        day, at = latest_prompt(plan_of(row), zone, now)
        if at >= as_utc(row.next_digest_at) and end_of_day(day, zone) > now:
            sending.append((row, day, at))
        advances.append({"id": row.id, "next_digest_at": next_prompt(plan_of(row), zone, now)[1]})
    await repository.update_many(session, Person, "id", advances)
    if not sending:
        return 0
    platforms = await _platforms(session, [row.id for row, _, _ in sending])
    wall = utcnow()
    rows: list[dict] = []
    for tenant in sorted({row.tenant_id for row, _, _ in sending}):
        mine = [(row, day, at) for row, day, at in sending if row.tenant_id == tenant]
        reading = await alignment.read(session, tenant, now)
        names = {person.id: person.name for person in reading.people.values()}
        team_map = _team_map(await session.get(Tenant, tenant), links, now)
        for day in sorted({day for _, day, _ in mine}):
            managers = [(row, at) for row, d, at in mine if d == day]
            scopes = {row.id: Scope(ScopeKind.MANAGER, row.id) for row, _ in managers}
            # The period before has closed: its counts are kept as they are now, without this period's
            # prompts, so next week's "last time" is what it came to.
            await alignment.keep(session, tenant, day - WEEK,
                                 [alignment.figures(reading, scope, until=day) for scope in scopes.values()])
            lasts = await alignment.before(session, tenant, list(scopes.values()), day)
            found = {row.id: alignment.figures(reading, scopes[row.id], until=day + WEEK) for row, _ in managers}
            await alignment.keep(session, tenant, day, list(found.values()))
            for row, at in managers:
                platform = row.last_platform if row.last_platform in DELIVERABLE else platforms.get(row.id)
                if platform is None:
                    continue
                body = render(Digest(row.name, day, found[row.id], lasts.get(scopes[row.id]), names, team_map(row.id)))
                following = next_prompt(plan_of(row), zone_of(row.timezone), at)[1]
                rows.append(direct_row(tenant, row.id, platform, Kind.DIGEST, f"digest:{row.id}:{day.isoformat()}",
                                       reply_to_dict(body), wall, wall + (following - now)))
    await repository.insert_new(session, OutboxMessage, rows, ("tenant_id", "dedupe_key"))
    if rows:
        session.info[QUEUED] = True
    return len(rows)


async def keep_closed_week(session: AsyncSession, now: datetime, tenant_id: int | None) -> int:
    """Once a week (the first round after Monday 00:00 UTC), the week that closed is kept for the tenant
    and each of its units, so next week's figures say what it came to. Returns how many tenants it kept."""
    week = alignment.week_of(now)
    closed = week - WEEK
    tenants = select(Tenant.id)
    if tenant_id is not None:
        tenants = tenants.where(Tenant.id == tenant_id)
    kept = select(AlignmentSnapshot.tenant_id).where(
        AlignmentSnapshot.scope_kind == ScopeKind.TENANT.value, AlignmentSnapshot.period == closed)
    due = list((await session.execute(tenants.where(Tenant.id.not_in(kept)))).scalars())
    for tenant in due:
        reading = await alignment.read(session, tenant, now, since=now - WEEK)
        scopes = [Scope(ScopeKind.TENANT), *(Scope(ScopeKind.UNIT, unit) for unit in reading.units)]
        await alignment.keep(session, tenant, closed, [alignment.figures(reading, scope, until=week) for scope in scopes])
    return len(due)


# Live digests -------------------------------------------------------------------------------

REDRAW_EVERY = timedelta(minutes=1)


def touch(session: AsyncSession, *person_ids: int | None) -> None:
    """These people's goals or check-ins changed in this session: their managers' digests show it."""
    session.info.setdefault(TOUCHED, set()).update(person for person in person_ids if person is not None)


async def mark_changed(session: AsyncSession) -> None:
    """What the session changed shows in the digests of everyone above the people it touched: each
    is marked once (a manager already marked is not written again, so busy teams do not queue on the
    row of the person at the top)."""
    people = session.info.pop(TOUCHED, None)
    if not people:
        return
    above = repository.managers_of_cte(sorted(people), name="digest_readers")
    await session.execute(
        sa.update(Person)
        .where(Person.id.in_(select(above.c.id)), Person.digest_changed_at.is_(None), Person.digests_off.is_(False))
        .values(digest_changed_at=utcnow())
        .execution_options(synchronize_session=False)
    )


async def redraw_changed(session: AsyncSession, now: datetime, tenant_id: int | None, is_sqlite: bool,
                         links: MapLinks = MapLinks()) -> int:
    """The clock's round: each current digest whose figures changed since it was drawn is drawn again, at
    most once a minute: rewritten if not sent yet, else updated in place (Slack chat.update, a Teams
    activity update) through the outbox. Returns how many were redrawn."""
    query = select(Person.id, Person.tenant_id, Person.name, Person.timezone, Person.digest_weekday,
                   Person.digest_time).where(
        Person.digest_changed_at.is_not(None),
        sa.or_(Person.digest_redrawn_at.is_(None), Person.digest_redrawn_at <= now - REDRAW_EVERY),
    )
    if tenant_id is not None:
        query = query.where(Person.tenant_id == tenant_id)
    query = query.order_by(Person.id).limit(MAX_PER_ROUND)
    due = (await session.execute(query if is_sqlite else query.with_for_update(skip_locked=True, of=Person))).all()
    if not due:
        return 0
    keys = {row.id: f"digest:{row.id}:{period_of(row.timezone, now, plan_of(row)).isoformat()}" for row in due}
    current = {message.person_id: message for message in (await session.execute(
        select(OutboxMessage).where(OutboxMessage.dedupe_key.in_(list(keys.values())),
                                    OutboxMessage.person_id.in_(list(keys)))
    )).scalars()}
    redrawn = 0
    wall = utcnow()
    for tenant in sorted({row.tenant_id for row in due}):
        mine = [row for row in due if row.tenant_id == tenant and row.id in current]
        if not mine:
            continue
        reading = await alignment.read(session, tenant, now)
        names = {person.id: person.name for person in reading.people.values()}
        team_map = _team_map(await session.get(Tenant, tenant), links, now)
        kept: dict[date, list[Figures]] = {}
        days = {row.id: date.fromisoformat(current[row.id].dedupe_key.rsplit(":", 1)[1]) for row in mine}
        lasts: dict[date, dict] = {}
        for day in set(days.values()):  # one look per period, not per manager
            lasts[day] = await alignment.before(
                session, tenant, [Scope(ScopeKind.MANAGER, row.id) for row in mine if days[row.id] == day], day)
        for row in mine:
            message, day = current[row.id], days[row.id]
            scope = Scope(ScopeKind.MANAGER, row.id)
            found = alignment.figures(reading, scope, until=day + WEEK)
            body = reply_to_dict(render(Digest(row.name, day, found, lasts[day].get(scope), names, team_map(row.id))))
            kept.setdefault(day, []).append(found)
            if message.state == State.PENDING:
                message.body = body
            elif message.state == State.SENT:
                session.add(OutboxMessage(
                    tenant_id=tenant, person_id=row.id, platform=message.platform, kind=Kind.UPDATE,
                    dedupe_key=f"digest-redraw:{message.id}:{now.isoformat()}"[:200], body=body,
                    replaces_id=message.id, next_attempt_at=wall, expires_at=message.expires_at))
            else:
                continue
            redrawn += 1
        for day, found in kept.items():
            await alignment.keep(session, tenant, day, found)
    await repository.update_many(session, Person, "id", [
        {"id": row.id, "digest_changed_at": None, "digest_redrawn_at": now} for row in due])
    if redrawn:
        session.info[QUEUED] = True
    return redrawn


def _team_map(tenant: Tenant, links: MapLinks, now: datetime):
    """Each manager's link to the map of their team, to last as long as a digest is read. A round run for a
    later instant than this one (`goalbot tick --now`, the console's :tick) makes links that work from now,
    not from then: no link outlives its day in real time."""
    issued = min(now, utcnow())

    def made(person_id: int) -> Link:
        link = links.make(tenant, person_id, MapScope(MapScopeKind.TEAM), issued, DIGEST_LINK)
        return Link("Open your team's map", link.url, link.token)

    return made


async def _platforms(session: AsyncSession, people: list[int]) -> dict[int, str]:
    """Where to reach each of these people: of their chat accounts, the platform listed first."""
    return preferred((await session.execute(
        select(Identity.person_id, Identity.platform)
        .where(Identity.person_id.in_(people), Identity.platform.in_(DELIVERABLE))
    )).all())


async def digest(session: AsyncSession, viewer: Viewer, now: datetime | None = None) -> Digest:
    """The viewer's digest now, as their team's figures against the last period's."""
    now = now or utcnow()
    period = period_of(viewer.person.timezone, now, plan_of(viewer.person))
    reading = await alignment.read(session, viewer.tenant.id, now, manager=viewer.id)
    if not reading.reports.get(viewer.id):
        raise UserError("Nobody reports to you, so there is no digest for you. Your own goals: goals list mine.")
    scope = Scope(ScopeKind.MANAGER, viewer.id)
    last = (await alignment.before(session, viewer.tenant.id, [scope], period)).get(scope)
    return Digest(viewer.person.name, period, alignment.figures(reading, scope, until=period + WEEK), last,
                  {person.id: person.name for person in reading.people.values()})


# The digest as a reply ---------------------------------------------------------------------

SHOWN = 3  # goals shown in full (with their buttons) in each part that needs the manager
LISTED = 10  # references listed in each part that is a list
PART_TITLES = {
    "pending": "Waiting for your decision", "blocked": "Blocked", "at-risk": "At risk and off track",
    "missing": "Not checked in yet", "stale": "No update for two check-ins", "unaligned": "Not aligned",
    "overdue": "Past their due date", "duplicates": "Likely duplicates across teams",
}


def _rate(value: float | None) -> str:
    return "no data" if value is None else f"{value:.0f}%"


def _against(last: dict | None, key: str, *, rate: bool = False, what: str = "") -> str:
    """What the figure was in the period before, as a tail for its line ("" when nothing was kept)."""
    if last is None or key not in last:
        return ""
    before = _rate(last[key]) if rate else str(last[key])
    return f", last time {before}{what}"


def _goal_line(d: Digest, goal, detail: str = "") -> ProgressLine:
    owner = d.names.get(goal.owner_person_id, "")
    extra = ", ".join(part for part in (owner, detail) if part)
    return ProgressLine(ref=goal.ref, label=goal.title, percent=goal.progress, detail=extra, health=goal.health)


def _duplicate_line(d: Digest, duplicate: alignment.Duplicate) -> Paragraph:
    """Two goals that look alike, each with who and which unit it belongs to."""
    def side(goal, unit: str) -> str:
        owner = d.names.get(goal.owner_person_id)
        return f"{goal.ref} {goal.title} ({', '.join(part for part in (owner, unit) if part)})"

    return Paragraph(f"{side(duplicate.goal, duplicate.unit)} looks like {side(duplicate.other, duplicate.other_unit)}")


def _more(builder: ReplyBuilder, left: int, part: str) -> None:
    if left > 0:
        builder.add(Context(f"and {left} more: goals digest {part}"))


def _part_goals(d: Digest, part: str) -> list:
    f = d.figures
    return {"pending": f.pending, "blocked": f.blockers, "at-risk": f.at_risk, "stale": f.stale,
            "unaligned": f.unaligned, "overdue": f.overdue}.get(part, [])


def _buttons(goal, part: str) -> Buttons:
    ref = goal.ref
    if part == "pending":
        return Buttons((Button("Approve", Do.APPROVE, ref, f"goals approve {ref}", "primary"),
                        Button("Return", Do.RETURN, ref, f"goals return {ref} <reason>")))
    return Buttons((Button("Open", Do.SHOW, ref, f"goals show {ref}"),))


def render(d: Digest, part: str | None = None) -> Reply:
    """The digest: its figures against the last period's, then what needs the manager, the most urgent
    first; each part shows a few and says how to see the rest (`part` shows one part in full)."""
    f = d.figures
    builder = ReplyBuilder()
    if part is not None:
        return _render_part(d, part, builder)
    builder.add(Header(f"Your team's alignment, period of {d.period:%A} {d.period}"))
    if d.map is not None:
        builder.add(d.map)
    health = " · ".join(f"{count} {Health.words_of(name) if name != 'none' else 'not set'}"
                        for name, count in f.health.items() if count)
    builder.add(Fields((
        ("Aligned", f"{_rate(f.alignment_rate)} ({f.aligned} of {f.alignable} team and individual goals)"
                    + _against(d.last, "alignment_rate", rate=True)),
        ("Linked to a team goal", f"{_rate(f.individual_rate)} ({f.individual_linked} of {f.individual} individual goals)"
                                  + _against(d.last, "individual_rate", rate=True)),
        ("Checked in", f"{_rate(f.response_rate)} ({f.answered} of {f.asked})"
                       + _against(d.last, "response_rate", rate=True)),
        ("Health", (health or "no active goals") + _against(d.last, "at_risk", what=" at risk or off track")),
        ("Blocked", f"{len(f.blockers)}" + _against(d.last, "blockers")),
    )))
    for key in ("pending", "blocked", "at-risk"):
        goals = _part_goals(d, key)
        if not goals:
            continue
        builder.add(Header(f"{PART_TITLES[key]} ({len(goals)})"))
        for goal in goals[:SHOWN]:
            builder.add(_goal_line(d, goal, f"note: {goal.note}" if goal.note and key != "pending" else ""),
                        _buttons(goal, key))
        _more(builder, len(goals) - SHOWN, key)
    if f.unanswered:
        builder.add(Header(f"{PART_TITLES['missing']} ({len(f.unanswered)} of {f.asked})"))
        builder.add(Paragraph(", ".join(person.name for person in f.unanswered[:LISTED])))
        builder.add(Buttons(tuple(Button(f"Nudge {person.name.split()[0]}", Do.NUDGE, person.email,
                                         f"goals nudge @{person.email}") for person in f.unanswered[:SHOWN])))
        _more(builder, len(f.unanswered) - LISTED, "missing")
    lists = [(key, _part_goals(d, key)) for key in ("stale", "unaligned", "overdue")]
    if any(goals for _, goals in lists):
        builder.add(Header("To look at"))
        for key, goals in lists:
            if goals:
                shown = ", ".join(f"{g.ref} {g.title}" for g in goals[:LISTED])
                left = len(goals) - LISTED
                builder.add(Paragraph(f"{PART_TITLES[key]}: {shown}" + (f", and {left} more: goals digest {key}" if left > 0 else "")))
    if f.duplicates:
        builder.add(Header(f"{PART_TITLES['duplicates']} ({len(f.duplicates)})"))
        builder.add(*(_duplicate_line(d, duplicate) for duplicate in f.duplicates[:SHOWN]))
        _more(builder, len(f.duplicates) - SHOWN, "duplicates")
    wins = []
    if f.achieved:
        wins.append("achieved " + ", ".join(f"{g.ref} {g.title}" for g in f.achieved[:LISTED]))
    if f.kr_hits:
        wins.append("key results on target: " + ", ".join(f"{g.ref}.{position}" for g, position in f.kr_hits[:LISTED]))
    if f.kudos:
        wins.append(f"{f.kudos} kudos")
    if wins:
        builder.add(Header("Wins"), Paragraph("; ".join(wins) + "."))
    if f.top:
        builder.add(Header("Your units' goals"))
        for goal in f.top[:5]:
            builder.add(_goal_line(d, goal))
    if f.shared:
        builder.add(Context("Shared across departments: " + ", ".join(
            f"{g.ref} {g.title} ({n} departments)" for g, n in f.shared[:SHOWN])))
    return builder.build()


def _render_part(d: Digest, part: str, builder: ReplyBuilder) -> Reply:
    f = d.figures
    if part == "missing":
        builder.add(Header(f"{PART_TITLES[part]} ({len(f.unanswered)} of {f.asked})"))
        if f.unanswered:
            builder.add(Paragraph(", ".join(person.name for person in f.unanswered)))
        elif f.asked:
            builder.add(Paragraph("Everyone who was asked has checked in."))
        else:
            builder.add(Paragraph("Nobody below you has been asked to check in this period yet."))
        return builder.build()
    if part == "duplicates":
        builder.add(Header(f"{PART_TITLES[part]} ({len(f.duplicates)})"))
        builder.add(*([_duplicate_line(d, duplicate) for duplicate in f.duplicates] or [Paragraph("None.")]))
        return builder.build()
    goals = _part_goals(d, part)
    builder.add(Header(f"{PART_TITLES[part]} ({len(goals)})"))
    if not goals:
        builder.add(Paragraph("None."))
    for goal in goals:
        builder.add(_goal_line(d, goal, f"note: {goal.note}" if goal.note and part != "pending" else ""))
    return builder.build()
