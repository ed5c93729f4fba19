"""The goal map's web pages, served by `goalbot serve`: verify the link, ask the core, render HTML.

Every page is opened with a signed link the bot hands out in chat (`?t=`); the core checks it and
reads only what its person may see. Pages carry a strict Content-Security-Policy (scripts, styles and
requests from goalbot itself only; framed only by goalbot and Microsoft Teams), send no referrer and are
never cached; the link's token is never logged.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from importlib.resources import files

from aiohttp import web

from adapters.web import render
from bot.dispatch import Bot
from bot.maps import MAX_TOKEN, TAB_KEPT, LinkRefused, ScopeKind

# Where Microsoft Teams (and the Microsoft 365 apps that host Teams tabs) frame a tab from.
TEAMS_FRAMERS = (
    "https://teams.microsoft.com https://*.teams.microsoft.com https://*.teams.microsoft.us "
    "https://*.skype.com https://*.office.com https://*.microsoft365.com https://*.cloud.microsoft"
)
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    f"form-action 'self'; base-uri 'none'; frame-ancestors 'self' {TEAMS_FRAMERS}"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}
STATIC = {"map.css": "text/css", "map.js": "text/javascript", "icon.svg": "image/svg+xml"}
TAB_PARAMETERS = ("t", "t1")
TAB_COOKIE = "goalbot_tab"  # the Teams tab's content URL carries the link in one of these (see package.py)
MAX_GOAL = 999_999_999
COMPRESS_FROM = 16 * 1024


def _static(name: str) -> bytes:
    return files("adapters.web").joinpath("static", name).read_bytes()


ASSETS = {name: _static(name) for name in STATIC}
VERSION = hashlib.sha256(b"".join(ASSETS.values())).hexdigest()[:12]  # in asset URLs: a new release, new files


def _page(html: str, status: int = 200) -> web.Response:
    response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8", headers=PAGE_HEADERS)
    if len(html) > COMPRESS_FROM:
        response.enable_compression()  # when the browser takes it: a map of thousands of goals is mostly markup
    return response


def _refused(request: web.Request, error: LinkRefused) -> web.Response:
    return _page(render.notice("This link opens nothing", error.message, VERSION, base=_base(request)), status=403)


def _token(request: web.Request, names: tuple[str, ...] = ("t",)) -> str | None:
    """The link's token from the query; a Teams placeholder left unfilled (`{page.subPageId}`) is no token."""
    for name in names:
        value = request.query.get(name, "").strip()
        if value and not value.startswith("{") and len(value) <= MAX_TOKEN:
            return value
    return None


def routes(bot: Bot, *, now=None) -> list[web.RouteDef]:
    """The map's routes. `now` gives the instant a link is checked at (tests move it; else the clock's)."""
    clock = now or (lambda: datetime.now(UTC))

    async def show(request: web.Request, token: str | None, *, tab: bool = False, kept=None) -> web.Response:
        if token is None:
            how = "The goal map opens with a link goalbot gives you in chat: say goals map to goalbot."
            if tab:
                how += (" Its button opens the map in this tab (goals map mine: your goals), and the tab then keeps "
                        "you for a week.")
            return _page(render.notice("Open the goal map from chat", how, VERSION, base=_base(request)),
                         status=200 if tab else 400)
        try:
            page = await bot.open_map(token, clock())
        except LinkRefused as error:
            return _refused(request, error)
        mine = page.link.scope.kind == ScopeKind.MINE  # My goals opens on the person's own, in their context
        filters = render.Filters.from_query(request.query, default_only=("mine",) if mine else ())
        return _page(render.map_page(page, token, filters, clock(), VERSION, base=_base(request), kept=kept))

    async def map_page(request: web.Request) -> web.Response:
        return await show(request, _token(request))

    async def tab(request: web.Request) -> web.Response:
        # Teams opens the tab with the link's token when a bot's button opened it. The tab then keeps the person
        # (a cookie of its own, partitioned to Teams) so that, opened from the app bar, it lands on their goals;
        # each page it shows is opened with a short link made from the kept one, never with the kept one itself.
        token = _token(request, TAB_PARAMETERS)
        if token is not None:
            try:
                kept, _ = await bot.relink(token, clock(), TAB_KEPT)
            except LinkRefused as error:
                return _refused(request, error)
            response = await show(request, token, tab=True, kept=kept.expires)
            if response.status == 200:
                response.headers.add("Set-Cookie", f"{TAB_COOKIE}={kept.token}; Max-Age={int(TAB_KEPT.total_seconds())}; "
                                                   "Secure; HttpOnly; SameSite=None; Partitioned")
            return response
        cookie = request.cookies.get(TAB_COOKIE, "")
        if cookie and len(cookie) <= MAX_TOKEN:
            try:
                short, kept = await bot.relink(cookie, clock())
            except LinkRefused:
                pass
            else:
                return await show(request, short.token, tab=True, kept=kept.expires)
        response = await show(request, None, tab=True)
        if cookie:
            response.headers.add("Set-Cookie", f"{TAB_COOKIE}=; Max-Age=0; Secure; HttpOnly; SameSite=None; Partitioned")
        return response

    async def goal(request: web.Request) -> web.Response:
        token = _token(request)
        number = request.query.get("g", "")
        if token is None or not number.isdigit() or not 0 < int(number) <= MAX_GOAL:
            return _page(render.notice("No such goal", "This address names no goal.", VERSION, base=_base(request)),
                         status=400)
        try:
            reply = await bot.map_goal(token, int(number), clock())
        except LinkRefused as error:
            return _refused(request, error)
        status = 404 if reply.error else 200
        if request.query.get("part") == "panel":
            return _page(render.panel(reply, int(number)), status=status)
        return _page(render.goal_page(reply, token, int(number), VERSION, base=_base(request)), status=status)

    async def asset(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        return web.Response(body=ASSETS[name], content_type=STATIC[name], charset="utf-8", headers={
            "Cache-Control": "public, max-age=31536000, immutable" if request.query.get("v") == VERSION
            else "public, max-age=300",
            "X-Content-Type-Options": "nosniff",
        })

    return [
        web.get("/map", map_page),
        web.get("/map/tab", tab),
        web.get("/map/goal", goal),
        web.get("/map/static/{name}", asset),
    ]


def _base(request: web.Request) -> str:
    """How this page reaches the map's folder, relative to itself (`map/` from /map, nothing from /map/goal),
    so the pages link to each other wherever a proxy serves goalbot."""
    return "map/" if request.path.endswith("/map") else ""
