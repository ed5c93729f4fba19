"""Goals that look alike, at 50,000 goals, on SQLite and PostgreSQL.

Builds one tenant of 2,000 people in 40 teams with 25 goals each (50,000 goals, one in twenty private).
Their titles are made the way goal titles are: a verb, an area and a thing ("Reduce customer churn"),
often what it is about in particular ("for the Kelsol account"), then up to three of regions, teams,
products, quarters and targets ("in EMEA by Q3 for key accounts"), from a shared vocabulary, so each
common word is in thousands of titles. Then it times:

  goals add <title>   through the whole core (parse, actor, authorization, the search, the hint, the likely
                      duplicates kept, the reply), as a member proposing a goal
  the search alone    bot.similar.look_alikes, as the hint runs it

against the 20 ms target; checks, for a sample of titles (half new, half variations on existing goals),
how often the search's likest goal is as alike as the likest of all the tenant's titles scored one by
one with the search's own score (similar.score); and times the clock's comparison of goals that came in without it
(goals per second).

    .venv/bin/python benchmarks/similar.py [--runs 200] [--sample 200] [--postgres URL] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import sqlalchemy as sa
from rapidfuzz import fuzz, process

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.servers import Statements, benchmark_database  # noqa: E402
from bot import similar  # noqa: E402
from bot.dispatch import Bot  # noqa: E402
from bot.messages import Actor, Address, IncomingMessage  # noqa: E402
from bot.people import find_viewer  # noqa: E402
from storage import titles  # noqa: E402
from storage.database import Database  # noqa: E402
from storage.models import Goal, Identity, OrgUnit, Person, Tenant, utcnow  # noqa: E402

TEAMS, PEOPLE_PER_TEAM, GOALS_EACH = 40, 50, 25
TARGET_MS = 20.0
BACKFILLED = 3_000  # goals left for the clock to compare

VERBS = ("Reduce Increase Improve Launch Ship Grow Cut Hire Automate Migrate Streamline Expand Build Deliver Raise "
         "Lower Double Halve Simplify Standardise Modernise Consolidate Retire Document Measure Pilot Renegotiate "
         "Stabilise Redesign Audit Unify Replace Localise Publish Train Protect Secure Centralise Accelerate "
         "Tighten Refresh Harden Benchmark Prioritise Outsource Insource").split() + [
    "Roll out", "Speed up", "Clean up", "Sign off"]
AREAS = ("customer cloud support sales partner employee mobile web billing payments onboarding checkout search data "
         "security release hiring marketing warehouse supplier invoice API platform analytics reporting training "
         "office energy procurement contract renewal trial pricing localisation accessibility documentation QA "
         "design infrastructure network identity compliance legal finance travel recruiting mentoring retention "
         "community content fleet logistics inventory returns shipping catalogue loyalty referral affiliate webinar "
         "event podcast newsletter blog SEO advertising brand social video kiosk tablet desktop firmware hardware "
         "sensor telemetry observability alerting logging backup recovery database cache queue gateway storage "
         "kubernetes terraform vendor audit tax payroll benefits wellbeing diversity intern graduate leadership "
         "coaching feedback performance promotion salary bonus equity").split()
THINGS = ("churn costs time backlog coverage pipeline score frequency latency engagement cadence funnel revenue "
          "conversion rate errors leads awareness satisfaction throughput delays adoption usage findings spend "
          "process dashboard tooling playbook quality budget incidents tickets reviews tests docs uptime capacity "
          "margin headcount footprint accuracy turnaround visibility contracts renewals signups complaints defects "
          "outages migrations approvals requests handoffs certifications benchmarks forecasts targets metrics "
          "runbooks templates guidelines policies workflows integrations dependencies licences").split()
REGIONS = ["EMEA", "APAC", "North America", "LATAM", "Germany", "France", "Japan", "Brazil", "India", "the UK",
           "Spain", "Italy", "the Nordics", "Benelux", "Canada", "Mexico", "Australia", "Singapore", "Korea", "Poland"]
TEAM_NAMES = ["platform", "data", "payments", "growth", "mobile", "web", "security", "support", "sales", "finance",
              "people", "design", "infrastructure", "search", "billing", "partner", "legal", "marketing"]
PRODUCTS = ["Atlas", "Beacon", "Comet", "Delta", "Ember", "Falcon", "Harbor", "Juniper", "Lumen", "Nimbus", "Orbit",
            "Quartz"]
QUALIFIERS = ([f"in {region}" for region in REGIONS] + [f"for the {team} team" for team in TEAM_NAMES]
              + [f"for {product}" for product in PRODUCTS] + [f"by Q{quarter}" for quarter in range(1, 5)]
              + ["this quarter", "this year", "by the end of the year", "in H1", "in H2"]
              + [f"by {n}%" for n in (5, 10, 15, 20, 25, 30, 50)] + [f"to {n}%" for n in (1, 2, 3, 5, 90, 95, 99)]
              + ["for enterprise accounts", "for small businesses", "for key accounts", "for new hires",
                 "for the mobile app", "for the web app", "with the new vendor", "before the audit",
                 "without new headcount", "under budget", "with weekly reviews", "across all teams",
                 "under 2 seconds", "below 1%"])


# What a goal is about in particular: a system, a customer or a project, named as organisations name them.
SYLLABLES = "ar bel cor dan el fin gal hex ir jun kel lum mor nex or pax quin ros sol tor ul ven wyn xan yor zel".split()
NAMES = [(first + second).capitalize() for first in SYLLABLES for second in SYLLABLES if first != second]
NAMED = ["for {}", "in the {} service", "for the {} account", "on {}"]


def new_title(rng: random.Random) -> str:
    """A goal title: verb, area, thing, often what it is about in particular, and none to three qualifiers."""
    words = [rng.choice(VERBS), rng.choice(AREAS), rng.choice(THINGS)]
    if rng.random() < 0.5:
        words.append(rng.choice(NAMED).format(rng.choice(NAMES)))
    words += [rng.choice(QUALIFIERS) for _ in range(rng.choice((0, 1, 1, 2, 2, 3)))]
    return " ".join(words)


def variation(rng: random.Random, title: str) -> str:
    """Another person's version of a goal: a part left out, a qualifier added, or the parts in another order."""
    parts = title.split(" ")
    choice = rng.randrange(3)
    if choice == 0 and len(parts) > 3:
        parts.pop(rng.randrange(1, len(parts)))
    elif choice == 1:
        parts.append(rng.choice(QUALIFIERS))
    else:
        parts[1:] = rng.sample(parts[1:], len(parts) - 1)
    return " ".join(parts)


