"""Channel summaries: a periodic post to a channel about an org unit's (or the company's) public goals.

An admin, or a unit's lead for their own unit, subscribes a channel
(`goals admin summary add #channel <unit|company> weekly|biweekly <weekday> <HH:MM>`);
the time is wall-clock in their zone. The clock's round queues each due summary once
per period through the outbox, built from the one alignment computation with private
goals left out. A channel goalbot is not in yet keeps its summary: the post waits in
the outbox and goes out once goalbot is invited (the adapter reports the join).

Channels come to the core two ways: the adapter looks up a channel named in a
message on its platform (`ChannelMention`: Slack), or the channels were kept when
goalbot was added to a team (`ChatChannel`: Teams); the console has channels of
any name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import select

from bot import alignment, values
from bot.admin import find_unit
from bot.alignment import Figures, Reading, Scope, ScopeKind
from bot.errors import Forbidden, NotFound, UserError
from bot.messages import ChannelMention, Context, Fields, Header, Paragraph, ProgressLine, Reply, ReplyBuilder, reply_to_dict
from bot.outbox import QUEUED, Kind, channel_row, release_channel
from bot.people import Viewer
from bot.schedule import WEEKDAYS, Schedule, end_of_day, latest_prompt, next_prompt, zone_of
from storage import repository
from storage.database import Database
from storage.models import (
    ChannelSummary, ChatChannel, Goal, GoalEvent, Kudos, OrgUnit, OutboxMessage, Person, Tenant, utcnow,
)
from storage.vocabulary import Cadence, Health, Level, Status

MAX_PER_ROUND = 5_000
GOALS_SHOWN = 15  # goals with their progress bars in one post; the rest are named by a command
LISTED = 10  # references in each list of changes
KUDOS_SHOWN = 3
INVITE = "/invite @goalbot"
WORSE = {None: 0, Health.ON_TRACK: 0, Health.AT_RISK: 1, Health.OFF_TRACK: 2, Health.BLOCKED: 2}


def plan_of(summary: ChannelSummary) -> Schedule:
    hours, minutes = (int(part) for part in summary.at.split(":"))
    return Schedule(summary.weekday, time(hours, minutes), summary.cadence)


def describe(summary: ChannelSummary) -> str:
    """`weekly, Monday 09:00 Europe/Lisbon time`."""
    return f"{summary.cadence}, {WEEKDAYS[summary.weekday].capitalize()} {summary.at} {summary.timezone} time"


# Channels ------------------------------------------------------------------------------------


async def _channel(session: AsyncSession, viewer: Viewer, said: str, known: tuple[ChannelMention, ...]) -> ChatChannel:
    """The channel `#said` names on the viewer's platform: as the adapter found it, else one kept earlier."""
    platform = viewer.platform
    for mention in known:
        if mention.text.lstrip("#") == said:
            if mention.channel is None:
                raise NotFound(f"There is no channel #{mention.name or said} that goalbot can see. Name a channel "
                               f"of this workspace (for a private one, {INVITE} there first).")
            return await _keep(session, viewer.tenant.id, platform, mention.channel, mention.name, mention.present)
    team, _, name = said.rpartition("/")
    query = select(ChatChannel).where(ChatChannel.tenant_id == viewer.tenant.id, ChatChannel.platform == platform,
                                      sa.or_(sa.func.lower(ChatChannel.name) == name.lower(),
                                             ChatChannel.channel_id == said))
    if team:
        query = query.where(sa.func.lower(ChatChannel.team_name) == team.lower())
    found = (await session.execute(query.order_by(ChatChannel.team_name, ChatChannel.id))).scalars().all()
    if not found:
        where = "in a team goalbot was added to" if platform == "teams" else "that goalbot can see"
        hint = " Add goalbot to the team first (Apps, goalbot, Add to a team)." if platform == "teams" else ""
        raise NotFound(f"There is no channel #{said} {where}.{hint}")
    if len(found) > 1:
        choices = " or ".join(f"#{channel.team_name}/{channel.name}" for channel in found[:5])
        raise UserError(f"#{said} could be {choices}; name the team too.", usage=f"goals admin summary add {choices.split(' or ')[0]} ...")
    return found[0]


