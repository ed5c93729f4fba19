"""The clock's round: everything due at an instant becomes outbox rows, once.

`run_round(db, now)` is what `goalbot tick` and the scheduler in `goalbot serve`
call. The instant only decides what is due: the rows a round queues are
deliverable at once. A round is one transaction made of a fixed number of
statements whatever the number of people (bulk reads by an indexed instant, bulk
inserts that leave out what is there already), so the same instant twice, or two
processes at once, queue each message once: the inserts skip existing keys, and
on PostgreSQL the due people are locked (`FOR UPDATE SKIP LOCKED`) so a second
process passes them by.

What is due:

- people never scheduled (new, or their schedule changed): their next prompt is worked out;
- people whose next prompt has come: a prompt for the period, or the period recorded
  as skipped (away, a holiday) or missed (the clock was down past the prompt's local
  day: never sent late in a flood); then their next prompt;
- reminders, once, to those who have not answered;
- after the round's transaction, in transactions of their own (`bot.similar`): once a day, each
  tenant's words too common in its goal titles to search by; then a batch of the goals nobody has
  compared with the others yet (imported, or older than the search for look-alikes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot import digest, nudges, schedule, similar, summaries, views
from bot.maps import MapLinks
from bot.notify import DELIVERABLE, preferred
from bot.checkins import Defaults, load_defaults, own_schedule
from bot.messages import reply_to_dict
from bot.outbox import QUEUED, Kind, State, direct_row
from bot.schedule import Schedule
from bot.views import PromptGoal, PromptKeyResult
from storage import repository
from storage.database import Database
from storage.models import (
    CheckinPeriod, Goal, Holiday, Identity, KeyResult, OutboxMessage, Person, Tenant, as_utc, utcnow,
)
from storage.vocabulary import Level, PeriodState, Status

log = logging.getLogger("goalbot.clock")
MAX_PER_ROUND = 50_000  # people handled in one round; the rest are due in the next
MAX_MISSED = 60  # periods recorded as missed after a long stop, per person
INVITE_GOALS = 5
REMINDER_EXPIRES = timedelta(hours=12)  # a reminder not delivered by then is dropped


@dataclass
class Tally:
    """What one round queued, in the fixed form `goalbot tick` prints."""

    prompts: int = 0
    reminders: int = 0
    escalations: int = 0
    digests: int = 0
    summaries: int = 0
    nudges: int = 0
    skipped: int = 0
    missed: int = 0
    scheduled: int = 0
    unreachable: int = 0
    redrawn: int = 0  # digests drawn again because what they show changed
    compared: int = 0  # goals compared with the others for likely duplicates
    extra: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        def count(n: int, one: str, many: str) -> str:
            return f"{n} {one if n == 1 else many}"

        return ", ".join((
            "queued " + count(self.prompts, "check-in prompt", "check-in prompts"),
            count(self.reminders, "reminder", "reminders"),
            count(self.escalations, "escalation", "escalations"),
            count(self.digests, "digest", "digests"),
            count(self.summaries, "summary", "summaries"),
            count(self.nudges, "nudge", "nudges"),
        ))

    def details(self) -> str:
        return (f"{self.skipped} skipped, {self.missed} missed, {self.unreachable} not reachable in chat, "
                f"{self.scheduled} newly scheduled, {self.redrawn} digests redrawn, "
                f"{self.compared} goals compared for duplicates")


async def run_round(db: Database, now: datetime, *, tenant: str | None = None, links: MapLinks = MapLinks()) -> Tally:
    """One round of the clock at `now` (any instant: it only decides what is due), for every tenant or one;
    `links` says where the goal map its digests link to is served."""
    now = now.astimezone(UTC)
    tally = Tally()
    async with db.transaction(write=True) as session:
        tenant_id = None
        if tenant is not None:
            tenant_id = (await session.execute(select(Tenant.id).where(Tenant.key == tenant))).scalar_one_or_none()
            if tenant_id is None:
                raise LookupError(f"there is no tenant {tenant!r}")
        tally.scheduled = await _schedule_new(session, now, tenant_id, db.is_sqlite)
        await _prompts(session, now, tenant_id, db.is_sqlite, tally)
        tally.reminders = await _reminders(session, now, tenant_id, db.is_sqlite)
        tally.digests = await digest.queue_due(session, now, tenant_id, db.is_sqlite, links)
        tally.redrawn = await digest.redraw_changed(session, now, tenant_id, db.is_sqlite, links)
        await digest.keep_closed_week(session, now, tenant_id)
        tally.summaries = await summaries.queue_due(session, now, tenant_id, db.is_sqlite)
    await similar.count_common_words(db, now, tenant_id)
    tally.compared = await similar.look_over_unchecked(db, tenant_id)
    log.info("clock round at %s: %s (%s)", now.isoformat(), tally.line(), tally.details())
    return tally


def _in_tenant(query, column, tenant_id: int | None):
    return query if tenant_id is None else query.where(column == tenant_id)


def _locked(query, is_sqlite: bool, of):
    return query if is_sqlite else query.with_for_update(skip_locked=True, of=of)


PERSON_COLUMNS = (
    Person.id, Person.tenant_id, Person.timezone, Person.org_unit_id, Person.checkin_own, Person.checkin_weekday,
    Person.checkin_time, Person.checkin_cadence, Person.away_until, Person.next_prompt_at, Person.last_platform,
)


def _schedule(row, defaults: Defaults) -> Schedule:
    if row.checkin_own:
        return own_schedule(row)
    return defaults.for_person(row.tenant_id, row.org_unit_id)[0]


async def _schedule_new(session: AsyncSession, now: datetime, tenant_id: int | None, is_sqlite: bool) -> int:
    """People with no next prompt yet (new, or whose default changed): their next one after now, never a
    second prompt for a period already prompted."""
    query = _in_tenant(
        select(*PERSON_COLUMNS).where(Person.next_prompt_at.is_(None), Person.checkins_off.is_(False)),
        Person.tenant_id, tenant_id,
    ).limit(MAX_PER_ROUND)
    rows = (await session.execute(_locked(query, is_sqlite, Person))).all()
    if not rows:
        return 0
    defaults = await load_defaults(session, {row.tenant_id for row in rows})
    latest_query = _in_tenant(
        select(CheckinPeriod.person_id, sa.func.max(CheckinPeriod.due_at), sa.func.max(CheckinPeriod.period))
        .join(Person, Person.id == CheckinPeriod.person_id)
        .where(Person.next_prompt_at.is_(None), Person.checkins_off.is_(False))
        .group_by(CheckinPeriod.person_id),
        Person.tenant_id, tenant_id,
    )
    latest = {person: (due, day) for person, due, day in (await session.execute(latest_query)).all()}
    updates = []
    for row in rows:
        due, day = latest.get(row.id, (None, None))
        after = max(now, as_utc(due)) if due is not None else now
        _, at = schedule.next_prompt(_schedule(row, defaults), schedule.zone_of(row.timezone), after, not_on=day)
        updates.append({"id": row.id, "next_prompt_at": at})
    await repository.update_many(session, Person, "id", updates)
    return len(updates)


@dataclass
class _Due:
    """One due person's part of the round."""

    row: object
    zone: object
    periods: list[dict] = field(default_factory=list)
    prompt: tuple[date, datetime, datetime | None] | None = None  # period, due instant, remind at
    prompt_expires: timedelta | None = None
    next_at: datetime | None = None