async def build(db: Database, rng: random.Random) -> list[str]:
    """The tenant, in bulk: a company, 5 departments of 8 teams, a lead and members in each, their goals.
    Returns the members' emails."""
    now = utcnow()
    units = [{"id": 1, "tenant_id": 1, "name": "Company", "kind": "company", "parent_id": None}]
    units += [{"id": 2 + d, "tenant_id": 1, "name": f"Department {d}", "kind": "department", "parent_id": 1}
              for d in range(5)]
    units += [{"id": 7 + t, "tenant_id": 1, "name": f"Team {t}", "kind": "team", "parent_id": 2 + t % 5}
              for t in range(TEAMS)]
    people = [{"id": 1, "tenant_id": 1, "email": "ceo@bench.example", "name": "Chief", "role": "admin",
               "org_unit_id": 1, "manager_id": None}]
    for team in range(TEAMS):
        lead = len(people) + 1
        for n in range(PEOPLE_PER_TEAM):
            pid = len(people) + 1
            people.append({"id": pid, "tenant_id": 1, "email": f"p{pid}@bench.example", "name": f"Person {pid}",
                           "role": "manager" if n == 0 else "member", "org_unit_id": 7 + team,
                           "manager_id": 1 if n == 0 else lead})
    goals = [{"tenant_id": 1, "number": n + 1, "title": new_title(rng), "description": "", "level": "individual",
              "owner_person_id": owner["id"], "category": "business", "private": rng.random() < 0.05,
              "status": "active", "progress": 0.0, "manual_progress": 0.0, "note": "", "created_by_id": owner["id"],
              "created_at": now, "updated_at": now, "likeness_checked_at": now}
             for n, owner in enumerate(person for person in people[1:] for _ in range(GOALS_EACH))]
    async with db.transaction() as session:
        await session.execute(sa.insert(Tenant), [{"id": 1, "key": "default", "name": "Bench Co",
                                                   "last_goal_number": len(goals), "created_at": now}])
        await session.execute(sa.insert(OrgUnit), units)
        await session.execute(sa.insert(Person), [{**person, "timezone": "UTC", "created_at": now, "updated_at": now}
                                                 for person in people])
        for start in range(0, len(goals), 5_000):
            await session.execute(sa.insert(Goal), goals[start:start + 5_000])
        await session.execute(sa.insert(Identity), [
            {"tenant_id": 1, "person_id": person["id"], "platform": "console", "external_id": person["email"],
             "created_at": now} for person in people])
    async with db.engine.begin() as conn:
        if not db.is_sqlite:
            for table in ("tenant", "org_unit", "person", "goal", "identity"):
                await conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        await conn.exec_driver_sql("ANALYZE")
    return [person["email"] for person in people if person["role"] == "member"]


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


