"""How fast the core answers on a large organisation, on SQLite and PostgreSQL.

Builds 10,000 people and 50,000 goals five levels deep (company → department →
team → individual → individual), then times, through the whole conversation core
(parse, actor, authorization, service, reply):

  goals progress G-n 37    on a level-5 goal, with its rollup through every ancestor
  goals list team          as the head of a department that owns 2,000 goals
  goals tree G-d           for that department's goal, 2,000 goals below it

and counts the SQL statements each issues (for a team of 100 goals and for the
department of 2,000, to show the count does not grow with the goals shown).

    .venv/bin/python benchmarks/core_speed.py [--runs 200] [--postgres URL] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.servers import scratch_schema  # noqa: E402
from bot.dispatch import Bot  # noqa: E402
from bot.messages import Actor, Address, IncomingMessage  # noqa: E402
from storage.database import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Goal, Identity, OrgUnit, Person, Tenant, utcnow  # noqa: E402

PEOPLE = 10_000
GOALS = 50_000
DEPARTMENTS = 5
TEAMS_PER_DEPARTMENT = 40
# The measured department: 4 teams of 25, one department goal with 2,000 goals under it.
SMALL_TEAMS, SMALL_TEAM_SIZE = 4, 25


class Org:
    def __init__(self) -> None:
        self.units: list[dict] = []
        self.people: list[dict] = []
        self.goals: list[dict] = []
        self.small_head_email = ""
        self.small_team_lead_email = ""
        self.small_root = 0
        self.small_team_goal = 0
        self.leaf_goals: list[tuple[int, str]] = []  # (number, owner email) of level-5 goals


def build() -> Org:
    rng = random.Random(7)
    org = Org()
    now = utcnow()

    def unit(name, kind, parent):
        org.units.append({"id": len(org.units) + 1, "tenant_id": 1, "name": name, "kind": kind, "parent_id": parent, "lead_id": None})
        return len(org.units)

    def person(name, manager, unit_id, role="member"):
        pid = len(org.people) + 1
        org.people.append({
            "id": pid, "tenant_id": 1, "email": f"p{pid}@bench.example", "name": name, "timezone": "UTC",
            "manager_id": manager, "role": role, "org_unit_id": unit_id, "checkin_weekday": 0, "checkin_time": "09:00",
            "checkin_cadence": "weekly", "created_at": now, "updated_at": now,
        })
        return pid

    def goal(title, level, parent, owner_person=None, owner_unit=None, progress=0.0):
        number = len(org.goals) + 1
        org.goals.append({
            "id": number, "tenant_id": 1, "number": number, "title": title, "description": "", "level": level,
            "owner_person_id": owner_person, "owner_unit_id": owner_unit, "parent_id": parent, "category": "business",
            "private": rng.random() < 0.05, "status": "active", "health": "on_track", "progress": progress,
            "manual_progress": progress, "note": "", "created_by_id": owner_person or 1, "created_at": now, "updated_at": now,
        })
        return number

    company = unit("Bench Co", "company", None)
    ceo = person("Chief", None, company, "admin")
    org.units[company - 1]["lead_id"] = ceo
    company_goals = [goal(f"Company objective {i}", "company", None, owner_unit=company) for i in range(10)]

    # The small, measured department.
    small = unit("Measured", "department", company)
    head = person("Measured Head", ceo, small, "manager")
    org.units[small - 1]["lead_id"] = head
    org.small_head_email = f"p{head}@bench.example"
    root = goal("Measured department goal", "department", company_goals[0], owner_unit=small)
    org.small_root = root
    people_in_small = SMALL_TEAMS * SMALL_TEAM_SIZE
    leaf_budget = 2_000 - 1 - SMALL_TEAMS * 5 - people_in_small * 10
    for t in range(SMALL_TEAMS):
        team = unit(f"Measured team {t}", "team", small)
        lead = person(f"Measured lead {t}", head, team, "manager")
        org.units[team - 1]["lead_id"] = lead
        members = [lead] + [person(f"Measured member {t}.{m}", lead, team) for m in range(SMALL_TEAM_SIZE - 1)]
        team_goals = [goal(f"Measured team goal {t}.{g}", "team", root, owner_unit=team) for g in range(5)]
        if t == 0:
            org.small_team_lead_email = f"p{lead}@bench.example"
            org.small_team_goal = team_goals[0]
        for m in members:
            for g in range(10):
                ind = goal(f"Individual goal {m}.{g}", "individual", team_goals[g % 5], owner_person=m, progress=rng.randint(0, 100))
                if len(org.leaf_goals) < leaf_budget:  # keep the measured subtree at 2,000 goals
                    leaf = goal(f"Sub-goal {m}.{g}", "individual", ind, owner_person=m, progress=rng.randint(0, 100))
                    org.leaf_goals.append((leaf, f"p{m}@bench.example"))
    assert len(org.goals) - len(company_goals) == 2_000

    # The rest of the company.
    per_team = (PEOPLE - len(org.people) - (DEPARTMENTS - 1)) // ((DEPARTMENTS - 1) * TEAMS_PER_DEPARTMENT)
    teams = []
    for d in range(DEPARTMENTS - 1):
        dept = unit(f"Department {d}", "department", company)
        dhead = person(f"Head {d}", ceo, dept, "manager")
        org.units[dept - 1]["lead_id"] = dhead
        dept_goals = [goal(f"Department {d} goal {i}", "department", rng.choice(company_goals), owner_unit=dept) for i in range(10)]
        for t in range(TEAMS_PER_DEPARTMENT):
            team = unit(f"Team {d}.{t}", "team", dept)
            lead = person(f"Lead {d}.{t}", dhead, team, "manager")
            org.units[team - 1]["lead_id"] = lead
            members = [lead] + [person(f"Member {d}.{t}.{m}", lead, team) for m in range(per_team - 1)]
            team_goals = [goal(f"Team {d}.{t} goal {i}", "team", rng.choice(dept_goals), owner_unit=team) for i in range(3)]
            teams.append((members, team_goals))
    while len(org.people) < PEOPLE:
        members, _ = teams[len(org.people) % len(teams)]
        members.append(person(f"Extra {len(org.people)}", members[0], org.people[members[0] - 1]["org_unit_id"]))
    individual_goals = []
    i = 0
    while len(org.goals) < GOALS - 8_000:
        members, team_goals = teams[i % len(teams)]
        m = members[(i // len(teams)) % len(members)]
        individual_goals.append((goal(f"Goal {i}", "individual", rng.choice(team_goals), owner_person=m, progress=rng.randint(0, 100)), m))
        i += 1
    while len(org.goals) < GOALS:
        parent, owner = rng.choice(individual_goals)
        goal(f"Step {len(org.goals)}", "individual", parent, owner_person=owner, progress=rng.randint(0, 100))
    return org


async def load(db: Database, org: Org) -> None:
    async with db.transaction() as session:
        await session.execute(sa.insert(Tenant), [{"id": 1, "key": "default", "name": "Bench Co", "last_goal_number": len(org.goals), "created_at": utcnow()}])
        units = [{**u, "lead_id": None} for u in org.units]
        await session.execute(sa.insert(OrgUnit), units)
        for start in range(0, len(org.people), 2_000):
            await session.execute(sa.insert(Person), [{**p, "manager_id": None} for p in org.people[start:start + 2_000]])
        await session.execute(
            sa.update(Person.__table__).where(Person.__table__.c.id == sa.bindparam("pid")).values(manager_id=sa.bindparam("mid")),
            [{"pid": p["id"], "mid": p["manager_id"]} for p in org.people if p["manager_id"]],
        )
        await session.execute(
            sa.update(OrgUnit.__table__).where(OrgUnit.__table__.c.id == sa.bindparam("uid")).values(lead_id=sa.bindparam("lid")),
            [{"uid": u["id"], "lid": u["lead_id"]} for u in org.units if u["lead_id"]],
        )
        for start in range(0, len(org.goals), 5_000):
            await session.execute(sa.insert(Goal), org.goals[start:start + 5_000])
        await session.execute(sa.insert(Identity), [
            {"tenant_id": 1, "person_id": p["id"], "platform": "console", "external_id": p["email"], "created_at": utcnow()}
            for p in org.people
        ])
    if not db.is_sqlite:
        async with db.engine.begin() as conn:
            for table in ("tenant", "org_unit", "person", "goal", "identity"):
                await conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            await conn.exec_driver_sql("ANALYZE")
    else:
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql("ANALYZE")


class StatementCounter:
    def __init__(self, db: Database) -> None:
        self.count = 0
        event.listen(db.engine.sync_engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, *args, **kwargs) -> None:
        self.count += 1


async def measure(bot: Bot, counter: StatementCounter, email: str, texts: list[str]) -> tuple[list[float], int, str]:
    actor = Actor(platform="console", user_id=email, email=email)
    timings = []
    statements = 0
    reply_text = ""
    for text in texts:
        message = IncomingMessage(actor=actor, text=text, address=Address.direct("console", email))
        before = counter.count
        started = time.perf_counter()
        reply = await bot.handle(message)
        timings.append((time.perf_counter() - started) * 1000)
        statements = counter.count - before
        reply_text = reply.summary
        if reply.error:
            raise RuntimeError(f"{text!r} failed: {reply_text}")
    return timings, statements, reply_text


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


async def bench(name: str, db: Database, org: Org, runs: int) -> None:
    started = time.perf_counter()
    await upgrade(db)
    await load(db, org)
    print(f"\n{name}: loaded {len(org.people):,} people and {len(org.goals):,} goals in {time.perf_counter() - started:.1f} s")
    bot = Bot(db)
    counter = StatementCounter(db)
    rng = random.Random(11)
    # Warm up: first contact, caches, query plans.
    await measure(bot, counter, org.small_head_email, ["goals list team", f"goals tree G-{org.small_root}"])
    leaves = [rng.choice(org.leaf_goals) for _ in range(runs)]
    progress_times, progress_statements = [], []
    for number, email in leaves:
        timings, statements, _ = await measure(bot, counter, email, [f"goals progress G-{number} {rng.randint(0, 100)}"])
        progress_times += timings
        progress_statements.append(statements)
    list_times, list_statements, _ = await measure(bot, counter, org.small_head_email, ["goals list team"] * runs)
    tree_times, tree_statements, _ = await measure(bot, counter, org.small_head_email, [f"goals tree G-{org.small_root}"] * max(20, runs // 4))
    _, small_list_statements, _ = await measure(bot, counter, org.small_team_lead_email, ["goals list team"])
    _, small_tree_statements, _ = await measure(bot, counter, org.small_team_lead_email, [f"goals tree G-{org.small_team_goal}"])
    async with db.transaction(write=False) as session:
        subtree = (await session.execute(sa.text(
            "WITH RECURSIVE t(id) AS (SELECT id FROM goal WHERE number = :n UNION SELECT g.id FROM goal g JOIN t ON g.parent_id = t.id) SELECT count(*) FROM t"
        ), {"n": org.small_root})).scalar_one()
        small_subtree = (await session.execute(sa.text(
            "WITH RECURSIVE t(id) AS (SELECT id FROM goal WHERE number = :n UNION SELECT g.id FROM goal g JOIN t ON g.parent_id = t.id) SELECT count(*) FROM t"
        ), {"n": org.small_team_goal})).scalar_one()

    def row(label, times, statements, target):
        print(f"  {label:<44} median {statistics.median(times):7.2f} ms   p99 {p99(times):7.2f} ms   "
              f"statements {statements}   target p99 < {target} ms")

    row("goals progress (level 5, rollup x4)", progress_times, f"{min(progress_statements)}-{max(progress_statements)}", 30)
    row(f"goals list team (department, {subtree - 1:,} below)", list_times, list_statements, 50)
    row(f"goals tree (department goal, {subtree:,} goals)", tree_times, tree_statements, 500)
    print(f"  statements for a team of {small_subtree} goals: list {small_list_statements}, tree {small_tree_statements}; "
          f"for the department of {subtree:,}: list {list_statements}, tree {tree_statements}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    org = build()
    print(f"built {len(org.people):,} people and {len(org.goals):,} goals in {time.perf_counter() - started:.1f} s")

    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite+aiosqlite:///{folder}/bench.db")
        try:
            await bench("SQLite", db, org, args.runs)
        finally:
            await db.dispose()

    if args.skip_postgres:
        return
    async with scratch_schema(args.postgres, "goalbot_bench") as db:
        await bench("PostgreSQL", db, org, args.runs)

if __name__ == "__main__":
    asyncio.run(main())
