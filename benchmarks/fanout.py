"""Fan-out: many people due at one instant, queued by one round of the clock and delivered by the real
outbox worker and Slack sender to a local fake Slack that enforces a workspace cap of R messages a minute
(429 with Retry-After beyond it).

It prints the round that queues them (time, SQL statements, and the same for a round over a tenth of the
people, to show the count does not grow with them), the delivery time against the floor N/R, the spread
of lateness (each message's arrival minus the round's start, so the round's own time is in it), messages
lost and doubled, the 429s Slack
answered, the cost of an idle round over everyone, and the process's peak memory.

    .venv/bin/python benchmarks/fanout.py [--people 10000] [--per-minute 6000] [--postgres postgresql://postgres@127.0.0.1:5432/test]
    .venv/bin/python benchmarks/fanout.py --teams [--people 10000] [--tenants 10] [--per-second 50] [--postgres ...]

The sender is paced at the cap it is given (GOALBOT_SLACK_MESSAGES_PER_MINUTE, and for Teams
GOALBOT_TEAMS_REQUESTS_PER_SECOND, in `goalbot serve`). The fake Bot Connector runs in a process of its
own, as the real one is elsewhere; for Teams the benchmark also prints goalbot's CPU per message, which
bounds how many tenants one process can keep at their cap.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.slack.delivery import SlackSender  # noqa: E402
from benchmarks.servers import Statements, benchmark_database  # noqa: E402
from bot.clock import run_round  # noqa: E402
from bot.outbox import Outbox  # noqa: E402
from storage.database import Database  # noqa: E402
from tests.crowd import populate  # noqa: E402
from tests.fake_slack import BOT_TOKEN, FakeSlack  # noqa: E402

MONDAY = datetime(2027, 3, 8, 9, tzinfo=UTC)  # 09:00 in Lisbon, where the crowd lives
TARGETS = {"round": 5.0, "delivery": 1.1, "idle_ms": 50.0, "too_many": 0.01, "memory_mb": 300.0}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


async def measure(db: Database, people: int, per_minute: int) -> dict:
    import aiohttp
    from slack_sdk.web.async_client import AsyncWebClient

    statements = Statements(db)
    small = max(1, people // 10)
    # A tenant with a tenth of the people, for how the round's statement count grows (it should not).
    await populate(db, small, tenant="small", start=people)
    await populate(db, people)
    await run_round(db, MONDAY - timedelta(days=1))  # everyone's next prompt worked out
    await run_round(db, MONDAY - timedelta(hours=9))  # Monday 00:00: the week that closed is kept
    fake = FakeSlack(cap_per_minute=per_minute)
    await fake.start()
    async with aiohttp.ClientSession() as http:
        async def client_for(_tenant: str):
            return AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url, session=http)

        worker = Outbox(db, SlackSender(client_for, per_minute), worker="fanout")

        async def deliver(count: int, within: float) -> float:
            """Run the worker until `count` messages have arrived; returns when it started."""
            began = time.monotonic()
            running = asyncio.get_running_loop().create_task(worker.run())
            try:
                await until(lambda: sent(fake) >= count, within)
            finally:
                worker.stop()
                await running
            return began

        try:
            # Each round runs alone (the worker is not running), so its statements are its own.
            with statements.measuring() as little:
                tally = await run_round(db, MONDAY, tenant="small")
                queued_small = tally.prompts + tally.nudges
            await deliver(queued_small, small * 60 / per_minute * 3 + 30)
            fake.history.clear()
            fake.calls.clear()
            fake.reset_cap()

            started = time.monotonic()
            with statements.measuring() as big:
                tally = await run_round(db, MONDAY, tenant="default")
                queued = tally.prompts + tally.nudges  # with their prompts, owners of goals that support nothing
            sending = await deliver(queued, people * 60 / per_minute * 3 + 60)
            delivered = time.monotonic()
        finally:
            await fake.close()
    idle = []
    for minute in range(1, 6):
        with statements.measuring() as spent:
            await run_round(db, MONDAY + timedelta(minutes=minute))
        idle.append(spent["seconds"] * 1000)
    arrivals = [m["received"] for messages in fake.history.values() for m in messages]
    # Each message names its outbox row: one row arriving twice is doubled, a row never arriving is lost.
    rows = [m["metadata"]["event_payload"]["outbox_id"] for messages in fake.history.values() for m in messages]
    return {
        "people": people, "queued": queued, "queued_small": queued_small, "round": big, "small": little,
        "idle_ms": statistics.median(idle), "delivery": delivered - sending, "floor": queued * 60 / per_minute,
        "lateness": sorted(arrival - started for arrival in arrivals),
        "lost": queued - len(set(rows)),
        "doubled": len(rows) - len(set(rows)),
        "too_many": fake.too_many, "sends": len(arrivals) + fake.too_many,
        "memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def sent(fake: FakeSlack) -> int:
    return sum(len(messages) for messages in fake.history.values())


async def until(done, within: float) -> None:
    deadline = time.monotonic() + within
    while not done() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


async def measure_teams(db: Database, people: int, tenants: int, per_second: int) -> dict:
    """The same fan-out through the Teams app's outbox worker and sender, to a fake Bot Connector (in a process
    of its own, as the real one is) that allows `per_second` sends a second per tenant (429 beyond it),
    over `tenants` Teams tenants."""
    import aiohttp

    from adapters.settings import Settings
    from adapters.teams.app import TeamsApp
    from bot.dispatch import Bot
    from tests.crowd import teams_chats

    connector = subprocess.Popen([sys.executable, "-m", "tests.fake_teams", str(per_second)], cwd=ROOT,
                                 stdout=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{int(connector.stdout.readline())}/"
        each = people // tenants
        for n in range(tenants):
            users = await populate(db, each, tenant=f"teams:T{n}", platform="teams", start=n * each)
            await teams_chats(db, users, tenant=f"teams:T{n}", teams_tenant=f"T{n}", service_url=url)
        await run_round(db, MONDAY - timedelta(days=1))
        await run_round(db, MONDAY - timedelta(hours=9))  # Monday 00:00: the week that closed is kept
        settings = Settings(GOALBOT_TEAMS_INSECURE_LOCAL="1", GOALBOT_DATABASE_URL=db.url,
                            GOALBOT_TEAMS_REQUESTS_PER_SECOND=str(per_second))
        app = TeamsApp(settings, Bot(db), db)
        worker = app.turns.outbox
        running = asyncio.get_running_loop().create_task(worker.run())
        async with aiohttp.ClientSession() as http:
            async def tally() -> dict:
                async with http.get(url + "_fake/tally") as response:
                    return await response.json()

            try:
                started = time.monotonic()
                cpu = time.process_time()
                began = time.perf_counter()
                queued = (await run_round(db, MONDAY)).prompts
                round_seconds = time.perf_counter() - began
                worker.wake()
                floor = queued / (per_second * tenants)
                deadline = started + floor * 10 + 60
                while (await tally())["sent"] < queued and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                done = time.monotonic()
                cpu = time.process_time() - cpu
            finally:
                worker.stop()
                await running
                await app.close()
            found = await tally()
    finally:
        connector.terminate()
        connector.wait(10)
    return {"people": people, "tenants": tenants, "per_second": per_second, "queued": queued,
            "round_seconds": round_seconds, "delivery": done - started, "floor": floor, "cpu": cpu,
            "lost": queued - found["conversations"], "doubled": found["doubled"],
            "too_many": found["throttled"], "sends": found["sent"] + found["throttled"],
            "memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def report_teams(found: dict, label: str) -> None:
    ratio = found["delivery"] / found["floor"]
    rate = found["too_many"] / max(1, found["sends"])
    print(f"goalbot fan-out to Teams on {label}: {found['people']:,} people in {found['tenants']} tenant{'s' if found['tenants'] != 1 else ''}; the connector "
          f"allows {found['per_second']} sends/s per tenant")
    print(f"  round that queues them   {found['round_seconds']:.2f} s ({found['queued']:,} prompts)")
    print(f"  delivery                 {found['delivery']:.1f} s against the floor N/(rate x tenants) of "
          f"{found['floor']:.1f} s: {ratio:.2f}x   target <= {TARGETS['delivery']}x")
    print(f"  goalbot's CPU            {found['cpu']:.1f} s for the round and the delivery: "
          f"{found['cpu'] / max(1, found['queued']) * 1000:.1f} ms a message")
    print(f"  lost {found['lost']}, doubled {found['doubled']}   target 0, 0")
    print(f"  429s from the connector  {found['too_many']} of {found['sends']:,} sends ({rate:.2%})   "
          f"target < {TARGETS['too_many']:.0%}")
    print(f"  peak memory              {found['memory_mb']:.0f} MB   target < {TARGETS['memory_mb']:.0f} MB")


def report(found: dict, label: str) -> None:
    round_, small = found["round"], found["small"]
    ratio = found["delivery"] / found["floor"]
    late = found["lateness"]
    rate = found["too_many"] / max(1, found["sends"])
    print(f"goalbot fan-out on {label}: {found['people']:,} people due at one instant; "
          f"Slack capped at {found['per_minute']:,} messages/min")
    print(f"  round that queues them   {round_['seconds']:.2f} s, {round_['statements']} SQL statements "
          f"({found['queued']:,} prompts and nudges)   target < {TARGETS['round']:.0f} s")
    print(f"  same round, a tenth      {small['seconds']:.2f} s, {small['statements']} SQL statements "
          f"({found['queued_small']:,} prompts and nudges): the count does not grow with the people")
    print(f"  delivery from the worker {found['delivery']:.1f} s against the floor N/R of {found['floor']:.1f} s: "
          f"{ratio:.2f}x   target <= {TARGETS['delivery']}x")
    if late:
        print(f"  lateness (arrival - due) p50 {pct(late, 50):.1f} s, p99 {pct(late, 99):.1f} s")
    print(f"  lost {found['lost']}, doubled {found['doubled']}   target 0, 0")
    print(f"  429s from Slack          {found['too_many']} of {found['sends']:,} sends ({rate:.2%})   "
          f"target < {TARGETS['too_many']:.0%}")
    print(f"  idle round               {found['idle_ms']:.1f} ms over {found['people'] + found['people'] // 10:,} "
          f"people (median of 5)   target < {TARGETS['idle_ms']:.0f} ms")
    print(f"  peak memory              {found['memory_mb']:.0f} MB   target < {TARGETS['memory_mb']:.0f} MB")


async def main(args: argparse.Namespace) -> None:
    async with contextlib.AsyncExitStack() as stack:
        db, label = await benchmark_database(stack, args.postgres, "goalbot_fanout")
        if args.teams:
            report_teams(await measure_teams(db, args.people, args.tenants, args.per_second), label)
            return
        found = await measure(db, args.people, args.per_minute)
        found["per_minute"] = args.per_minute
        report(found, label)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--per-minute", type=int, default=6_000, help="the workspace's cap R (default 6,000/min)")
    parser.add_argument("--postgres", help="run on a scratch schema of this PostgreSQL server")
    parser.add_argument("--teams", action="store_true", help="fan out to Teams through a fake Bot Connector instead")
    parser.add_argument("--tenants", type=int, default=10, help="Teams tenants the people are spread over")
    parser.add_argument("--per-second", type=int, default=50, help="the connector's sends per second per tenant")
    asyncio.run(main(parser.parse_args()))