def row(label: str, times: list[float], extra: str = "") -> None:
    verdict = "within" if p99(times) < TARGET_MS else ("median within" if statistics.median(times) < TARGET_MS else "over")
    print(f"  {label:<30} median {statistics.median(times):6.2f} ms   p99 {p99(times):6.2f} ms   "
          f"{verdict} the {TARGET_MS:.0f} ms target{extra}")


async def say(bot: Bot, email: str, text: str):
    actor = Actor(platform="console", user_id=email, email=email)
    reply = await bot.handle(IncomingMessage(actor=actor, text=text, address=Address.direct("console", email)))
    if reply.error:
        raise RuntimeError(f"{text!r} failed: {reply.summary}")
    return reply


async def goals_add(bot: Bot, proposers: list[str], proposals: list[str], statements: Statements) -> tuple[list[float], int]:
    """`goals add` through the whole core, the proposers taking turns; times in ms and the most statements one took."""
    times, most = [], 0
    for n, title in enumerate(proposals):
        with statements.measuring() as took:
            await say(bot, proposers[n % len(proposers)], f"goals add {title}")
        times.append(took["seconds"] * 1000)
        most = max(most, took["statements"])
    return times, most


async def search_alone(db: Database, email: str, proposals: list[str]) -> list[float]:
    """The search as the hint runs it (for a member: only what they may see is named), in ms."""
    times = []
    async with db.transaction(write=False) as session:
        viewer = await find_viewer(session, Actor("console", email, email=email))
        for title in proposals:
            started = time.perf_counter()
            await similar.look_alikes(session, viewer.tenant, title, viewer=viewer, hidden_too=True, limit=similar.KEPT)
            times.append((time.perf_counter() - started) * 1000)
    return times


async def likest_found(db: Database, sample: list[str]) -> list[bool]:
    """For each title of the sample that has a likely duplicate somewhere: whether the search's first is as
    alike as the likest of all the tenant's live titles, scored one by one."""
    found = []
    async with db.transaction(write=False) as session:
        tenant = await session.get(Tenant, 1)
        everything = list((await session.execute(
            sa.select(Goal.title).where(Goal.tenant_id == 1, Goal.status.in_(similar.LIVE)))).scalars())
        for title in sample:
            # The likest of all by the search's own score: the token-set score, when the titles share enough.
            near = process.extract(title, everything, scorer=fuzz.token_set_ratio, processor=str.lower,
                                   score_cutoff=similar.LIKELY, limit=None)
            best = max((score for other, score, _ in near if similar.share_enough(title, other)), default=0)
            if best >= similar.LIKELY:
                first = await similar.look_alikes(session, tenant, title, limit=1)
                found.append(bool(first) and first[0].score >= best)
    return found