async def _prompts(session: AsyncSession, now: datetime, tenant_id: int | None, is_sqlite: bool, tally: Tally) -> None:
    due_filter = (Person.next_prompt_at <= now, Person.checkins_off.is_(False))
    query = _in_tenant(
        select(*PERSON_COLUMNS, Tenant.reminder_minutes).join(Tenant, Tenant.id == Person.tenant_id).where(*due_filter),
        Person.tenant_id, tenant_id,
    ).order_by(Person.next_prompt_at).limit(MAX_PER_ROUND)
    rows = (await session.execute(_locked(query, is_sqlite, Person))).all()
    if not rows:
        return
    tenants = {row.tenant_id for row in rows}
    defaults = await load_defaults(session, tenants)
    holidays = {
        (tenant, day)
        for tenant, day in (await session.execute(
            select(Holiday.tenant_id, Holiday.day).where(Holiday.tenant_id.in_(tenants))
        )).all()
    }
    plans: list[_Due] = []
    for row in rows:
        plan = _Due(row, schedule.zone_of(row.timezone))
        _periods_of(plan, _schedule(row, defaults), now, holidays)
        plans.append(plan)

    prompted = [plan for plan in plans if plan.prompt is not None]
    goals, key_results = await _goals_of(session, due_filter, tenant_id) if prompted else ({}, {})
    invites = await _invites(session, [plan.row for plan in prompted if not goals.get(plan.row.id)])
    platforms = await _platforms(session, due_filter, tenant_id) if prompted else {}

    wall = utcnow()  # what the round queues is deliverable at once, whatever instant it was given
    period_rows: list[dict] = []
    outbox_rows: list[dict] = []
    nudging: list[nudges.Due] = []
    for plan in plans:
        row = plan.row
        period_rows.extend(plan.periods)
        tally.skipped += sum(1 for p in plan.periods if p["state"] == PeriodState.SKIPPED)
        tally.missed += sum(1 for p in plan.periods if p["state"] == PeriodState.MISSED)
        if plan.prompt is None:
            continue
        day, due_at, remind_at = plan.prompt
        mine = goals.get(row.id, [])
        platform = row.last_platform if row.last_platform in DELIVERABLE else platforms.get(row.id)
        key = f"prompt:{row.id}:{day.isoformat()}"
        if platform is None:
            tally.unreachable += 1
            period_rows.append(_period(row, day, due_at, PeriodState.DROPPED, "no chat account to write to"))
            continue
        period_rows.append(_period(row, day, due_at, PeriodState.PROMPTED, "", key=key,
                                   remind_at=remind_at if mine and row.reminder_minutes else None))
        body = views.checkin_prompt(day, [
            PromptGoal(number, title, progress, health, note, tuple(key_results.get(goal_id, ())))
            for goal_id, number, title, progress, health, note in mine
        ], invite=invites.get(row.org_unit_id, []))
        outbox_rows.append(direct_row(row.tenant_id, row.id, platform, Kind.PROMPT, key, reply_to_dict(body), wall,
                                    wall + plan.prompt_expires))
        tally.prompts += 1
        nudging.append(nudges.Due(row.id, row.tenant_id, row.org_unit_id, platform,
                                  _schedule(row, defaults).step, day.isoformat()))
    owners = (*due_filter, *((Person.tenant_id == tenant_id,) if tenant_id is not None else ()))
    nudge_rows = await nudges.queue(session, nudging, now, wall, owners)
    tally.nudges += len(nudge_rows)
    outbox_rows.extend(nudge_rows)
    await repository.insert_new(session, CheckinPeriod, period_rows, ("person_id", "period"))
    await repository.insert_new(session, OutboxMessage, outbox_rows, ("tenant_id", "dedupe_key"))
    await repository.update_many(session, Person, "id", [{"id": p.row.id, "next_prompt_at": p.next_at} for p in plans])
    if outbox_rows:
        session.info[QUEUED] = True


