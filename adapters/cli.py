"""The `goalbot` command line: console, database migrations, org import."""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from adapters.settings import Settings
from storage.database import Database
from storage.migrate import DatabaseUnreachable, SchemaOutOfDate, current_revision, ensure_schema, head_revision, upgrade


def load_settings() -> Settings:
    """The environment's settings; a bad value is one clear line, not a traceback."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}" for problem in error.errors()
        )
        raise click.ClickException(f"Bad setting: {problems}.") from None


def _database(url: str | None) -> Database:
    settings = load_settings()
    try:
        return Database(url or settings.database_url)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--database-url / GOALBOT_DATABASE_URL") from None


async def _open(url: str | None) -> Database:
    db = _database(url)
    try:
        await ensure_schema(db)
    except (SchemaOutOfDate, DatabaseUnreachable) as error:
        await db.dispose()
        if isinstance(error, DatabaseUnreachable):
            # A connection that failed to open still stops its driver thread; let it before the loop
            # closes, or the thread reports the closed loop on standard error.
            await asyncio.sleep(0.2)
        raise click.ClickException(str(error)) from None
    return db


database_option = click.option(
    "--database-url", envvar="GOALBOT_DATABASE_URL", default=None,
    help="SQLAlchemy URL (default: goalbot.db, an SQLite file in this directory).",
)
tenant_option = click.option("--tenant", default="default", show_default=True, help="Which tenant to work on.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
def main(verbose: bool) -> None:
    """goalbot: goals aligned from the company down to each person, kept alive in chat."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@main.command()
@click.option("--as", "email", metavar="EMAIL", help="Who you are (default with --demo: ana@example.com).")
@click.option("--new", "new", is_flag=True, help="Add EMAIL as a new person if nobody has it yet.")
@click.option("--demo", is_flag=True, help="Load a demo organisation of 40 people first (once).")
@click.option("--reset", is_flag=True, help="With --demo: start again from a fresh demo (the embedded database only).")
@tenant_option
@database_option
def console(email: str | None, new: bool, demo: bool, reset: bool, tenant: str, database_url: str | None) -> None:
    """Chat with goalbot in this terminal. Pipe commands in to script a conversation; then the exit status
    is 1 when any command was refused or failed."""
    from adapters.console.chat import ConsoleChat, converse, one_of
    from bot.demo import load_demo
    from bot.dispatch import Bot

    if email is None:
        if not demo:
            raise click.UsageError("Say who you are: goalbot console --as you@example.com (or try --demo).")
        email = "ana@example.com"
    if reset and not demo:
        raise click.UsageError("--reset starts again from a fresh demo: use it with --demo.")
    if reset:
        _remove_embedded(database_url)

    async def run() -> int:
        db = await _open(database_url)
        try:
            if demo:
                async with db.transaction() as session:
                    loaded = await load_demo(session, tenant)
                if loaded:
                    click.echo("Loaded the demo organisation (40 people at example.com).", err=True)
            bot = Bot(db, load_settings().map_links())
            known, closest = await bot.emails_like(tenant, email)
            if not known and not new:
                hint = f" Did you mean {one_of(closest)}?" if closest else ""
                raise click.UsageError(f"Nobody here has the email {email}.{hint} Add --new to add them as a new person.")
            terminal = sys.stdin.isatty() and sys.stdout.isatty()
            return await converse(ConsoleChat(bot, email, tenant), interactive=sys.stdin.isatty(), editing=terminal)
        finally:
            await db.dispose()

    failed = asyncio.run(run())
    if failed and not sys.stdin.isatty():
        click.echo(f"{failed} command{'s' if failed != 1 else ''} refused or failed.", err=True)
        sys.exit(1)


def _remove_embedded(database_url: str | None) -> None:
    """Delete the embedded (SQLite) database file, to start again; refuse for any other database."""
    embedded = _database(database_url).embedded_file
    if embedded is None:
        raise click.UsageError("--reset deletes the embedded SQLite database only; a PostgreSQL one is its operator's.")
    for suffix in ("", "-wal", "-shm"):
        Path(str(embedded) + suffix).unlink(missing_ok=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 for all).")
@click.option("--port", default=3000, show_default=True, type=int, envvar="PORT", show_envvar=True,
              help="Port to listen on.")
@click.option("--socket-mode", is_flag=True, help="Talk to Slack over Socket Mode (needs SLACK_APP_TOKEN).")
@click.option("--no-scheduler", is_flag=True,
              help="Only deliver: leave the clock to `goalbot tick` run from cron every minute.")
