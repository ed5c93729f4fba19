"""Requests taken in are run once: work still going on in one replica is never run again by another,
and work whose replica died is run again once its lease runs out."""

import asyncio
from datetime import timedelta

from bot.inbox import Inbox


def replica(db) -> Inbox:
    inbox = Inbox(db, "slack", recover_within=timedelta(minutes=25))
    inbox.lease = timedelta(seconds=0.6)
    return inbox


async def test_slow_work_keeps_its_lease_and_a_dead_replicas_work_is_recovered_once(db):
    first, second = replica(db), replica(db)
    assert await first.claim("trigger:1", '{"text": "slow"}')
    assert not await second.claim("trigger:1", '{"text": "slow"}')
    async with first.working("trigger:1"):
        for _ in range(6):  # three leases long: the first replica keeps renewing
            await asyncio.sleep(0.3)
            assert await second.unfinished() == []
    # The first replica dies before marking it done: nobody renews, so the lease runs out.
    await first.stop()
    await asyncio.sleep(0.8)
    assert await second.unfinished() == [("trigger:1", '{"text": "slow"}')]
    assert await first.unfinished() == []  # now leased to the second replica
    await second.done("trigger:1")
    await asyncio.sleep(0.8)
    assert await second.unfinished() == []
    await second.stop()