async def _keep(session: AsyncSession, tenant_id: int, platform: str, channel_id: str, name: str | None,
                present: bool) -> ChatChannel:
    """The channel as kept (made when new), with its name (when given) and whether goalbot is in it."""
    row = (await session.execute(select(ChatChannel).where(
        ChatChannel.tenant_id == tenant_id, ChatChannel.platform == platform, ChatChannel.channel_id == channel_id,
    ))).scalar_one_or_none()
    if row is None:
        row = ChatChannel(tenant_id=tenant_id, platform=platform, channel_id=channel_id, name=(name or channel_id)[:200])
        session.add(row)
    row.name, row.present, row.updated_at = (name or row.name)[:200], present, utcnow()
    await session.flush()
    return row


async def channel_present(db: Database, tenant: str, platform: str, channel_id: str, present: bool, *,
                          name: str | None = None) -> None:
    """The adapter saw goalbot join (or leave) a channel: summaries there post again (or wait)."""
    async with db.transaction(write=True) as session:
        tenant_id = (await session.execute(select(Tenant.id).where(Tenant.key == tenant))).scalar_one_or_none()
        if tenant_id is None:
            return
        if not present:  # a channel never kept needs no row to say goalbot is not in it
            await session.execute(sa.update(ChatChannel).where(
                ChatChannel.tenant_id == tenant_id, ChatChannel.platform == platform, ChatChannel.channel_id == channel_id,
            ).values(present=False, updated_at=utcnow()))
            return
        await _keep(session, tenant_id, platform, channel_id, name, True)
        await release_channel(session, platform, tenant_id, channel_id)


async def team_channels(db: Database, tenant: str, platform: str, team_id: str, team_name: str,
                        channels: list[tuple[str, str]], reference: dict | None) -> None:
    """goalbot is in a team (Teams): its channels, by id and name, are where summaries can go, through the
    team's conversation reference. Channels of the team no longer listed are kept as absent."""
    async with db.transaction(write=True) as session:
        tenant_row = (await session.execute(select(Tenant).where(Tenant.key == tenant))).scalar_one_or_none()
        if tenant_row is None:
            return
        rows = {row.channel_id: row for row in (await session.execute(select(ChatChannel).where(
            ChatChannel.tenant_id == tenant_row.id, ChatChannel.platform == platform, ChatChannel.team_id == team_id,
        ))).scalars()}
        for channel_id, name in channels:
            row = rows.pop(channel_id, None) or (await session.execute(select(ChatChannel).where(
                ChatChannel.tenant_id == tenant_row.id, ChatChannel.platform == platform,
                ChatChannel.channel_id == channel_id))).scalar_one_or_none()
            if row is None:
                row = ChatChannel(tenant_id=tenant_row.id, platform=platform, channel_id=channel_id, name="")
                session.add(row)
            row.name, row.team_id, row.team_name = name[:200], team_id, team_name[:200]
            row.reference, row.present, row.updated_at = reference, True, utcnow()
            await release_channel(session, platform, tenant_row.id, channel_id)
        for row in rows.values():
            row.present, row.updated_at = False, utcnow()


async def team_left(db: Database, tenant: str, platform: str, team_id: str) -> None:
    """goalbot was removed from a team: its channels' summaries wait until it is added again."""
    async with db.transaction(write=True) as session:
        await session.execute(
            sa.update(ChatChannel)
            .where(ChatChannel.tenant_id == select(Tenant.id).where(Tenant.key == tenant).scalar_subquery(),
                   ChatChannel.platform == platform, ChatChannel.team_id == team_id)
            .values(present=False, updated_at=utcnow())
        )


async def channel_reference(db: Database, tenant_id: int, platform: str, channel_id: str) -> dict | None:
    """The conversation reference kept for a channel's team, if any."""
    async with db.transaction(write=False) as session:
        return (await session.execute(select(ChatChannel.reference).where(
            ChatChannel.tenant_id == tenant_id, ChatChannel.platform == platform, ChatChannel.channel_id == channel_id,
        ))).scalar_one_or_none()


# Commands ------------------------------------------------------------------------------------