def _periods_of(plan: _Due, plan_schedule: Schedule, now: datetime, holidays: set[tuple[int, date]]) -> None:
    """Walk the person's prompts from the one due up to now: each past its local day is missed, the one
    whose day is still on is prompted; away and holidays make a period skipped. Then the next one."""
    row, zone = plan.row, plan.zone
    at = as_utc(row.next_prompt_at)
    day = at.astimezone(zone).date()
    walked = 0
    while at <= now:
        end = schedule.end_of_day(day, zone)
        following_day, following = schedule.next_prompt(plan_schedule, zone, at)
        if row.away_until is not None and row.away_until >= day:
            plan.periods.append(_period(row, day, at, PeriodState.SKIPPED, f"away until {row.away_until}"))
        elif (row.tenant_id, day) in holidays:
            plan.periods.append(_period(row, day, at, PeriodState.SKIPPED, "holiday"))
        elif end <= now:
            plan.periods.append(_period(row, day, at, PeriodState.MISSED, "the clock was not running that day"))
        else:
            remind = None
            if row.reminder_minutes:
                # From when it goes out: a prompt sent late is not reminded of in the same round.
                remind = schedule.reminder_time(max(at, now), timedelta(minutes=row.reminder_minutes), zone, following)
            plan.prompt = (day, at, remind)
            plan.prompt_expires = end - now
        walked += 1
        if walked == MAX_MISSED and following <= now:
            # A very long stop: the periods in between are not walked one by one.
            last_day, last = schedule.latest_prompt(plan_schedule, zone, now)
            if last > following:
                following_day, following = last_day, last
        day, at = following_day, following
    plan.next_at = at


