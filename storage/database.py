"""One async engine and session factory for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool

DEFAULT_SQLITE_FILE = "goalbot.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
POOL_SIZE, POOL_OVERFLOW = 10, 20


def default_url(directory: Path | None = None) -> str:
    """The embedded database: an SQLite file in the working directory."""
    path = (directory or Path.cwd()) / DEFAULT_SQLITE_FILE
    return f"sqlite+aiosqlite:///{path}"


def describe_unparsed(url: str) -> str:
    """A URL that did not parse, shown without what could be a password (anything before an @)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rsplit('@', 1)[-1]}" if "@" in rest else url


def describe_url(url: str) -> str:
    """A database URL without its password, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def normalise_url(url: str) -> str:
    """Accept the usual short forms (postgres://, sqlite://, or a plain file name for SQLite) and pick the
    async drivers. A ValueError, in one line, for anything else."""
    if "://" not in url:
        if not url.strip():
            raise ValueError("the database URL is empty; give a file name like goalbot.db, or a URL")
        return f"sqlite+aiosqlite:///{Path(url).expanduser().resolve()}"
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ValueError(f"{describe_unparsed(url)} is not a database URL; give a file name like goalbot.db, "
                         "sqlite:///path/to/goalbot.db or postgresql://user@host/database") from None
    backend = parsed.get_backend_name()
    if backend in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    else:
        raise ValueError(f"goalbot supports SQLite and PostgreSQL URLs, not {backend!r}")
    return parsed.render_as_string(hide_password=False)


class Database:
    """The engine plus two session factories: one for reads, one for writes.

    On SQLite every write transaction starts with BEGIN IMMEDIATE, so concurrent
    writers queue on the busy timeout instead of failing with "database is locked"
    when a deferred transaction tries to upgrade its lock.
    """

    def __init__(self, url: str, *, echo: bool = False, connect_args: dict | None = None) -> None:
        self.url = normalise_url(url)
        self._options = {"echo": echo, "connect_args": connect_args}
        parsed = make_url(self.url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        # Every transaction is ended by its owner (committed or rolled back), so a connection going back
        # to the pool needs no extra ROLLBACK round trip.
        options: dict = {"echo": echo, "pool_reset_on_return": None}
        if self.is_sqlite:
            in_memory = parsed.database in (None, "", ":memory:")
            options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, **(connect_args or {})}
            if in_memory:
                options["poolclass"] = StaticPool
        else:
            options["pool_pre_ping"] = True
            # Turns that wait on the platform hold no connection, but a burst of them each runs a few short
            # transactions at once: room for that without queueing on the pool (PostgreSQL allows 100).
            options["pool_size"] = POOL_SIZE
            options["max_overflow"] = POOL_OVERFLOW
            # Short OLTP queries: JIT compilation costs more than it saves, and recursive
            # org-chart CTEs inflate cost estimates enough to trigger it.
            args = dict(connect_args or {})
            args["server_settings"] = {"jit": "off", **args.get("server_settings", {})}
            options["connect_args"] = args
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        if self.is_sqlite:
            _install_sqlite_transaction_control(self.engine)
        self._writer = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time. Writers in this process queue here, in order, instead of
        # polling the file lock with SQLite's sleeping busy handler (other processes still use it).
        self._write_turn = asyncio.Lock() if self.is_sqlite else None
        self._reader = async_sessionmaker(
            self.engine.execution_options(goalbot_read_only=True), expire_on_commit=False
        )

    @property
    def embedded_file(self) -> Path | None:
        """The SQLite file this database is, or None (PostgreSQL, or SQLite in memory)."""
        parsed = make_url(self.url)
        if not self.is_sqlite or parsed.database in (None, "", ":memory:"):
            return None
        return Path(parsed.database)

    def another(self) -> Database:
        """A second engine on the same database, as another process would have (its own pool and locks)."""
        return Database(self.url, **self._options)

    async def ping(self) -> None:
        """One trivial query; raises when the database cannot be reached."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on any error."""
        factory = self._writer if write else self._reader
        turn = self._write_turn if write and self._write_turn is not None else nullcontext()
        async with turn:
            async with factory() as session:
                async with session.begin():
                    yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def _install_sqlite_transaction_control(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # pragma: no cover - exercised via SQLite
        # Let SQLAlchemy emit BEGIN itself (the driver's implicit BEGIN is always deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn) -> None:
        read_only = conn.get_execution_options().get("goalbot_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
