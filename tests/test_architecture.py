"""The layers: adapters → bot → storage; the core knows no platform; the schema matches its migrations."""

import ast
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storage.migrate import current_revision, head_revision
from storage.models import metadata
from storage.titles import made_by_migrations_only

ROOT = Path(__file__).resolve().parent.parent
PLATFORM_PACKAGES = {"slack_bolt", "slack_sdk", "botbuilder", "botframework", "aiohttp"}


def imported_packages(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = {node.module.split(".")[0]}
            else:
                continue
            found.setdefault(str(path.relative_to(ROOT)), set()).update(names)
    return found


def test_the_core_imports_no_platform_sdk_and_no_adapter():
    for path, names in imported_packages("bot").items():
        assert not names & (PLATFORM_PACKAGES | {"adapters"}), f"{path} imports {names & (PLATFORM_PACKAGES | {'adapters'})}"


def test_storage_imports_nothing_above_it():
    for path, names in imported_packages("storage").items():
        assert not names & {"bot", "adapters"}, f"{path} imports {names & {'bot', 'adapters'}}"


def imported_modules(package: str) -> dict[str, set[str]]:
    """Every module each file imports, by its full dotted name (`from a.b import c` counts a.b and a.b.c)."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        found[str(path.relative_to(ROOT))] = names
    return found


def test_adapters_run_no_sql():
    # Adapters verify, translate, render and deliver; the database is the core's (and storage's).
    # The command line's database commands may call storage's functions (migrations, the engine).
    for path, names in imported_modules("adapters").items():
        sql = {name for name in names if name.split(".")[0] in ("sqlalchemy", "sqlmodel") or
               name == "storage.models" or name.startswith("storage.models.")}
        assert not sql, f"{path} imports {sorted(sql)}"


def test_the_sql_check_sees_imports():
    assert "storage.models" in imported_modules("bot")["bot/goals.py"]
    assert "sqlalchemy" in imported_modules("storage")["storage/repository.py"]


def test_the_layer_check_sees_imports():
    # The checks above would pass vacuously if the walker found nothing.
    assert "storage" in imported_packages("bot")["bot/goals.py"]
    assert "bot" in imported_packages("adapters")["adapters/console/chat.py"]


def _table_of(obj, name, type_) -> str:
    return name if type_ == "table" else getattr(getattr(obj, "table", None), "name", "")


def modelled(obj, name, type_, reflected, compare_to):
    # slack_* tables are slack_sdk's (checked below); the title index (an FTS5 table, a trigram index) is the
    # migrations' alone.
    return not _table_of(obj, name, type_).startswith("slack_") and not made_by_migrations_only(name, type_)


async def test_migrations_build_exactly_the_models(db):
    assert await current_revision(db) == head_revision()
    async with db.engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True, "include_object": modelled}), metadata
            )
        )
    assert diff == []


async def test_the_slack_tables_are_what_slack_sdk_stores_expect(db):
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
    from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
    from sqlalchemy import MetaData

    expected = MetaData()
    SQLAlchemyInstallationStore.build_installations_table(expected, "slack_installations")
    SQLAlchemyInstallationStore.build_bots_table(expected, "slack_bots")
    SQLAlchemyOAuthStateStore.build_oauth_states_table(expected, "slack_oauth_states")

    def only_slack(obj, name, type_, reflected, compare_to):
        return _table_of(obj, name, type_).startswith("slack_")

    async with db.engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True, "include_object": only_slack}), expected
            )
        )
    assert diff == []


def test_botbuilder_stays_inside_the_teams_adapter():
    # botbuilder-python is archived upstream; keeping it in one folder keeps it replaceable.
    for package in ("bot", "adapters", "storage", "benchmarks"):
        for path, names in imported_packages(package).items():
            if names & {"botbuilder", "botframework", "msrest"}:
                # The Teams benchmark's anchor is a bare botbuilder app by definition.
                assert path.startswith("adapters/teams/") or path == "benchmarks/teams_bare.py", (
                    f"{path} imports {names & {'botbuilder', 'botframework'}}")
    assert "botbuilder" in imported_packages("adapters")["adapters/teams/app.py"]
