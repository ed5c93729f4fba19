"""How fast goalbot answers Teams: the HTTP answer to each activity, and the reply reaching the Bot Connector.

Runs `goalbot serve` as its own process with the local Teams switch, a fake Bot
Connector on a thread here, and CLIENTS people each sending messages one after
another. Prints p50 / p99 of the turn (POST /api/messages until its answer)
and of the reply (POST until the connector has the bot's card), in ms.

    .venv/bin/python benchmarks/teams_turns.py --messages 400 --clients 20 [--postgres URL] [--command "list"]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.servers import free_port, wait_healthy  # noqa: E402
from tests.fake_teams import TENANT, Client, FakeConnector, Member  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--command", default="add Benchmark goal")
    parser.add_argument("--tenants", type=int, default=1,
                        help="spread the people over this many Teams tenants (goalbot keeps to ~40 sends/s per tenant)")
    parser.add_argument("--postgres", help="a PostgreSQL URL instead of a fresh SQLite file")
    args = parser.parse_args()

    fake = FakeConnector()
    people = [Member(f"29:1bench{i}", f"b0000000-0000-4000-8000-{i:012d}", f"Person {i}", f"person{i}@example.com")
              for i in range(args.clients)]
    for person in people:
        fake.add_member(person)
    fake.start()
    work = tempfile.mkdtemp(prefix="goalbot-bench-")
    url = args.postgres or f"sqlite:///{work}/goalbot.db"
    if args.postgres:
        from storage.database import Database
        from storage.migrate import upgrade

        import sqlalchemy as sa

        db = Database(url)
        async with db.engine.begin() as conn:
            await conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            await conn.execute(sa.text("CREATE SCHEMA public"))
        await upgrade(db)
        await db.dispose()
    port = free_port()
    env = {**os.environ, "GOALBOT_DATABASE_URL": url, "GOALBOT_TEAMS_INSECURE_LOCAL": "1",
           "MICROSOFT_APP_TENANT_ID": TENANT, "MICROSOFT_APP_ID": "", "SLACK_BOT_TOKEN": "", "SLACK_SIGNING_SECRET": ""}
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.cli", "serve", "--port", str(port), cwd=work, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=open(f"{work}/serve.log", "w"),
    )
    base = f"http://127.0.0.1:{port}"
    tenants = [TENANT] + [f"7e000000-0000-4000-8000-{i:012d}" for i in range(1, args.tenants)]
    clients = [Client(person, fake.url, tenant=tenants[i % len(tenants)]) for i, person in enumerate(people)]
    turns: list[float] = []
    replies: list[float] = []
    try:
        await wait_healthy(base, server)
        async with aiohttp.ClientSession() as http:
            # Everyone says hello first, so the measured turns are of known people.
            await asyncio.gather(*(http.post(base + "/api/messages", json=c.message("help")) for c in clients))
            await asyncio.to_thread(fake.wait_for, lambda f: len(f.answered_at) >= len(clients), 60)

            async def person(client: Client, count: int) -> None:
                for _ in range(count):
                    activity = client.message(args.command)
                    started = time.perf_counter()
                    async with http.post(base + "/api/messages", json=activity) as response:
                        assert response.status in (200, 201), response.status
                    turns.append((time.perf_counter() - started) * 1000)
                    deadline = time.perf_counter() + 60
                    while activity["id"] not in fake.answered_at:
                        assert time.perf_counter() < deadline, "no reply within a minute"
                        await asyncio.sleep(0.002)
                    replies.append((fake.answered_at[activity["id"]] - started) * 1000)

            each = args.messages // len(clients)
            started = time.perf_counter()
            await asyncio.gather(*(person(c, each) for c in clients))
            elapsed = time.perf_counter() - started
    finally:
        server.send_signal(signal.SIGTERM)
        await server.wait()
        fake.stop()
    database = "PostgreSQL" if args.postgres else "SQLite"
    print(f"{database}, {len(turns)} messages `{args.command}` from {len(clients)} people in {len(tenants)} tenant(s), "
          f"{len(turns) / elapsed:.0f} messages/s")
    print(f"  turn  (HTTP answer)    p50 {statistics.median(turns):7.1f} ms   p99 {percentile(turns, 99):7.1f} ms   "
          f"max {max(turns):7.1f} ms")
    print(f"  reply (card at Teams)  p50 {statistics.median(replies):7.1f} ms   p99 {percentile(replies, 99):7.1f} ms   "
          f"max {max(replies):7.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