def _period(row, day: date, due_at: datetime, state: str, reason: str, *, key: str | None = None,
            remind_at: datetime | None = None) -> dict:
    return {"tenant_id": row.tenant_id, "person_id": row.id, "period": day, "due_at": due_at, "state": state,
            "reason": reason, "prompt_key": key, "remind_at": remind_at, "reminded_at": None, "answered_at": None,
            "pending_answer": None}


async def _goals_of(session: AsyncSession, due_filter, tenant_id: int | None):
    """The due people's active goals and those goals' key results, in two queries."""
    owned = _in_tenant(
        select(Goal.owner_person_id, Goal.id, Goal.number, Goal.title, Goal.progress, Goal.health, Goal.note)
        .join(Person, Person.id == Goal.owner_person_id)
        .where(*due_filter, Goal.status == Status.ACTIVE)
        .order_by(Goal.number),
        Person.tenant_id, tenant_id,
    )
    goals: dict[int, list[tuple]] = defaultdict(list)
    for owner, *rest in (await session.execute(owned)).all():
        goals[owner].append(tuple(rest))
    results = _in_tenant(
        select(KeyResult.goal_id, KeyResult.position, KeyResult.metric, KeyResult.start, KeyResult.current,
               KeyResult.target, KeyResult.unit)
        .join(Goal, Goal.id == KeyResult.goal_id)
        .join(Person, Person.id == Goal.owner_person_id)
        .where(*due_filter, Goal.status == Status.ACTIVE)
        .order_by(KeyResult.goal_id, KeyResult.position),
        Person.tenant_id, tenant_id,
    )
    key_results: dict[int, list[PromptKeyResult]] = defaultdict(list)
    for goal_id, position, metric, start, current, target, unit in (await session.execute(results)).all():
        progress = KeyResult(goal_id=goal_id, position=position, metric=metric, start=start, target=target,
                             current=current).progress
        key_results[goal_id].append(PromptKeyResult(position, metric, start, current, target, unit, progress))
    return goals, key_results


async def _invites(session: AsyncSession, people: list) -> dict[int | None, list[tuple[str, str]]]:
    """For people with no active goal: the open goals of their unit they could support, by unit."""
    units = {row.org_unit_id for row in people if row.org_unit_id is not None}
    if not units:
        return {}
    found: dict[int | None, list[tuple[str, str]]] = defaultdict(list)
    rows = await session.execute(
        select(Goal.owner_unit_id, Goal.number, Goal.title)
        .where(Goal.owner_unit_id.in_(units), Goal.status == Status.ACTIVE, Goal.private.is_(False),
               Goal.level != Level.INDIVIDUAL)
        .order_by(Goal.owner_unit_id, Goal.number)
    )
    for unit, number, title in rows.all():
        if len(found[unit]) < INVITE_GOALS:
            found[unit].append((f"G-{number}", title))
    return found


async def _platforms(session: AsyncSession, due_filter, tenant_id: int | None) -> dict[int, str]:
    """Where to reach each due person who has not talked to goalbot lately: a chat identity they have."""
    query = _in_tenant(
        select(Identity.person_id, Identity.platform)
        .join(Person, Person.id == Identity.person_id)
        .where(*due_filter, Identity.platform.in_(DELIVERABLE)),
        Person.tenant_id, tenant_id,
    )
    return preferred((await session.execute(query)).all())