async def _may_manage(session: AsyncSession, viewer: Viewer, unit: OrgUnit | None, doing: str) -> None:
    """Admins manage every summary; a unit's lead those of the units they lead and the units below them."""
    if viewer.is_admin:
        return
    if unit is None:
        raise Forbidden(f"Only admins can {doing} about the company's goals; a unit's lead can for their unit.")
    seen: set[int] = set()
    current: OrgUnit | None = unit
    while current is not None and current.id not in seen:
        if current.lead_id == viewer.id:
            return
        seen.add(current.id)
        current = await session.get(OrgUnit, current.parent_id) if current.parent_id is not None else None
    raise Forbidden(f"Only admins, and the lead of {unit.name} or of a unit above it, can {doing} about {unit.name}.")


@dataclass
class Listed:
    summary: ChannelSummary
    unit: str  # the unit's name, or "the company"
    present: bool
    next_local: datetime | None


async def add(session: AsyncSession, viewer: Viewer, channel: str, unit_name: str | None, cadence: str, weekday: int,
              at: time, known: tuple[ChannelMention, ...], now: datetime | None = None) -> Listed:
    """Subscribe a channel to a unit's (or the company's) summary, at the viewer's local weekday and time."""
    now = now or utcnow()
    unit = await find_unit(session, viewer, unit_name) if unit_name else None
    await _may_manage(session, viewer, unit, "add a summary")
    target = await _channel(session, viewer, channel, known)
    same = (await session.execute(select(ChannelSummary.number).where(
        ChannelSummary.tenant_id == viewer.tenant.id, ChannelSummary.platform == viewer.platform,
        ChannelSummary.removed_at.is_(None),
        ChannelSummary.channel_id == target.channel_id,
        ChannelSummary.org_unit_id.is_(None) if unit is None else ChannelSummary.org_unit_id == unit.id,
    ))).scalar()
    if same is not None:
        raise UserError(f"#{target.name} has the summary of {unit.name if unit else 'the company'} already (S-{same}).",
                        usage=f"goals admin summary remove S-{same}")
    number = ((await session.execute(select(sa.func.max(ChannelSummary.number)).where(
        ChannelSummary.tenant_id == viewer.tenant.id))).scalar() or 0) + 1
    summary = ChannelSummary(
        tenant_id=viewer.tenant.id, number=number, platform=viewer.platform, channel_id=target.channel_id,
        channel_name=target.name, org_unit_id=unit.id if unit else None, cadence=cadence, weekday=weekday,
        at=at.strftime("%H:%M"), timezone=viewer.person.timezone or "UTC", created_by_id=viewer.id,
    )
    zone = zone_of(summary.timezone)
    summary.next_at = next_prompt(plan_of(summary), zone, now)[1]
    session.add(summary)
    await session.flush()
    return Listed(summary, unit.name if unit else "the company", target.present, summary.next_at.astimezone(zone))


async def listed(session: AsyncSession, viewer: Viewer) -> list[Listed]:
    """The summaries the viewer may manage: every one for admins, those of their units for a lead."""
    rows = (await session.execute(
        select(ChannelSummary, OrgUnit, ChatChannel.present)
        .outerjoin(OrgUnit, OrgUnit.id == ChannelSummary.org_unit_id)
        .outerjoin(ChatChannel, sa.and_(ChatChannel.tenant_id == ChannelSummary.tenant_id,
                                        ChatChannel.platform == ChannelSummary.platform,
                                        ChatChannel.channel_id == ChannelSummary.channel_id))
        .where(ChannelSummary.tenant_id == viewer.tenant.id, ChannelSummary.removed_at.is_(None))
        .order_by(ChannelSummary.number)
    )).all()
    if not viewer.is_admin:
        led = set((await session.execute(select(repository.led_units_cte(viewer.id).c.id))).scalars())
        if not led:
            raise Forbidden("Only admins, and the leads of units for their units, can see channel summaries.")
        rows = [row for row in rows if row[1] is not None and row[1].id in led]
    return [Listed(summary, unit.name if unit else "the company", present is not False,
                   summary.next_at.astimezone(zone_of(summary.timezone)) if summary.next_at else None)
            for summary, unit, present in rows]


