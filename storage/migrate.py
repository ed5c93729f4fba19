"""Schema migrations with Alembic, run over the application's own async engine."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import DBAPIError

from storage.database import Database, describe_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(db: Database) -> str | None:
    """The revision the database is at, or None for an empty database."""
    async with db.engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


async def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema up to `revision` (all of it or none: one transaction)."""

    def run(sync_conn) -> None:
        config = alembic_config()
        config.attributes["connection"] = sync_conn
        command.upgrade(config, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(run)


async def ensure_schema(db: Database) -> None:
    """Make the database ready to use.

    The embedded SQLite file is created and upgraded on its own; a PostgreSQL
    database behind the head revision is left alone and reported, because its
    operator decides when to migrate.
    """
    try:
        current = await current_revision(db)
    except (OSError, DBAPIError) as error:  # no such folder, no server, no right to it
        raise DatabaseUnreachable(f"Could not open the database {describe_url(db.url)}: "
                                  f"{getattr(error, 'orig', None) or error}.") from None
    head = head_revision()
    if current == head:
        return
    if db.is_sqlite:
        await upgrade(db)
        return
    raise SchemaOutOfDate(
        f"The database is at revision {current or 'none'}, goalbot needs {head}: run `goalbot db upgrade`."
    )


class DatabaseUnreachable(RuntimeError):
    """The database could not be opened: said in one line."""


class SchemaOutOfDate(RuntimeError):
    """The PostgreSQL schema is older than this version of goalbot."""