async def _reminders(session: AsyncSession, now: datetime, tenant_id: int | None, is_sqlite: bool) -> int:
    """One reminder per period to those who have not answered, once its time has come."""
    query = _in_tenant(
        select(CheckinPeriod.id, CheckinPeriod.prompt_key, CheckinPeriod.period, CheckinPeriod.tenant_id,
               CheckinPeriod.person_id, CheckinPeriod.remind_at, OutboxMessage.platform, OutboxMessage.body,
               OutboxMessage.state)
        .join(OutboxMessage, sa.and_(OutboxMessage.tenant_id == CheckinPeriod.tenant_id,
                                     OutboxMessage.dedupe_key == CheckinPeriod.prompt_key))
        .where(CheckinPeriod.remind_at <= now, CheckinPeriod.answered_at.is_(None)),
        CheckinPeriod.tenant_id, tenant_id,
    ).limit(MAX_PER_ROUND)
    rows = (await session.execute(_locked(query, is_sqlite, CheckinPeriod))).all()
    if not rows:
        return 0
    wall = utcnow()
    messages = []
    for row in rows:
        if row.state not in (State.SENT, State.PENDING, State.SENDING):
            continue  # the prompt never reached them: no reminder of it either
        if as_utc(row.remind_at) < now - REMINDER_EXPIRES:
            continue  # its time passed while the clock was stopped: never sent late
        body = dict(row.body)
        blocks = list(body.get("blocks", []))
        if blocks and blocks[0].get("kind") == "header":
            blocks[0] = {**blocks[0], "text": "Reminder: " + blocks[0]["text"]}
        body["blocks"] = blocks
        messages.append(direct_row(row.tenant_id, row.person_id, row.platform, Kind.REMINDER,
                                 f"reminder:{row.person_id}:{row.period.isoformat()}", body, wall,
                                 wall + REMINDER_EXPIRES))
    await repository.insert_new(session, OutboxMessage, messages, ("tenant_id", "dedupe_key"))
    await repository.update_many(session, CheckinPeriod, "id",
                                 [{"id": row.id, "remind_at": None, "reminded_at": wall} for row in rows])
    if messages:
        session.info[QUEUED] = True
    return len(messages)



def parse_instant(value: str) -> datetime:
    """An instant to run a round at, as ISO 8601 with its zone (`2027-03-08T14:00:00Z`), in UTC."""
    try:
        instant = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not an instant; write it like 2027-03-08T14:00:00Z") from None
    if instant.tzinfo is None:
        example = f"{instant:%Y-%m-%dT%H:%M:%S}Z"
        raise ValueError(f"{value!r} has no zone; add Z for UTC ({example}) or an offset (+01:00)")
    return instant.astimezone(UTC)


class Clock:
    """`goalbot serve`'s clock: APScheduler runs the round once at start and then every minute.

    The database is the source of truth (each person's next prompt instant); the job
    store is in memory, and a missed minute is coalesced into the next round.
    """

    INTERVAL_SECONDS = 60
    MISFIRE_GRACE_SECONDS = 30

    STOP_WAITS_SECONDS = 20  # for a round under way to end, so its database connection is given back

    def __init__(self, db: Database, on_queued, links: MapLinks = MapLinks()) -> None:
        self.db = db
        self.on_queued = on_queued
        self.links = links
        self.scheduler = None
        self._round: asyncio.Task | None = None

    def start(self) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.scheduler.add_job(
            self.tick, "interval", seconds=self.INTERVAL_SECONDS, id="goalbot-round", coalesce=True,
            max_instances=1, misfire_grace_time=self.MISFIRE_GRACE_SECONDS, next_run_time=datetime.now(UTC),
        )
        self.scheduler.start()

    async def tick(self) -> Tally | None:
        """One round now; a failure is logged and the next minute tries again."""
        self._round = asyncio.current_task()
        try:
            tally = await run_round(self.db, utcnow(), links=self.links)
        except Exception:  # noqa: BLE001 - the clock must outlive one bad round
            log.exception("clock round failed")
            return None
        finally:
            self._round = None
        if tally.prompts or tally.reminders or tally.escalations or tally.digests or tally.redrawn or tally.summaries \
                or tally.nudges:
            self.on_queued()
        return tally

    @property
    def busy(self) -> bool:
        """Whether a round is under way."""
        return self._round is not None and not self._round.done()

    async def stop(self) -> None:
        """No more rounds; one under way ends first (a round cut off would hold its database connection,
        and SQLite's connection thread keeps the process from exiting)."""
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.scheduler = None
        running = self._round
        if running is not None and not running.done():
            try:
                await asyncio.wait_for(asyncio.shield(running), self.STOP_WAITS_SECONDS)
            except TimeoutError:
                log.warning("the clock's round did not end within %s s; stopping it", self.STOP_WAITS_SECONDS)
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await running