async def backfill(db: Database, statements: Statements) -> tuple[float, int, int]:
    """The clock's comparison of goals nobody compared: (goals per second, rounds, most statements a round took)."""
    async with db.transaction() as session:
        await session.execute(sa.update(Goal).where(Goal.id <= BACKFILLED).values(likeness_checked_at=None))
    rounds, most = 0, 0
    started = time.perf_counter()
    while True:
        with statements.measuring() as took:
            compared = await similar.look_over_unchecked(db)
        if not compared:
            break
        rounds += 1
        most = max(most, took["statements"])
    return BACKFILLED / (time.perf_counter() - started), rounds, most


async def bench(db: Database, label: str, runs: int, sample: int) -> None:
    rng = random.Random(7)
    started = time.perf_counter()
    members = await build(db, rng)
    async with db.transaction(write=False) as session:
        existing = list((await session.execute(sa.select(Goal.title).order_by(Goal.id))).scalars())
    counts = Counter(word for title in existing for word in titles.words(title))
    commonest = ", ".join(f"{word} {count:,}" for word, count in counts.most_common(3))
    print(f"\n{label}: {len(existing):,} goals of {len(members):,} members loaded in {time.perf_counter() - started:.1f} s "
          f"({len(counts):,} distinct words besides the commonest English ones; in the most titles: {commonest})")
    began = time.perf_counter()
    await similar.count_common_words(db, utcnow())  # as the clock does once a day
    async with db.transaction(write=False) as session:
        common = (await session.get(Tenant, 1)).common_title_words
    print(f"  the clock counted the tenant's common words in {time.perf_counter() - began:.2f} s: {', '.join(common)}")
    statements = Statements(db)
    bot = Bot(db)
    queries = [new_title(rng) if n % 2 else variation(rng, rng.choice(existing)) for n in range(runs)]
    new_ones = [new_title(rng) for _ in range(sample // 2)]
    variations = [variation(rng, rng.choice(existing)) for _ in range(sample - sample // 2)]
    proposers = rng.sample(members, 20)
    for email in proposers:  # first contact, caches, query plans
        await say(bot, email, "goals list mine")
    add_times, add_statements = await goals_add(bot, proposers, queries, statements)
    search_times = await search_alone(db, proposers[0], queries)
    found_new, found_variations = await likest_found(db, new_ones), await likest_found(db, variations)
    speed, rounds, round_statements = await backfill(db, statements)
    row("goals add, whole core", add_times, f"   {add_statements} statements at most")
    row("the search alone", search_times)
    found = found_new + found_variations
    print(f"  likest found: {sum(found)} of the {len(found)} titles with a likely duplicate ({100 * sum(found) / len(found):.1f}%): "
          f"{sum(found_variations)} of {len(found_variations)} variations on an existing goal, "
          f"{sum(found_new)} of {len(found_new)} new titles")
    print(f"  clock's comparison: {BACKFILLED:,} goals in {rounds} rounds of at most {similar.PER_ROUND}, "
          f"{speed:,.0f} goals per second, {round_statements} statements a round at most")


async def main(args: argparse.Namespace) -> None:
    for postgres in ([None] if args.skip_postgres else [None, args.postgres]):
        async with contextlib.AsyncExitStack() as stack:
            db, label = await benchmark_database(stack, postgres, "goalbot_similar")
            await bench(db, label, args.runs, args.sample)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--sample", type=int, default=200, help="titles whose likest match is checked one by one")
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--skip-postgres", action="store_true")
    asyncio.run(main(parser.parse_args()))
