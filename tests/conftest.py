"""Test fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL is the server at GOALBOT_TEST_POSTGRES_URL (default: the `test`
database on 127.0.0.1:5432). Where it cannot be reached those tests skip with
the reason, unless GOALBOT_REQUIRE_POSTGRES=1 (as CI sets), where they fail.
"""

from __future__ import annotations

import asyncio
import os
import uuid

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from adapters.console.chat import ConsoleChat
from bot.dispatch import Bot
from bot.org import import_people, read_csv
from bot.people import tenant_by_key
from storage.database import Database
from storage.migrate import upgrade

POSTGRES_URL = os.environ.get("GOALBOT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("GOALBOT_REQUIRE_POSTGRES") == "1"

# A small org: Maya (CEO, admin) > Omar (Engineering) > Bo (Platform lead) > Ana, Ravi.
ORG_CSV = """email,name,manager_email,department,team,role,timezone
maya@example.com,Maya Chen,,,,admin,America/New_York
omar@example.com,Omar Haddad,maya@example.com,Engineering,,manager,Europe/Berlin
bo@example.com,Bo Larsen,omar@example.com,Engineering,Platform,manager,Europe/Copenhagen
ana@example.com,Ana Silva,bo@example.com,Engineering,Platform,member,Europe/Lisbon
ravi@example.com,Ravi Patel,bo@example.com,Engineering,Platform,member,Asia/Kolkata
lena@example.com,Lena Vogel,maya@example.com,Sales,,manager,Europe/Vienna
nina@example.com,Nina Kowalski,lena@example.com,Sales,EMEA,member,Europe/Warsaw
"""


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _postgres_problem() -> str | None:
    try:
        conn = await asyncio.wait_for(asyncpg.connect(_asyncpg_dsn(POSTGRES_URL)), timeout=5)
    except (OSError, asyncio.TimeoutError, asyncpg.PostgresError) as error:
        return f"PostgreSQL is not reachable at {make_url(POSTGRES_URL).render_as_string()}: {error}"
    await conn.close()
    return None


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def db(request, tmp_path):
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'goalbot.db'}")
        await upgrade(database)
        yield database
        await database.dispose()
        return
    problem = await _postgres_problem()
    if problem:
        if REQUIRE_POSTGRES:
            pytest.fail(problem + " (GOALBOT_REQUIRE_POSTGRES=1)")
        pytest.skip(problem + "; set GOALBOT_TEST_POSTGRES_URL to run these tests")
    schema = f"goalbot_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    database = Database(POSTGRES_URL, connect_args={"server_settings": {"search_path": f'"{schema}"'}})
    try:
        await upgrade(database)
        yield database
    finally:
        await database.dispose()
        try:
            await _drop_schema(admin, schema)
        finally:
            await admin.close()


async def _drop_schema(admin, schema: str) -> None:
    """Drop a test's schema. A connection the test left inside a transaction would make the drop wait
    forever; instead it is ended after a while and the test fails, naming the leak."""
    await admin.execute("SET lock_timeout = '15s'")
    try:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        return
    except asyncpg.exceptions.LockNotAvailableError:
        holders = await admin.fetch(
            "SELECT DISTINCT l.pid, a.state, a.query FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE n.nspname = $1 AND l.pid <> pg_backend_pid()", schema,
        )
        for holder in holders:
            await admin.execute("SELECT pg_terminate_backend($1)", holder["pid"])
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        leaks = "; ".join(f"{h['state']}: {h['query'][:200]}" for h in holders)
        pytest.fail(f"the test left a database connection holding locks ({leaks})")


class Org:
    """The small org above, and a way for any of its people to talk to the bot."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.bot = Bot(db)

    async def say(self, email: str, text: str) -> str:
        return await ConsoleChat(self.bot, email).say(text)

    async def send(self, email: str, text: str):
        return await ConsoleChat(self.bot, email).send(text)


@pytest.fixture
async def org(db) -> Org:
    rows, _ = read_csv(ORG_CSV)
    async with db.transaction() as session:
        tenant = await tenant_by_key(session, "default", create=True)
        await import_people(session, tenant, rows)
    return Org(db)


# A test stuck for 90 seconds prints what each of its unfinished asyncio tasks is waiting on (the
# faulthandler dump at 120 s shows threads only, and an event loop's thread just shows it waiting).
STUCK_AFTER = 90.0


def _print_waiting_tasks(name: str) -> None:
    import gc
    import sys

    print(f"\n--- {name} is still running after {STUCK_AFTER:.0f} s; its unfinished tasks:", file=sys.stderr)
    for obj in gc.get_objects():
        if isinstance(obj, asyncio.Task) and not obj.done():
            print(f"task {obj.get_name()}: {obj.get_coro()!r}", file=sys.stderr)
            obj.print_stack(file=sys.stderr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    import threading

    watchdog = threading.Timer(STUCK_AFTER, _print_waiting_tasks, args=(item.nodeid,))
    watchdog.daemon = True
    watchdog.start()
    try:
        yield
    finally:
        watchdog.cancel()