async def remove(session: AsyncSession, viewer: Viewer, number: int) -> Listed:
    summary = (await session.execute(select(ChannelSummary).where(
        ChannelSummary.tenant_id == viewer.tenant.id, ChannelSummary.number == number,
        ChannelSummary.removed_at.is_(None)))).scalar_one_or_none()
    if summary is None:
        raise NotFound(f"There is no summary S-{number}. See them with goals admin summary list.")
    unit = await session.get(OrgUnit, summary.org_unit_id) if summary.org_unit_id is not None else None
    await _may_manage(session, viewer, unit, "remove a summary")
    summary.removed_at, summary.next_at = utcnow(), None
    return Listed(summary, unit.name if unit else "the company", True, None)


# The clock's part ---------------------------------------------------------------------------


@dataclass
class Changes:
    """What happened to a tenant's goals in a period, from their history: which became active (new), the
    health each had when the period began (for those whose health changed), and which were missed."""

    new: set[int]
    health_before: dict[int, str | None]
    missed: set[int]

    def slipped(self, goal) -> tuple[str | None, str] | None:
        """(health before, now) when the goal is worse off than when the period began, else None."""
        if goal.id in self.missed:
            return self.health_before.get(goal.id), Status.MISSED
        before = self.health_before.get(goal.id)
        if goal.status != Status.ACTIVE or goal.id in self.new or before is None:
            return None
        return (before, goal.health) if WORSE.get(goal.health, 0) > WORSE.get(before, 0) else None


async def _changes(session: AsyncSession, tenant_id: int, since: datetime, now: datetime) -> Changes:
    found = Changes(set(), {}, set())
    for goal_id, before, after in (await session.execute(
        select(GoalEvent.goal_id, GoalEvent.before, GoalEvent.after).where(
            GoalEvent.tenant_id == tenant_id, GoalEvent.at > since, GoalEvent.at <= now,
            GoalEvent.action.in_(("created", "approved", "accepted", "progress", "missed")))
        .order_by(GoalEvent.id)
    )).all():
        before, after = before or {}, after or {}
        if after.get("status") == Status.ACTIVE and before.get("status") in (None, Status.PROPOSED):
            found.new.add(goal_id)
        if "health" in after and goal_id not in found.health_before:
            found.health_before[goal_id] = before.get("health")
        if after.get("status") == Status.MISSED:
            found.missed.add(goal_id)
    return found


async def queue_due(session: AsyncSession, now: datetime, tenant_id: int | None, is_sqlite: bool) -> int:
    """The clock's round: each summary whose time has come is queued to its channel once per period (its
    local date); one whose local day passed while the clock was stopped is not posted late. Returns how
    many were queued."""
    query = select(ChannelSummary).where(ChannelSummary.next_at <= now, ChannelSummary.removed_at.is_(None))
    if tenant_id is not None:
        query = query.where(ChannelSummary.tenant_id == tenant_id)
    query = query.order_by(ChannelSummary.id).limit(MAX_PER_ROUND)
    due = (await session.execute(query if is_sqlite else query.with_for_update(skip_locked=True))).scalars().all()
    if not due:
        return 0
    sending: list[tuple[ChannelSummary, date, datetime]] = []
    for summary in due:
        zone = zone_of(summary.timezone)
        day, at = latest_prompt(plan_of(summary), zone, now)
        following = next_prompt(plan_of(summary), zone, now)[1]
        if end_of_day(day, zone) > now:
            sending.append((summary, day, following))
        summary.next_at = following
    rows: list[dict] = []
    wall = utcnow()
    for tenant, step in sorted({(s.tenant_id, plan_of(s).step) for s, _, _ in sending}):
        since = now - timedelta(days=step)
        reading = await alignment.read(session, tenant, now, since=since)
        changes = await _changes(session, tenant, since, now)
        kudos = await _kudos(session, tenant, since, now)
        for summary, day, following in sending:
            if (summary.tenant_id, plan_of(summary).step) != (tenant, step):
                continue
            scope = Scope(ScopeKind.UNIT, summary.org_unit_id) if summary.org_unit_id else Scope(ScopeKind.TENANT)
            if summary.org_unit_id is not None and summary.org_unit_id not in reading.units:
                continue  # its unit is gone
            body = render(post(reading, scope, summary, day, changes, kudos))
            rows.append(channel_row(tenant, summary.channel_id, summary.platform, Kind.SUMMARY,
                                    f"summary:{summary.id}:{day.isoformat()}", reply_to_dict(body), wall,
                                    wall + (following - now)))
    await repository.insert_new(session, OutboxMessage, rows, ("tenant_id", "dedupe_key"))
    if rows:
        session.info[QUEUED] = True
    return len(rows)