@database_option
def serve(host: str, port: int, socket_mode: bool, no_scheduler: bool, database_url: str | None) -> None:
    """Run the bot: Slack at /slack/events, Teams at /api/messages, the goal map at /map, health at /healthz,
    and the clock."""
    from adapters.server import serve as run_server

    settings = load_settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    logging.getLogger().setLevel(min(logging.getLogger().level, logging.INFO))
    try:
        asyncio.run(run_server(settings, host, port, socket_mode=socket_mode, scheduler=not no_scheduler))
    except SchemaOutOfDate as error:
        raise click.ClickException(str(error)) from None
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    except KeyboardInterrupt:
        pass


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def test(pytest_args: tuple[str, ...]) -> None:
    """Run the test suite (ARGS go to pytest), on SQLite and on the PostgreSQL of GOALBOT_TEST_POSTGRES_URL."""
    import os

    root = Path(__file__).resolve().parent.parent
    if not (root / "tests").is_dir():
        raise click.ClickException("The tests come with goalbot's source: run this from a checkout.")
    os.chdir(root)
    os.execv(sys.executable, [sys.executable, "-m", "pytest", *pytest_args])


def _instant(value: str | None) -> datetime:
    from bot.clock import parse_instant

    if value is None:
        return datetime.now(UTC)
    try:
        return parse_instant(value)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--now") from None


@main.command()
@click.option("--now", "now", metavar="INSTANT", help="The instant to run the round at (ISO 8601 with a zone; default: now).")
@click.option("--tenant", default=None, help="Only this tenant (default: every tenant).")
@database_option
def tick(now: str | None, tenant: str | None, database_url: str | None) -> None:
    """Run one round of the clock: everything due at that instant becomes messages to send (run from cron
    with `goalbot serve --no-scheduler`). The instant only decides what is due; the running `goalbot serve` sends
    what it queues."""
    from bot.clock import run_round

    instant = _instant(now)

    async def run():
        database = await _open(database_url)
        try:
            return await run_round(database, instant, tenant=tenant, links=load_settings().map_links())
        except LookupError as error:
            raise click.ClickException(str(error).capitalize() + ".") from None
        finally:
            await database.dispose()

    tally = asyncio.run(run())
    click.echo(tally.line())
    click.echo(f"({tally.details()})", err=True)


