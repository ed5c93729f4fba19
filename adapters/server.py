"""`goalbot serve`: one aiohttp application for every platform whose credentials are set."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal

from aiohttp import web

from adapters.bodies import BODY_TIMEOUT_KEY, MAX_BODY
from adapters.connections import Guard, GuardedRunner
from adapters.settings import Settings
from bot.clock import Clock
from bot.dispatch import Bot
from bot.maps import MapLinks
from storage.database import Database
from storage.migrate import ensure_schema

log = logging.getLogger("goalbot.server")
DB_KEY = web.AppKey("db", Database)
SLACK_KEY = web.AppKey("slack", object)
TEAMS_KEY = web.AppKey("teams", object)
INSECURE_WARNING = (
    "GOALBOT_TEAMS_INSECURE_LOCAL=1 and no MICROSOFT_APP_ID: /api/messages accepts requests WITHOUT checking any "
    "Bot Framework token, and answers whatever serviceUrl they name. This is for local tests only; never use it "
    "in production."
)


async def healthz(request: web.Request) -> web.Response:
    db = request.app[DB_KEY]
    try:
        await db.ping()
    except Exception as error:  # noqa: BLE001 - a health check reports, it does not crash
        log.warning("health check: database unreachable: %s", type(error).__name__)
        return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)
    platforms = [name for name, key in (("slack", SLACK_KEY), ("teams", TEAMS_KEY)) if request.app.get(key) is not None]
    return web.json_response({"status": "ok", "database": "ok", "platforms": platforms})


PAGES = {
    "/privacy": (
        "goalbot privacy\n\ngoalbot is run by your organisation on its own servers. It keeps what you tell it (goals, "
        "progress, check-ins, kudos) and what the chat platform tells it about you (name, email, time zone) in your "
        "organisation's database, and sends nothing anywhere else. Ask your administrator to export it (goalbot "
        "person export) or delete it (goalbot person erase): your goals and history then stay under a placeholder "
        "name, without your name, email or chat accounts.\n"
    ),
    "/terms": (
        "goalbot terms of use\n\ngoalbot is open-source software run by your organisation; your organisation's own "
        "policies apply to its use. It is provided as is, without warranty.\n"
    ),
}


async def page(request: web.Request) -> web.Response:
    return web.Response(text=PAGES[request.path], content_type="text/plain")


async def build(
    settings: Settings, *, socket_mode: bool = False, db: Database | None = None, scheduler: bool = False,
    links: MapLinks | None = None, now=None,
) -> tuple[web.Application, object | None]:
    """The web application, and the Slack app when Slack is configured (the Teams app is at `app[TEAMS_KEY]`).
    With `scheduler`, the clock runs its round every minute (else an external `goalbot tick` does). `links`
    says where the goal map is reached (else GOALBOT_PUBLIC_URL, else 127.0.0.1:3000); `now` is the clock the map's
    links are checked by (tests move it)."""
    owns_db = db is None
    db = db or Database(settings.database_url)
    await ensure_schema(db)
    links = links or settings.map_links()
    bot = Bot(db, links)
    app = web.Application(client_max_size=MAX_BODY)
    app[DB_KEY] = db
    app[BODY_TIMEOUT_KEY] = settings.body_timeout
    app.router.add_get("/healthz", healthz)
    for path in PAGES:
        app.router.add_get(path, page)
    slack = None
    if settings.slack_enabled:
        from adapters.slack.app import SlackApp
        from adapters.slack.door import routes

        slack = SlackApp(settings, bot, db, socket_mode=socket_mode)
        app[SLACK_KEY] = slack
        if not socket_mode:
            app.router.add_routes(routes(slack))

    teams = None
    if settings.teams_enabled:
        from adapters.teams.app import TeamsApp
        from adapters.teams.door import routes as teams_routes

        if settings.teams_insecure:
            log.warning("!" * 78)
            log.warning(INSECURE_WARNING)
            log.warning("!" * 78)
        elif settings.teams_insecure_local:
            log.warning("GOALBOT_TEAMS_INSECURE_LOCAL is ignored: MICROSOFT_APP_ID is set, so every token is checked.")
        teams = TeamsApp(settings, bot, db)
        app[TEAMS_KEY] = teams
        app.router.add_routes(teams_routes(teams))

    from adapters.web.routes import routes as map_routes

    app.router.add_routes(map_routes(bot, now=now))
    clock = Clock(db, bot.wake_outboxes, links) if scheduler else None

    async def started(_app: web.Application) -> None:
        if slack is not None:
            slack.start()
        if teams is not None:
            teams.start()
        if clock is not None:
            clock.start()

    async def stopped(_app: web.Application) -> None:
        if clock is not None:
            await clock.stop()
        if slack is not None:
            await slack.close()
        if teams is not None:
            await teams.close()
        if owns_db:
            await db.dispose()

    app.on_startup.append(started)
    app.on_cleanup.append(stopped)
    return app, slack


def listening_address(host: str, port: int) -> str:
    """The address a browser on this machine reaches `goalbot serve` at."""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def guard(settings: Settings) -> Guard:
    """The limits every connection to the server is held to."""
    return Guard(settings.header_timeout, settings.connections_per_client)


async def connect_socket_mode(slack, settings: Settings):
    """Open Slack's Socket Mode websocket for the same Bolt app; returns the handler to close."""
    from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

    assert settings.slack_app_token is not None
    handler = AsyncSocketModeHandler(slack.app, settings.slack_app_token.get_secret_value())
    await handler.connect_async()
    log.info("connected to Slack over Socket Mode")
    return handler


async def serve(settings: Settings, host: str, port: int, *, socket_mode: bool = False, scheduler: bool = True) -> None:
    """Run until cancelled (Ctrl-C)."""
    if socket_mode and not (settings.slack_app_token and settings.slack_bot_token):
        raise SystemExit("Socket Mode needs SLACK_APP_TOKEN and SLACK_BOT_TOKEN.")
    links = settings.map_links(listening_address(host, port))
    if settings.public_url is None and host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("GOALBOT_PUBLIC_URL is not set: links to the goal map point at %s; set it to the address "
                    "people's browsers reach goalbot at.", links.base_url)
    app, slack = await build(settings, socket_mode=socket_mode, scheduler=scheduler, links=links)
    if slack is None and TEAMS_KEY not in app:
        log.warning("No platform credentials are set (SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET, or SLACK_CLIENT_ID "
                    "and SLACK_CLIENT_SECRET; MICROSOFT_APP_ID and MICROSOFT_APP_PASSWORD): serving only the goal map "
                    "(/map) and /healthz.")
    runner = GuardedRunner(app, guard(settings), access_log=None, shutdown_timeout=10)
    await runner.setup()
    # Everything loaded so far lives as long as the process: keep the collector from rescanning it,
    # which otherwise pauses every request now and then for as long as a full pass takes.
    gc.collect()
    gc.freeze()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("goalbot is listening on http://%s:%s (database %s)", host, port, settings.describe_database())
    handler = None
    try:
        if socket_mode:
            assert slack is not None
            handler = await connect_socket_mode(slack, settings)
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        await stop.wait()
        log.info("stopping")
    finally:
        if handler is not None:
            try:
                await asyncio.wait_for(handler.close_async(), 10)
            except TimeoutError:
                log.warning("the Socket Mode connection did not close within 10 s; stopping anyway")
        await runner.cleanup()