async def _kudos(session: AsyncSession, tenant_id: int, since: datetime, now: datetime) -> list[tuple]:
    """The period's kudos, newest first: (receiver id, giver's name, receiver's name, message, on a private goal)."""
    giver, receiver = aliased(Person), aliased(Person)
    return [tuple(row) for row in (await session.execute(
        select(Kudos.receiver_id, giver.name, receiver.name, Kudos.message, sa.func.coalesce(Goal.private, False))
        .join(giver, giver.id == Kudos.giver_id).join(receiver, receiver.id == Kudos.receiver_id)
        .outerjoin(Goal, Goal.id == Kudos.goal_id)
        .where(Kudos.tenant_id == tenant_id, Kudos.created_at > since, Kudos.created_at <= now)
        .order_by(Kudos.id.desc())
    )).all()]


# The post ---------------------------------------------------------------------------------


@dataclass
class Post:
    title: str
    period: date
    cadence: str
    figures: Figures
    goals: list  # the scope's active public goals, the unit's own first, then the most urgent
    new: list
    achieved: list
    slipped: list  # (goal, health before, after)
    kudos: list[tuple[str, str, str]]  # (giver, receiver, message or "")
    more_command: str
    names: dict[int, str]


def post(reading: Reading, scope: Scope, summary: ChannelSummary, day: date, changes: Changes,
         kudos: list[tuple]) -> Post:
    """A summary's content: the scope's public goals and the period's changes, wins and kudos."""
    figures = alignment.figures(reading, scope, public_only=True)
    goals = reading.scope_goals(scope, public_only=True)
    public = {goal.id: goal for goal in goals}
    active = [goal for goal in goals if goal.status == Status.ACTIVE]
    own = {goal.id for goal in figures.top}
    urgency = {Health.BLOCKED: 0, Health.OFF_TRACK: 1, Health.AT_RISK: 2}
    active.sort(key=lambda g: (g.id not in own, Level(g.level).rank, urgency.get(g.health, 3), g.number))
    people = reading.scope_people(scope)
    unit = reading.units.get(scope.id) if scope.id else None
    more = f"goals list unit:{unit.name}" if unit else "goals tree"
    return Post(
        title=unit.name if unit else "The company",
        period=day,
        cadence=summary.cadence,
        figures=figures,
        goals=active,
        new=[public[g] for g in sorted(changes.new) if g in public and public[g].status == Status.ACTIVE],
        achieved=figures.achieved,
        slipped=[(goal, *moved) for goal in sorted(public.values(), key=lambda g: g.number)
                 for moved in [changes.slipped(goal)] if moved is not None],
        kudos=[(giver, receiver, "" if private else message) for receiver_id, giver, receiver, message, private in kudos
               if receiver_id in people],
        more_command=more,
        names={person.id: person.name for person in reading.people.values()},
    )


def _refs(goals: list) -> str:
    shown = ", ".join(f"{g.ref} {g.title}" for g in goals[:LISTED])
    return shown + (f", and {len(goals) - LISTED} more" if len(goals) > LISTED else "")


