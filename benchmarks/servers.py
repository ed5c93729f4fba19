"""What the benchmarks share: a free port, waiting for a server they started to answer /healthz, and
scratch PostgreSQL databases and schemas that are dropped afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator

import aiohttp


def profiled() -> list[str]:
    """With BENCH_PROFILE=FILE, the `goalbot serve` a benchmark starts runs under cProfile and leaves its
    profile there (read it with `python -m pstats FILE`)."""
    return ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"]] if os.environ.get("BENCH_PROFILE") else []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_healthy(base: str, process: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            if process.returncode is not None:
                raise SystemExit(f"{base} exited with {process.returncode}")
            try:
                async with http.get(base + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit(f"{base} did not come up")


def _admin_dsn(server_url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.asynccontextmanager
async def scratch_schema(server_url: str, prefix: str) -> AsyncIterator:
    """A Database on a new, empty schema of the PostgreSQL at `server_url`, dropped afterwards."""
    import asyncpg

    from storage.database import Database

    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_admin_dsn(server_url))
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    db = Database(server_url, connect_args={"server_settings": {"search_path": f'"{schema}"'}})
    try:
        yield db
    finally:
        await db.dispose()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


@contextlib.asynccontextmanager
async def scratch_database(server_url: str) -> AsyncIterator[str]:
    """The URL of a new, migrated database on the PostgreSQL at `server_url` (for a `goalbot serve` the
    benchmark starts), dropped afterwards."""
    import asyncpg
    from sqlalchemy.engine import make_url

    from storage.database import Database
    from storage.migrate import upgrade

    name = f"goalbot_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_admin_dsn(server_url))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server_url).set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)
    try:
        db = Database(url)
        await upgrade(db)
        await db.dispose()
        yield url
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def benchmark_database(stack, postgres: str | None, prefix: str):
    """The database a benchmark runs on, migrated, and its label: a scratch schema of the PostgreSQL at
    `postgres`, or an SQLite file in a temporary folder; both go when `stack` closes."""
    import tempfile

    from storage.database import Database
    from storage.migrate import upgrade

    if postgres:
        db = await stack.enter_async_context(scratch_schema(postgres, prefix))
        label = "PostgreSQL"
    else:
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix.replace("_", "-") + "-"))
        db = Database(f"sqlite+aiosqlite:///{folder}/goalbot.db")
        stack.push_async_callback(db.dispose)
        label = "SQLite"
    await upgrade(db)
    return db, label


class Statements:
    """Counts the statements sent to the database while it is on."""

    def __init__(self, db) -> None:
        from sqlalchemy import event

        self.count = 0
        event.listen(db.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args) -> None:
        self.count += 1

    @contextlib.contextmanager
    def measuring(self):
        start = self.count
        result = {"statements": 0, "seconds": 0.0}
        began = time.perf_counter()
        yield result
        result["seconds"] = time.perf_counter() - began
        result["statements"] = self.count - start
