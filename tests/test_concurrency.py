"""Many people at once: no "database is locked", no repeated G-numbers, no lost rollup."""

import asyncio

from sqlmodel import select

from storage.models import Goal


async def test_concurrent_proposals_and_updates(org):
    await org.say("maya@example.com", "goals add Grow level:company")
    for n in range(8):
        await org.say("maya@example.com", f"goals add Part {n} level:company parent:G-1")

    async def propose(n):
        return await org.say("maya@example.com", f"goals add Parallel {n} level:company")

    async def update(n):
        return await org.say("maya@example.com", f"goals progress G-{n + 2} {10 * (n + 1)}")

    replies = await asyncio.gather(*(propose(n) for n in range(12)), *(update(n) for n in range(8)))
    assert all("went wrong" not in r for r in replies), replies
    async with org.db.transaction(write=False) as session:
        goals = (await session.execute(select(Goal))).scalars().all()
    numbers = sorted(g.number for g in goals)
    assert numbers == list(range(1, 22))
    parent = next(g for g in goals if g.number == 1)
    # Each child update rolled up without losing another: the mean of 10..80.
    assert parent.progress == 45.0