def render(p: Post) -> Reply:
    """The post: figures, the period's changes, the goals with their progress, wins and kudos; the most
    urgent first, each list cut short with the command that shows the rest."""
    f = p.figures
    since = "In the last two weeks" if p.cadence == Cadence.BIWEEKLY else "Since last week"
    builder = ReplyBuilder().add(Header(f"{p.title}: goals on {p.period:%A} {p.period}"))
    health = " · ".join(f"{count} {Health.words_of(name) if name != 'none' else 'not set'}"
                        for name, count in f.health.items() if count)
    rate = (lambda value: "no data" if value is None else f"{value:.0f}%")
    builder.add(Fields((
        ("Aligned", f"{rate(f.alignment_rate)} ({f.aligned} of {f.alignable} team and individual goals)"),
        ("Health", health or "no active goals"),
    )))
    changes = []
    if p.slipped:
        changes.append("Slipped: " + ", ".join(
            f"{g.ref} {g.title} ({Health.words_of(before) if before else 'not set'} to "
            f"{Health.words_of(after) if after != Status.MISSED else 'missed'})" for g, before, after in p.slipped[:LISTED])
            + (f", and {len(p.slipped) - LISTED} more" if len(p.slipped) > LISTED else ""))
    if p.achieved:
        changes.append("Achieved: " + _refs(p.achieved))
    if p.new:
        changes.append("New: " + _refs(p.new))
    builder.add(Header(since))
    builder.add(Paragraph("\n".join(changes) if changes else "No goal was added, achieved or slipped."))
    if p.goals:
        builder.add(Header(f"Goals ({len(p.goals)})"))
        for goal in p.goals[:GOALS_SHOWN]:
            builder.add(ProgressLine(ref=goal.ref, label=goal.title, percent=goal.progress,
                                     detail=p.names.get(goal.owner_person_id, ""), health=goal.health))
        if len(p.goals) > GOALS_SHOWN:
            builder.add(Context(f"and {len(p.goals) - GOALS_SHOWN} more: {p.more_command}"))
    wins = []
    if f.kr_hits:
        wins.append("key results on target: " + ", ".join(f"{g.ref}.{position} ({g.title})"
                                                          for g, position in f.kr_hits[:LISTED]))
    if p.kudos:
        given = "; ".join(f"{giver} to {receiver}" + (f": {message[:120]}" if message else "")
                          for giver, receiver, message in p.kudos[:KUDOS_SHOWN])
        wins.append(f"{len(p.kudos)} kudos ({given}" + ("; ..." if len(p.kudos) > KUDOS_SHOWN else "") + ")")
    if wins:
        builder.add(Header("Wins"), Paragraph("; ".join(wins) + "."))
    return builder.build(shared=True)



# Replies to the commands -------------------------------------------------------------------


def _line(item: Listed) -> tuple[str, str]:
    s = item.summary
    when = f"next {item.next_local:%a %Y-%m-%d %H:%M}" if item.next_local else ""
    waiting = "" if item.present else f"; waiting for goalbot: {INVITE} in #{s.channel_name}"
    return f"S-{s.number} #{s.channel_name}", f"{item.unit}, {describe(s)}" + (f", {when}" if when else "") + waiting


def added(item: Listed) -> Reply:
    s = item.summary
    builder = ReplyBuilder().add(Paragraph(
        f"Added S-{s.number}: #{s.channel_name} gets the goals of {item.unit}, {describe(s)}; the first on "
        f"{item.next_local:%A %Y-%m-%d at %H:%M}"
        + (" (every other week, in the same weeks as biweekly check-ins)." if s.cadence == Cadence.BIWEEKLY else ".")))
    if not item.present:
        builder.add(Paragraph(f"goalbot is not in #{s.channel_name} yet: type {INVITE} in the channel. "
                              "The summary is kept and posts once goalbot is in."))
    return builder.build()


def listing(items: list[Listed], admin: bool = True) -> Reply:
    builder = ReplyBuilder().add(Header("Channel summaries"))
    if not items:
        example = "company" if admin else "<your unit>"
        builder.add(Context(f"None yet. Add one: goals admin summary add #general {example} weekly monday 09:00"))
        return builder.build()
    builder.add(Fields(tuple(_line(item) for item in items)))
    builder.add(Context(f"Times are in the zone of whoever added each. Remove one: goals admin summary remove "
                        f"S-{items[0].summary.number}"))
    return builder.build()


def removed(item: Listed) -> Reply:
    return Reply.text(f"Removed S-{item.summary.number}: #{item.summary.channel_name} no longer gets the goals of {item.unit}.")
