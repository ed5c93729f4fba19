"""Digests at scale: an organisation of 10,000 people, 1,000 managers, 50,000 goals and 200,000 check-ins.

It prints the clock's round that builds and queues every manager's digest (time, SQL statements, and the
same for a round in which a tenth of the managers are due, to show the count does not grow with them),
the round that builds and queues a channel summary for every org unit, `goals digest` for one manager of
200 reports, and the process's peak memory.

    .venv/bin/python benchmarks/digest.py [--people 10000] [--postgres postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import resource
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.servers import Statements, benchmark_database  # noqa: E402
from bot import digest, summaries  # noqa: E402
from bot.people import tenant_by_key  # noqa: E402
from storage.database import Database  # noqa: E402
from storage.models import (  # noqa: E402
    ChannelSummary, CheckIn, CheckinPeriod, Goal, GoalEvent, Identity, KeyResult, Kudos, OrgUnit, Person, utcnow,
)

MONDAY = datetime(2027, 3, 8, 8, 30, tzinfo=UTC)  # 09:30 in Paris, where everyone is
TARGETS = {"round": 10.0, "memory_mb": 500.0, "one": 0.3}
WEEKS = 20


async def build(db: Database, people: int, seed: int = 7) -> dict:
    """The organisation: a CEO, ten department heads, a hundred directors, the rest of the managers leading
    teams of about ten, and one manager with 200 reports; goals at every level, most linked to the one
    above; twenty weeks of check-in periods, most answered; kudos and achievements in the last week."""
    rng = random.Random(seed)
    now = utcnow()
    managers = people // 10
    if managers < 120:
        raise SystemExit("--people must be 1,200 or more (ten department heads and a hundred directors lead the teams)")
    async with db.transaction() as session:
        tenant = await tenant_by_key(session, "default", create=True)
        company = OrgUnit(tenant_id=tenant.id, name="Company", kind="company")
        session.add(company)
        await session.flush()
        departments = [OrgUnit(tenant_id=tenant.id, name=f"Department {d}", kind="department", parent_id=company.id)
                       for d in range(10)]
        session.add_all(departments)
        await session.flush()
        team_count = managers - 111
        teams = [OrgUnit(tenant_id=tenant.id, name=f"Team {t}", kind="team", parent_id=departments[t % 10].id)
                 for t in range(team_count)]
        session.add_all(teams)
        await session.flush()

        def person(i: int, unit: int, role: str = "member") -> dict:
            return {"tenant_id": tenant.id, "email": f"p{i}@org.example", "name": f"Person {i}", "timezone": "Europe/Paris",
                    "role": role, "org_unit_id": unit, "checkin_own": False, "checkin_weekday": 0, "checkin_time": "09:00",
                    "checkin_cadence": "weekly", "checkins_off": False, "digest_weekday": 0, "digest_time": "09:30",
                    "digests_off": False, "created_at": now, "updated_at": now}

        rows = [person(0, company.id, "admin")]
        rows += [person(1 + d, departments[d].id, "manager") for d in range(10)]
        rows += [person(11 + x, departments[x % 10].id, "manager") for x in range(100)]
        rows += [person(111 + t, teams[t].id, "manager") for t in range(team_count)]
        members = people - managers
        rows += [person(managers + m, teams[m % team_count].id) for m in range(members)]
        await session.execute(sa.insert(Person.__table__), rows)
        ids = dict((await session.execute(select_ids(tenant.id))).all())
        pid = [ids[f"p{i}@org.example"] for i in range(people)]
        # Managers: department heads under the CEO, directors under heads, team leads under directors;
        # members under their team's lead, but the first 200 members all under one lead.
        updates = [{"_id": pid[1 + d], "_manager": pid[0]} for d in range(10)]
        updates += [{"_id": pid[11 + x], "_manager": pid[1 + x % 10]} for x in range(100)]
        updates += [{"_id": pid[111 + t], "_manager": pid[11 + t % 100]} for t in range(team_count)]
        big = pid[111]
        updates += [{"_id": pid[managers + m], "_manager": big if m < 200 else pid[111 + m % team_count]}
                    for m in range(members)]
        await session.execute(sa.update(Person.__table__).where(Person.__table__.c.id == sa.bindparam("_id"))
                              .values(manager_id=sa.bindparam("_manager")), updates)
        await session.execute(sa.update(OrgUnit.__table__).where(OrgUnit.__table__.c.id == sa.bindparam("_id"))
                              .values(lead_id=sa.bindparam("_lead")),
                              [{"_id": departments[d].id, "_lead": pid[1 + d]} for d in range(10)]
                              + [{"_id": teams[t].id, "_lead": pid[111 + t]} for t in range(team_count)])
        await session.execute(sa.insert(Identity.__table__), [
            {"tenant_id": tenant.id, "person_id": p, "platform": "slack", "external_id": f"U{i:06d}", "created_at": now}
            for i, p in enumerate(pid)])

        # Goals: 10 company, 5 per department, 2 per team, the rest individual (about five each).
        number = 0
        goals: list[dict] = []

        def goal(level: str, owner_person=None, owner_unit=None, parent_number=None) -> int:
            nonlocal number
            number += 1
            goals.append({"tenant_id": tenant.id, "number": number, "title": f"{level.capitalize()} goal {number} "
                          f"{rng.choice(('grow', 'cut', 'ship', 'hire', 'reduce', 'launch'))} "
                          f"{rng.choice(('churn', 'latency', 'revenue', 'costs', 'onboarding', 'alerts'))}",
                          "description": "", "level": level, "owner_person_id": owner_person, "owner_unit_id": owner_unit,
                          "category": "business", "private": rng.random() < 0.05,
                          "status": "proposed" if level == "individual" and rng.random() < 0.05 else "active",
                          "awaiting": "manager", "health": rng.choice((None, "on_track", "on_track", "at_risk", "off_track", "blocked")),
                          "progress": rng.uniform(0, 100), "manual_progress": 0.0, "note": "latest news",
                          "due_date": (MONDAY + timedelta(days=rng.randint(-30, 200))).date(),
                          "created_at": now, "updated_at": now,
                          "progress_updated_at": MONDAY - timedelta(days=rng.randint(0, 30)),
                          "_parent": parent_number})
            return number

        company_goals = [goal("company", owner_unit=company.id) for _ in range(10)]
        department_goals = {d: [goal("department", owner_unit=departments[d].id, parent_number=rng.choice(company_goals))
                                for _ in range(5)] for d in range(10)}
        team_goals = {t: [goal("team", owner_unit=teams[t].id, parent_number=rng.choice(department_goals[t % 10]))
                          for _ in range(2)] for t in range(team_count)}
        total = people * 5
        index = 0
        while number < total:
            m = index % members
            index += 1
            team = m % team_count
            parent = rng.choice(team_goals[team]) if rng.random() < 0.8 else None
            goal("individual", owner_person=pid[managers + m], parent_number=parent)
        parents = {g["number"]: g.pop("_parent") for g in goals}
        for g in goals:
            g.pop("_parent", None)
        await session.execute(sa.insert(Goal.__table__), goals)
        gid = dict((await session.execute(sa.select(Goal.number, Goal.id).where(Goal.tenant_id == tenant.id))).all())
        await session.execute(sa.update(Goal.__table__).where(Goal.__table__.c.id == sa.bindparam("_id"))
                              .values(parent_id=sa.bindparam("_parent")),
                              [{"_id": gid[n], "_parent": gid[p]} for n, p in parents.items() if p is not None])
        tenant.last_goal_number = number
        await session.execute(sa.insert(KeyResult.__table__), [
            {"goal_id": gid[n], "position": 1, "metric": "Things done", "start": 0, "target": 10,
             "current": rng.choice((4, 10)), "unit": "", "updated_at": MONDAY - timedelta(days=2)}
            for n in range(1, number + 1, 5)])

        # Twenty weeks of periods for everyone (the CEO is not asked): most answered.
        periods, answers = [], []
        for week in range(WEEKS):
            day = (MONDAY - timedelta(weeks=WEEKS - 1 - week)).date()
            due = datetime(day.year, day.month, day.day, 8, tzinfo=UTC)
            for p in pid[1:]:
                answered = rng.random() < 0.7
                periods.append({"tenant_id": tenant.id, "person_id": p, "period": day, "due_at": due, "state": "prompted",
                                "reason": "", "prompt_key": None, "remind_at": None, "reminded_at": None,
                                "answered_at": due + timedelta(hours=2) if answered else None, "pending_answer": None})
                if answered:
                    answers.append({"tenant_id": tenant.id, "person_id": p, "period": day, "answer": "G-1 50%",
                                    "answered_at": due + timedelta(hours=2), "updated_at": due + timedelta(hours=2)})
        for chunk in range(0, len(periods), 20_000):
            await session.execute(sa.insert(CheckinPeriod.__table__), periods[chunk:chunk + 20_000])
        for chunk in range(0, len(answers), 20_000):
            await session.execute(sa.insert(CheckIn.__table__), answers[chunk:chunk + 20_000])
        week_ago = MONDAY - timedelta(days=6)
        await session.execute(sa.insert(Kudos.__table__), [
            {"tenant_id": tenant.id, "giver_id": rng.choice(pid), "receiver_id": rng.choice(pid), "goal_id": None,
             "message": "thanks", "created_at": week_ago} for _ in range(people * 2)])
        await session.execute(sa.insert(GoalEvent.__table__), [
            {"tenant_id": tenant.id, "goal_id": gid[rng.randint(1, number)], "actor_id": None, "at": week_ago,
             "action": "key result updated", "before": {}, "after": {"key_result": 1, "current": 10}}
            for _ in range(people)])
    return {"tenant": tenant.id, "big": big, "managers": managers, "goals": number, "periods": len(periods)}


def select_ids(tenant_id: int):
    return sa.select(Person.email, Person.id).where(Person.tenant_id == tenant_id)


async def measure(db: Database, people: int) -> dict:
    started = time.perf_counter()
    org = await build(db, people)
    built = time.perf_counter() - started
    statements = Statements(db)
    async with db.transaction() as session:
        # Everyone's next digest worked out the week before; then the round at Monday 09:30.
        await digest.queue_due(session, MONDAY - timedelta(days=6), None, db.is_sqlite)
    # A round with a tenth of the managers due (the others' digests later that day), for the statement count.
    async with db.transaction() as session:
        ids = list((await session.execute(sa.select(Person.id).where(Person.next_digest_at.is_not(None))
                                          .order_by(Person.id))).scalars())
        await session.execute(sa.update(Person).where(Person.id.in_(ids[len(ids) // 10:]))
                              .values(next_digest_at=MONDAY + timedelta(hours=6)))
    with statements.measuring() as small:
        async with db.transaction() as session:
            small["queued"] = await digest.queue_due(session, MONDAY, None, db.is_sqlite)
    async with db.transaction() as session:
        await session.execute(sa.text("DELETE FROM outbox_message"))
        await session.execute(sa.text("DELETE FROM alignment_snapshot"))
        await session.execute(sa.update(Person).where(Person.next_digest_at.is_not(None)).values(next_digest_at=MONDAY))
    with statements.measuring() as every:
        async with db.transaction() as session:
            every["queued"] = await digest.queue_due(session, MONDAY, None, db.is_sqlite)

    # Every unit's channel summary, due at once: the clock's round that builds and queues them all.
    async with db.transaction() as session:
        units = list((await session.execute(sa.select(OrgUnit.id).where(OrgUnit.tenant_id == org["tenant"]))).scalars())
        session.add_all([ChannelSummary(tenant_id=org["tenant"], number=n + 1, platform="slack", channel_id=f"C{unit}",
                                        channel_name=f"unit-{unit}", org_unit_id=unit, weekday=0, at="09:30",
                                        timezone="Europe/Paris", next_at=MONDAY) for n, unit in enumerate(units)])
    with statements.measuring() as posts:
        async with db.transaction() as session:
            posts["queued"] = await summaries.queue_due(session, MONDAY, None, db.is_sqlite)

    from bot.dispatch import Bot
    from bot.messages import Actor, Address, IncomingMessage

    bot = Bot(db)
    async with db.transaction(write=False) as session:
        email = (await session.execute(sa.select(Person.email).where(Person.id == org["big"]))).scalar_one()
    actor = Actor("slack", "UBIG", email=email)
    times = []
    for _ in range(7):
        began = time.perf_counter()
        reply = await bot.handle(IncomingMessage(actor, "goals digest", Address.direct("slack", "UBIG")))
        times.append(time.perf_counter() - began)
    assert not reply.error, reply
    return {**org, "people": people, "built": built, "every": every, "small": small, "posts": posts,
            "one": statistics.median(times[1:]),
            "memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def report(found: dict, label: str) -> None:
    every, small = found["every"], found["small"]
    print(f"goalbot digests on {label}: {found['people']:,} people, {found['managers']:,} managers, "
          f"{found['goals']:,} goals, {found['periods']:,} check-in periods (built in {found['built']:.0f} s)")
    print(f"  round that builds and queues every digest  {every['seconds']:.2f} s, {every['statements']} SQL statements "
          f"({every['queued']:,} digests)   target < {TARGETS['round']:.0f} s")
    print(f"  same round, a tenth of the managers due    {small['seconds']:.2f} s, {small['statements']} SQL statements "
          f"({small['queued']:,} digests): the count does not grow with the managers")
    posts = found["posts"]
    print(f"  round that queues every unit's summary     {posts['seconds']:.2f} s, {posts['statements']} SQL statements "
          f"({posts['queued']:,} channel summaries)")
    print(f"  goals digest, a manager of 200 reports     {found['one'] * 1000:.0f} ms (median of 6)   "
          f"target < {TARGETS['one'] * 1000:.0f} ms")
    print(f"  peak memory                                {found['memory_mb']:.0f} MB   target < {TARGETS['memory_mb']:.0f} MB")


async def main(args: argparse.Namespace) -> None:
    async with contextlib.AsyncExitStack() as stack:
        db, label = await benchmark_database(stack, args.postgres, "goalbot_digest")
        report(await measure(db, args.people), label)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--postgres", help="run on a scratch schema of this PostgreSQL server")
    asyncio.run(main(parser.parse_args()))
