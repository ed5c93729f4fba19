"""A round's prompts fanned out to many people: each delivered exactly once, through a process killed in the
middle and restarted, and through two workers and two ticking processes on one database."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from adapters.slack.delivery import SlackSender
from bot.clock import run_round
from bot.outbox import Outbox
from storage.database import Database
from storage.migrate import upgrade
from storage.models import OutboxMessage
from slack_sdk.web.async_client import AsyncWebClient

from tests.crowd import populate
from tests.fake_slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack
from tests.test_serve_cli import start_serve

MONDAY = datetime(2027, 3, 8, 9, tzinfo=UTC)  # 09:00 in Lisbon


def prompts_per_user(fake: FakeSlack) -> dict[str, int]:
    counts: dict[str, int] = {}
    for channel, messages in fake.history.items():
        for message in messages:
            if "Check-in" in (message.get("text") or ""):
                counts[channel] = counts.get(channel, 0) + 1
    return counts


def drained(process) -> asyncio.Task:
    """Read the server's output as it comes, so its log never fills the pipe and stalls it."""
    async def read() -> bytes:
        return await process.stdout.read()
    return asyncio.get_running_loop().create_task(read())


async def states(db: Database) -> dict[str, int]:
    async with db.transaction(write=False) as session:
        return dict((await session.execute(
            sa.select(OutboxMessage.state, sa.func.count()).group_by(OutboxMessage.state))).all())


async def test_a_server_killed_in_the_middle_of_a_fan_out_sends_exactly_the_rest_once_restarted(tmp_path):
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'goalbot.db'}")
    await upgrade(db)
    people = 60
    await populate(db, people)
    fake = FakeSlack()
    await fake.start()
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": fake.api_url,
           "GOALBOT_SLACK_MESSAGES_PER_MINUTE": "300", "GOALBOT_SLACK_HISTORY_PER_MINUTE": "120",
           "GOALBOT_WORKER_NAME": "replica-1"}
    try:
        await run_round(db, MONDAY - timedelta(days=1))
        assert (await run_round(db, MONDAY)).prompts == people
        process, _ = await start_serve(tmp_path, env, "--no-scheduler")
        drained(process)
        deadline = time.monotonic() + 60
        while sum(prompts_per_user(fake).values()) < 15:
            assert time.monotonic() < deadline, "the fan-out did not start"
            await asyncio.sleep(0.05)
        process.send_signal(signal.SIGKILL)  # no clean stop: claims, sends and answers cut wherever they are
        await process.wait()
        interrupted = (await states(db)).get("sending", 0)
        process, _ = await start_serve(tmp_path, env, "--no-scheduler")
        output = drained(process)
        try:
            deadline = time.monotonic() + 90
            while (await states(db)).get("sent", 0) < people:
                assert time.monotonic() < deadline, f"not all sent: {await states(db)}"
                await asyncio.sleep(0.2)
        finally:
            process.send_signal(signal.SIGTERM)
            await process.wait()
            log = (await output).decode()
        assert "interrupted while sending" in log, log[-2000:]
        counts = prompts_per_user(fake)
        assert len(counts) == people and set(counts.values()) == {1}, "each person has exactly one prompt"
        assert interrupted > 0, "the kill left claims behind (else this test proves little)"
    finally:
        await fake.close()
        await db.dispose()


@pytest.mark.postgres
async def test_two_workers_and_two_ticking_processes_on_one_database_send_each_prompt_once(db):
    if db.is_sqlite:
        pytest.skip("the replicas case is PostgreSQL's: SQLite serves one process")
    people = 120
    await populate(db, people)
    fake = FakeSlack()
    await fake.start()
    replicas = [db, db.another()]
    try:
        await run_round(db, MONDAY - timedelta(days=1))
        tallies = await asyncio.gather(*(run_round(replica, MONDAY) for replica in replicas))
        assert sum(t.prompts for t in tallies) == people

        def client_for(_tenant: str):
            async def make():
                return AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url)
            return make()

        workers = [Outbox(replica, SlackSender(client_for, 6000), worker=f"replica-{n}")
                   for n, replica in enumerate(replicas)]
        deadline = time.monotonic() + 60
        while (await states(db)).get("sent", 0) < people:
            assert time.monotonic() < deadline, f"not all sent: {await states(db)}"
            await asyncio.gather(*(worker.deliver_due() for worker in workers))
        counts = prompts_per_user(fake)
        assert len(counts) == people and set(counts.values()) == {1}
    finally:
        await fake.close()
        await replicas[1].dispose()