@main.command()
@click.option("--format", "form", type=click.Choice(["csv", "json"]), required=True, help="CSV files or one JSON document.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="The folder for the CSV files (goals.csv, key_results.csv, ...), or the JSON file.")
@click.option("--since", metavar="DATE", default=None, help="Only what was created or changed on or after this day (2027-01-31).")
@tenant_option
@database_option
def export(form: str, out: Path, since: str | None, tenant: str, database_url: str | None) -> None:
    """Export a tenant's goals, key results, milestones, check-ins, kudos, history and people (with their
    figures), for performance reviews."""
    from datetime import date

    from adapters.export import write
    from bot.export import tables

    day = None
    if since is not None:
        try:
            day = date.fromisoformat(since)
        except ValueError:
            raise click.BadParameter(f"{since!r} is not a date; write it like 2027-01-31", param_hint="--since") from None

    if form == "csv" and out.exists() and not out.is_dir():
        raise click.BadParameter(f"{out} is a file; CSV is written as a folder of files: name a folder", param_hint="--out")
    if form == "json" and out.is_dir():
        raise click.BadParameter(f"{out} is a folder; JSON is written as one file: name a file, like {out}.json",
                                 param_hint="--out")

    async def run():
        database = await _open(database_url)
        try:
            async with database.transaction(write=False) as session:
                return await tables(session, tenant, day)
        except LookupError as error:
            raise click.ClickException(str(error).capitalize() + ".") from None
        finally:
            await database.dispose()

    found = asyncio.run(run())
    try:
        written = write(found, out, form)
    except OSError as error:
        raise click.ClickException(f"Could not write {out}: {error.strerror or error}.") from None
    words = {"goals": "goals", "key_results": "key results", "milestones": "milestones", "check_ins": "check-ins",
             "kudos": "kudos", "history": "history entries", "people": "people"}
    counts = ", ".join(f"{len(rows)} {words[name]}" for name, rows in found.items())
    click.echo(f"Exported {counts} to {out if form == 'json' else str(out) + '/'}.")
    if len(written) > 1:
        click.echo(" ".join(path.name for path in written), err=True)


@main.group()
def teams() -> None:
    """Microsoft Teams: the app package to upload."""


@teams.command("package")
@click.option("--app-id", required=True, help="The bot's Microsoft App ID (MICROSOFT_APP_ID), a GUID.")
@click.option("--host", required=True, help="The https address goalbot serves, e.g. https://bot.example.com.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("goalbot-teams.zip"),
              show_default=True, help="Where to write the package.")
@click.option("--name", default="goalbot", show_default=True, help="The app's name in Teams (30 characters at most).")
@click.option("--developer", default="goalbot", show_default=True, help="Who publishes the app in your organisation.")
def teams_package(app_id: str, host: str, out: Path, name: str, developer: str) -> None:
    """Write the Teams app package (manifest.json and icons) to upload to Teams."""
    from adapters.teams.package import PackageError, build

    try:
        data = build(app_id, host, name=name, developer=developer)
    except PackageError as error:
        raise click.ClickException(str(error)) from None
    out.write_bytes(data)
    click.echo(f"Wrote {out} ({len(data):,} bytes). Upload it in Teams: Apps > Manage your apps > Upload an app.")


@main.group()
def db() -> None:
    """Database schema migrations."""


@db.command("upgrade")
@database_option
def db_upgrade(database_url: str | None) -> None:
    """Create the schema or bring it up to date."""

    async def run() -> None:
        database = _database(database_url)
        try:
            before = await current_revision(database)
            await upgrade(database)
            after = await current_revision(database)
        finally:
            await database.dispose()
        if before == after:
            click.echo(f"The database is up to date (revision {after}).")
        else:
            click.echo(f"Upgraded the database from {before or 'empty'} to {after}.")

    asyncio.run(run())


@db.command("current")
@database_option
def db_current(database_url: str | None) -> None:
    """Show the schema revision of the database and of this goalbot."""

    async def run() -> None:
        database = _database(database_url)
        try:
            current = await current_revision(database)
        finally:
            await database.dispose()
        click.echo(f"database: {current or 'empty'}; goalbot needs: {head_revision()}")

    asyncio.run(run())


@main.group()
def person() -> None:
    """A person's data on request: everything goalbot holds about them, or their erasure."""


@person.command("export")
@click.argument("email")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The JSON file to write (default: standard output).")
@tenant_option
@database_option
def person_export(email: str, out: Path | None, tenant: str, database_url: str | None) -> None:
    """Write everything goalbot holds about the person with EMAIL, as one JSON document."""
    import json

    from bot import privacy
    from bot.errors import UserError

    async def run() -> dict:
        database = await _open(database_url)
        try:
            async with database.transaction(write=False) as session:
                return await privacy.export(session, tenant, email)
        except UserError as error:
            raise click.ClickException(error.message) from None
        finally:
            await database.dispose()

    text = json.dumps(asyncio.run(run()), ensure_ascii=False, indent=1, default=str) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"Wrote everything goalbot holds about {email} to {out}.", err=True)


@person.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Erase without asking (it cannot be undone).")
@tenant_option
@database_option
def person_erase(email: str, yes: bool, tenant: str, database_url: str | None) -> None:
    """Erase the person with EMAIL: their chat accounts, profile and check-in answers go; their goals and
    history stay, under the name "Erased person"."""
    from bot import privacy
    from bot.errors import UserError

    if not yes:
        raise click.UsageError(f"Erasing {email} cannot be undone; say so with --yes (goalbot person export "
                               f"{email} first keeps a copy).")

    async def run() -> None:
        database = await _open(database_url)
        try:
            async with database.transaction() as session:
                await privacy.erase(session, tenant, email)
        except UserError as error:
            raise click.ClickException(error.message) from None
        finally:
            await database.dispose()

    asyncio.run(run())
    click.echo(f"Erased {email}: their goals and history now name \"{privacy.PLACEHOLDER}\".")


@main.group()
def org() -> None:
    """People, managers, departments and teams."""


@org.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@tenant_option
@database_option
def org_import(file: Path, tenant: str, database_url: str | None) -> None:
    """Import people from a CSV with the columns email,name,manager_email,department,team,role,timezone.

    Existing people are updated, new ones added; a file with any bad row changes nothing.
    """
    from bot.org import ImportRejected, import_people, read_csv
    from bot.people import tenant_by_key

    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise click.ClickException(f"{file} is not UTF-8 text.") from None

    async def run() -> str:
        database = await _open(database_url)
        try:
            rows, ignored = read_csv(text)
            async with database.transaction() as session:
                found = await tenant_by_key(session, tenant, create=True)
                report = await import_people(session, found, rows)
            report.ignored_columns = ignored
            return report.summary()
        finally:
            await database.dispose()

    try:
        click.echo(asyncio.run(run()))
    except ImportRejected as rejected:
        for problem in rejected.problems:
            click.echo(f"{file.name} {problem}", err=True)
        raise click.ClickException("Nothing was imported; fix the lines above and run it again.") from None


if __name__ == "__main__":
    main()
