"""How fast goalbot answers Teams, next to a bare botbuilder app: the HTTP answer to each activity,
and the reply reaching the Bot Connector.

Runs `goalbot serve` as its own process with the local Teams switch, the bare
anchor (benchmarks/teams_bare.py: a CloudAdapter app that answers every
message with one card) as another, a fake Bot Connector on a thread here, and
CLIENTS people (spread over TENANTS Teams tenants) each sending messages one
after another, to both apps in turn. Prints p50 / p99 of the turn (POST
/api/messages until its answer) and of the reply (POST until the connector
has the card), in ms, and goalbot's reply p99 over the bare app's.

    .venv/bin/python benchmarks/teams_turns.py [--messages 1000 --clients 50 --tenants 10] [--postgres URL] [--command "list"]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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

from benchmarks.servers import free_port, profiled, scratch_database, wait_healthy  # noqa: E402
from tests.fake_teams import TENANT, Client, FakeConnector, Member  # noqa: E402


TARGET_RATIO = 1.5


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--command", default="add Benchmark goal")
    parser.add_argument("--tenants", type=int, default=10,
                        help="spread the people over this many Teams tenants (goalbot keeps to ~40 sends/s per tenant)")
    parser.add_argument("--postgres", help="run goalbot on a scratch database made (and dropped) on this PostgreSQL server")
    args = parser.parse_args()

    fake = FakeConnector()
    people = [Member(f"29:1bench{i}", f"b0000000-0000-4000-8000-{i:012d}", f"Person {i}", f"person{i}@example.com")
              for i in range(args.clients)]
    for person in people:
        fake.add_member(person)
    fake.start()
    work = tempfile.mkdtemp(prefix="goalbot-bench-")
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(scratch_database(args.postgres)) if args.postgres \
            else f"sqlite:///{work}/goalbot.db"
        await measure_both(args, fake, people, work, url)


async def measure_both(args: argparse.Namespace, fake: FakeConnector, people: list[Member], work: str, url: str) -> None:
    port, bare_port = free_port(), free_port()
    env = {**os.environ, "GOALBOT_DATABASE_URL": url, "GOALBOT_TEAMS_INSECURE_LOCAL": "1",
           "MICROSOFT_APP_TENANT_ID": TENANT, "MICROSOFT_APP_ID": "", "SLACK_BOT_TOKEN": "", "SLACK_SIGNING_SECRET": ""}
    server = await asyncio.create_subprocess_exec(
        sys.executable, *profiled(), "-m", "adapters.cli", "serve", "--port", str(port), cwd=work, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=open(f"{work}/serve.log", "w"),
    )
    bare = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "benchmarks" / "teams_bare.py"), str(bare_port), cwd=work, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=open(f"{work}/bare.log", "w"),
    )
    bases = {"bare": f"http://127.0.0.1:{bare_port}", "goalbot": f"http://127.0.0.1:{port}"}
    tenants = [TENANT] + [f"7e000000-0000-4000-8000-{i:012d}" for i in range(1, args.tenants)]
    clients = [Client(person, fake.url, tenant=tenants[i % len(tenants)]) for i, person in enumerate(people)]
    turns: dict[str, list[float]] = {"bare": [], "goalbot": []}
    replies: dict[str, list[float]] = {"bare": [], "goalbot": []}
    elapsed = {"bare": 0.0, "goalbot": 0.0}
    try:
        await wait_healthy(bases["goalbot"], server)
        await wait_healthy(bases["bare"], bare)
        async with aiohttp.ClientSession() as http:
            # Everyone says hello first, so the measured turns are of known people.
            for base in bases.values():
                hellos = [c.message("help") for c in clients]
                await asyncio.gather(*(http.post(base + "/api/messages", json=hello) for hello in hellos))
                await asyncio.to_thread(fake.wait_for, lambda f: all(h["id"] in f.answered_at for h in hellos), 60)

            async def person(name: str, client: Client, count: int) -> None:
                for _ in range(count):
                    activity = client.message(args.command)
                    started = time.perf_counter()
                    async with http.post(bases[name] + "/api/messages", json=activity) as response:
                        assert response.status in (200, 201), response.status
                    turns[name].append((time.perf_counter() - started) * 1000)
                    deadline = time.perf_counter() + 60
                    while activity["id"] not in fake.answered_at:
                        assert time.perf_counter() < deadline, "no reply within a minute"
                        await asyncio.sleep(0.002)
                    replies[name].append((fake.answered_at[activity["id"]] - started) * 1000)

            each = max(1, args.messages // len(clients) // 2)
            # Interleaved halves, so both apps see the same machine.
            for name in ("bare", "goalbot", "bare", "goalbot"):
                started = time.perf_counter()
                await asyncio.gather(*(person(name, c, each) for c in clients))
                elapsed[name] += time.perf_counter() - started
    finally:
        for process in (server, bare):
            process.send_signal(signal.SIGTERM)
            await process.wait()
        fake.stop()
    database = "PostgreSQL" if args.postgres else "SQLite"
    print(f"goalbot on {database}; `{args.command}` from {len(clients)} people in {len(tenants)} tenant(s), "
          f"{len(turns['goalbot'])} messages to each app; times in ms")
    for name in ("bare", "goalbot"):
        print(f"  {name:<8} {len(turns[name]) / elapsed[name]:5.0f} messages/s   "
              f"turn p50 {statistics.median(turns[name]):7.1f}  p99 {percentile(turns[name], 99):7.1f}   "
              f"reply p50 {statistics.median(replies[name]):7.1f}  p99 {percentile(replies[name], 99):7.1f}")
    ratio = percentile(replies["goalbot"], 99) / percentile(replies["bare"], 99)
    print(f"reply p99 ratio {ratio:.2f}x (target {TARGET_RATIO}x)")


if __name__ == "__main__":
    asyncio.run(main())
