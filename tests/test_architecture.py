"""The layers: adapters → bot → storage; the core knows no platform; the schema matches its migrations."""

import ast
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storage.migrate import current_revision, head_revision
from storage.models import metadata

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


def test_the_layer_check_sees_imports():
    # The checks above would pass vacuously if the walker found nothing.
    assert "storage" in imported_packages("bot")["bot/goals.py"]
    assert "bot" in imported_packages("adapters")["adapters/console/chat.py"]


async def test_migrations_build_exactly_the_models(db):
    assert await current_revision(db) == head_revision()
    async with db.engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), metadata)
        )
    assert diff == []
