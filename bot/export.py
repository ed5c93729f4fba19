"""Everything one tenant has, as tables for performance reviews: goals, key results, milestones, check-ins,
kudos, the audit history, and a row per person with their figures.

Goals and key results are named by their references (`G-12`, `G-12.1`) and people by email, so a
table reads on its own and the tables join without the database's ids. `since` keeps what was created
or changed on or after that day (people are always all there, their figures counted over what is kept).
One tenant at a time: nothing of another tenant is read.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, time

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot.alignment import ALIGNED_LEVELS, STANDALONE
from storage.models import (
    CheckIn, CheckinPeriod, Goal, GoalEvent, KeyResult, Kudos, Milestone, OrgUnit, Person, Tenant, as_utc,
)
from storage.vocabulary import PeriodState, Status

TABLES = ("goals", "key_results", "milestones", "check_ins", "kudos", "history", "people")


def _moment(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    return value.isoformat()


async def tables(session: AsyncSession, tenant_key: str, since: date | None = None) -> dict[str, list[dict]]:
    """The tenant's tables, each a list of rows (column -> value, every value text, a number, a bool or None)."""
    tenant = (await session.execute(select(Tenant).where(Tenant.key == tenant_key))).scalar_one_or_none()
    if tenant is None:
        raise LookupError(f"there is no tenant {tenant_key!r}")
    tid = tenant.id
    start = datetime.combine(since, time(0), tzinfo=UTC) if since else None

    def recent(*columns):
        """Created or changed on or after `since`, when given."""
        return sa.or_(*(column >= start for column in columns)) if start is not None else sa.true()

    people = {row.id: row for row in (await session.execute(select(Person).where(Person.tenant_id == tid))).scalars()}
    email = {pid: person.email for pid, person in people.items()}
    units = {row.id: row for row in (await session.execute(select(OrgUnit).where(OrgUnit.tenant_id == tid))).scalars()}
    every_goal = {row.id: row for row in (await session.execute(select(Goal).where(Goal.tenant_id == tid))).scalars()}
    ref = {gid: goal.ref for gid, goal in every_goal.items()}
    goals = [g for g in every_goal.values()
             if start is None or max(as_utc(g.created_at), as_utc(g.updated_at)) >= start]
    goal_rows = [{
        "reference": g.ref, "title": g.title, "description": g.description, "level": g.level, "status": g.status,
        "health": g.health, "progress": round(g.progress, 2), "note": g.note,
        "owner": email.get(g.owner_person_id) if g.owner_person_id else None,
        "owner_unit": units[g.owner_unit_id].name if g.owner_unit_id in units else None,
        "parent": ref.get(g.parent_id), "category": g.category, "private": g.private,
        "start_date": _moment(g.start_date), "due_date": _moment(g.due_date),
        "created_at": _moment(g.created_at), "updated_at": _moment(g.updated_at),
    } for g in sorted(goals, key=lambda g: g.number)]
    key_results = [{
        "reference": f"{ref[kr.goal_id]}.{kr.position}", "goal": ref[kr.goal_id], "metric": kr.metric,
        "start": kr.start, "target": kr.target, "current": kr.current, "unit": kr.unit, "updated_at": _moment(kr.updated_at),
    } for kr in (await session.execute(
        select(KeyResult).join(Goal, Goal.id == KeyResult.goal_id)
        .where(Goal.tenant_id == tid, recent(KeyResult.updated_at)).order_by(Goal.number, KeyResult.position)
    )).scalars()]
    milestones = [{
        "goal": ref[m.goal_id], "position": m.position, "title": m.title, "due_date": _moment(m.due_date),
        "done_at": _moment(m.done_at), "created_at": _moment(m.created_at),
    } for m in (await session.execute(
        select(Milestone).join(Goal, Goal.id == Milestone.goal_id)
        .where(Goal.tenant_id == tid, recent(Milestone.created_at, Milestone.done_at))
        .order_by(Goal.number, Milestone.position)
    )).scalars()]
    check_ins = [{
        "person": email.get(c.person_id), "period": _moment(c.period), "answer": c.answer,
        "answered_at": _moment(c.answered_at), "updated_at": _moment(c.updated_at),
    } for c in (await session.execute(
        select(CheckIn).where(CheckIn.tenant_id == tid, recent(CheckIn.answered_at, CheckIn.updated_at))
        .order_by(CheckIn.period, CheckIn.id)
    )).scalars()]
    kudos = [{
        "from": email.get(k.giver_id), "to": email.get(k.receiver_id), "goal": ref.get(k.goal_id),
        "message": k.message, "created_at": _moment(k.created_at),
    } for k in (await session.execute(
        select(Kudos).where(Kudos.tenant_id == tid, recent(Kudos.created_at)).order_by(Kudos.id)
    )).scalars()]
    history = [{
        "goal": ref.get(e.goal_id), "at": _moment(e.at), "by": email.get(e.actor_id), "action": e.action,
        "before": json.dumps(e.before, sort_keys=True, ensure_ascii=False),
        "after": json.dumps(e.after, sort_keys=True, ensure_ascii=False),
    } for e in (await session.execute(
        select(GoalEvent).where(GoalEvent.tenant_id == tid, recent(GoalEvent.at)).order_by(GoalEvent.id)
    )).scalars()]
    asked: Counter = Counter()
    answered: Counter = Counter()
    for person_id, answered_at in (await session.execute(
        select(CheckinPeriod.person_id, CheckinPeriod.answered_at)
        .where(CheckinPeriod.tenant_id == tid, CheckinPeriod.state == PeriodState.PROMPTED, recent(CheckinPeriod.due_at))
    )).all():
        asked[person_id] += 1
        answered[person_id] += answered_at is not None
    received = Counter(k["to"] for k in kudos)
    people_rows = []
    for pid, person in sorted(people.items(), key=lambda item: item[1].email):
        theirs = [g for g in goals if g.owner_person_id == pid and g.status not in (Status.PROPOSED, Status.RETURNED)]
        alignable = [g for g in theirs if g.level in ALIGNED_LEVELS and g.category not in STANDALONE]
        people_rows.append({
            "email": person.email, "name": person.name, "manager": email.get(person.manager_id),
            "unit": units[person.org_unit_id].name if person.org_unit_id in units else None,
            "role": person.role, "timezone": person.timezone,
            "goals": len(theirs), "achieved": sum(1 for g in theirs if g.status == Status.ACHIEVED),
            "aligned": sum(1 for g in alignable if g.parent_id is not None), "alignable": len(alignable),
            "check_ins_answered": answered[pid], "check_ins_asked": asked[pid], "kudos_received": received[person.email],
        })
    return {"goals": goal_rows, "key_results": key_results, "milestones": milestones, "check_ins": check_ins,
            "kudos": kudos, "history": history, "people": people_rows}
