"""Small checks the tests share: a goal by its number, text in order, a state reached soon."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlmodel import select

from storage.models import Goal

T = TypeVar("T")


async def goal(db, number: int) -> Goal:
    """The goal G-<number> of the only tenant the test uses."""
    async with db.transaction(write=False) as session:
        return (await session.execute(select(Goal).where(Goal.number == number))).scalar_one()


def in_order(text: str, *fragments: str) -> bool:
    """Whether every fragment appears in the text, each after the one before."""
    position = 0
    for fragment in fragments:
        found = text.find(fragment, position)
        if found < 0:
            return False
        position = found + len(fragment)
    return True


async def eventually(read: Callable[[], Awaitable[T]], wanted: Callable[[T], bool], *, timeout: float = 5.0,
                     what: str = "the expected state") -> T:
    """Read until what is read is wanted (work that goes on after an answer), failing after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await read()
        if wanted(value):
            return value
        assert loop.time() < deadline, f"{what} was not reached within {timeout:.0f} s; last seen: {value!r}"
        await asyncio.sleep(0.05)
