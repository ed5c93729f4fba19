"""The goal map over real HTTP: the link chat hands out opens it, shows each person exactly what they may see
in chat, and opens nothing when it expired, was changed, is carried to another tenant, or its person lost
access. Each test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from adapters.settings import Settings
from bot import privacy
from bot.maps import MapLinks, MapScope
from bot.messages import Link
from bot.org import import_people, read_csv
from bot.people import tenant_by_key
from served import Served
from storage.models import Goal, Person, Tenant

class Clock:
    """The instant the server checks links at; a test moves it."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
async def served(org):
    clock = Clock()
    server = Served(org.db, Settings(_env_file=None), now=clock)
    await server.start()
    server.clock = clock
    yield server
    await server.close()


async def unit_id(org, name: str) -> int:
    from storage.models import OrgUnit

    async with org.db.transaction(write=False) as session:
        return (await session.execute(OrgUnit.__table__.select().where(OrgUnit.name == name))).one().id


def token_of(reply: str) -> str:
    """The token of the map link in a console reply."""
    url = re.search(r"(http://\S+/map\?t=\S+)", reply).group(1)
    return parse_qs(urlsplit(url).query)["t"][0]


async def get(served, path: str, **query) -> tuple[int, str, dict]:
    async with served.http.get(served.server.make_url(path), params=query, allow_redirects=False) as response:
        return response.status, await response.text(), dict(response.headers)


async def map_of(served, org, email: str, words: str = "") -> tuple[int, str]:
    token = token_of(await org.say(email, f"goals map {words}".strip()))
    status, html, _ = await get(served, "/map", t=token)
    return status, html


async def goals(org) -> None:
    await org.say("maya@example.com", "goals add Grow revenue 20% level:company due:2027-12-31")
    await org.say("omar@example.com", "goals add Make the platform reliable level:department parent:G-1")
    await org.say("ana@example.com", 'goals add Ship the <script>alert("x")</script> billing API parent:G-2 due:2027-06-30')
    await org.say("bo@example.com", "goals approve G-3")
    await org.say("ana@example.com", "goals add Secret reorganisation plan private")
    await org.say("nina@example.com", "goals add Open the Warsaw office")


async def test_goals_map_answers_with_a_link_that_opens_the_map_for_that_person(org, served):
    await goals(org)
    reply = await org.say("ana@example.com", "goals map")
    assert "The goal map of Company, showing what you may see. The link is for you alone and works for 1 hour" in reply
    assert "Open the goal map: http://127.0.0.1:3000/map?t=" in reply
    status, html, headers = await get(served, "/map", t=token_of(reply))
    assert status == 200
    assert "Shown to Ana Silva" in html
    for ref in ("G-1", "G-2", "G-3", "G-4", "G-5"):
        assert f'href="#{ref}"' in html
    # The tree: G-3 sits inside G-2, inside G-1.
    tree = html[html.index('<ul class="tree">'):]
    assert tree.index('data-n="1"') < tree.index('data-n="2"') < tree.index('data-n="3"')
    assert re.search(r'data-n="2".*?<ul>\s*<li class="g[^"]*" data-n="3"', tree, re.S)
    assert headers["Content-Security-Policy"].startswith("default-src 'none'; script-src 'self'; style-src 'self'")
    assert "frame-ancestors 'self' https://teams.microsoft.com" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"


async def test_every_user_string_is_escaped_on_the_page_and_in_the_panel(org, served):
    await goals(org)
    token = token_of(await org.say("ana@example.com", "goals map"))
    _, html, _ = await get(served, "/map", t=token)
    assert "<script>alert" not in html
    assert "Ship the &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; billing API" in html
    status, panel, headers = await get(served, "/map/goal", t=token, g="3", part="panel")
    assert status == 200 and "<script>alert" not in panel and "&lt;script&gt;" in panel
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    # No script or style is inline: the policy would block it, and the page needs none.
    assert not re.search(r"<script(?![^>]*\bsrc=)", html) and " style=" not in html and " onclick" not in html


async def test_each_of_four_people_sees_exactly_what_chat_shows_them(org, served):
    await goals(org)
    secret = "Secret reorganisation plan"
    seen = {}
    for email in ("ana@example.com", "ravi@example.com", "bo@example.com", "maya@example.com", "nina@example.com"):
        status, html = await map_of(served, org, email)
        assert status == 200
        seen[email] = html
        listed = await org.say(email, "goals list team all") + await org.say(email, "goals show G-4")
        # The map holds the private goal exactly when chat shows it to the same person.
        assert (secret in html) == (secret in listed), email
    assert secret in seen["ana@example.com"]  # the member who owns it
    assert secret not in seen["ravi@example.com"] and 'data-n="4"' not in seen["ravi@example.com"]  # a peer
    assert secret in seen["bo@example.com"]  # her manager
    assert secret in seen["maya@example.com"]  # an admin
    assert secret not in seen["nina@example.com"]
    # The peer cannot open it in the panel either: it answers as a goal that does not exist.
    token = token_of(await org.say("ravi@example.com", "goals map"))
    status, panel, _ = await get(served, "/map/goal", t=token, g="4", part="panel")
    assert status == 404 and "No goal G-4." in panel and secret not in panel


async def test_the_panel_has_key_results_milestones_latest_checkins_and_history(org, served):
    await goals(org)
    await org.say("ana@example.com", "goals kr add G-3 invoices 0->100")
    await org.say("ana@example.com", "goals milestone add G-3 First invoice due:2027-02-01")
    await org.say("ana@example.com", "goals kr G-3.1 40")
    await org.say("ana@example.com", "goals progress G-3 at-risk waiting on legal")
    token = token_of(await org.say("bo@example.com", "goals map"))
    status, panel, _ = await get(served, "/map/goal", t=token, g="3", part="panel")
    assert status == 200
    for part in ("Key results", "invoices", "40, from 0 to 100", "Milestones", "1. First invoice (open, due 2027-02-01)",
                 "Latest check-ins", "Ana Silva: at risk, note: waiting on legal", "Ana Silva: G-3.1 now 40",
                 "<h3>History</h3>", "Ana Silva: key result updated<br>"):
        assert part in panel, part
    # Opened without the script, the same panel is a page of its own with a way back.
    status, page, _ = await get(served, "/map/goal", t=token, g="3")
    assert status == 200 and "Back to the goal map" in page and "Latest check-ins" in page


async def test_a_link_opens_nothing_once_expired_changed_or_for_another_tenant(org, served):
    await goals(org)
    token = token_of(await org.say("ana@example.com", "goals map"))
    served.clock.at = datetime.now(UTC) + timedelta(minutes=59)
    assert (await get(served, "/map", t=token))[0] == 200
    served.clock.at = datetime.now(UTC) + timedelta(minutes=61)
    status, html, headers = await get(served, "/map", t=token)
    assert status == 403 and "This link to the goal map has expired." in html and "Say goals map" in html
    assert "Grow revenue" not in html and headers["Referrer-Policy"] == "no-referrer"
    served.clock.at = datetime.now(UTC)

    payload, signature = token.rsplit(".", 1)  # a compressed payload starts with a dot of its own
    for changed in (payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + signature,
                    # (in the middle: the last character of a signature carries two bits base64 leaves unused)
                    payload + "." + signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:],
                    payload, "", "x" * 5000, "{page.subPageId}"):
        status, html, _ = await get(served, "/map", t=changed)
        assert status in (400, 403) and "Grow revenue" not in html, changed[:40]
    # The panel refuses the same links.
    assert (await get(served, "/map/goal", t=payload + ".AAAA", g="1"))[0] == 403

    # Another tenant with its own people and goals: a link names its tenant and is signed with that tenant's key.
    rows, _ = read_csv("email,name,manager_email,department,team,role,timezone\n"
                       "zed@other.example,Zed Other,,,,admin,UTC\n")
    async with org.db.transaction() as session:
        other = await tenant_by_key(session, "slack:T0OTHER", create=True)
        await import_people(session, other, rows)
        ana = (await session.execute(Person.__table__.select().where(Person.email == "ana@example.com"))).one()
        # Ana's id, signed with the other tenant's key: she is not a person of that tenant.
        forged = MapLinks().make(other, ana.id, MapScope(), datetime.now(UTC)).token
        # The other tenant's key does not sign links for this one.
        home = await tenant_by_key(session, "default")
        crossed = MapLinks().make(Tenant(key="default", name="x", link_key=other.link_key), ana.id, MapScope(),
                                  datetime.now(UTC)).token
        assert home.link_key != other.link_key
    status, html, _ = await get(served, "/map", t=forged)
    assert status == 403 and "no longer knows" in html and "Grow revenue" not in html
    status, html, _ = await get(served, "/map", t=crossed)
    assert status == 403 and "not valid" in html


async def test_no_map_crosses_tenants(org, served):
    await goals(org)
    rows, _ = read_csv("email,name,manager_email,department,team,role,timezone\n"
                       "zed@other.example,Zed Other,,,,admin,UTC\n")
    async with org.db.transaction() as session:
        other = await tenant_by_key(session, "slack:T0OTHER", create=True)
        await import_people(session, other, rows)
    from adapters.console.chat import ConsoleChat

    zed = ConsoleChat(org.bot, "zed@other.example", "slack:T0OTHER")
    await zed.say("goals add Other company goal level:company")
    status, html, _ = await get(served, "/map", t=token_of(await zed.say("goals map")))
    assert status == 200 and "Other company goal" in html and 'data-n="1"' in html
    for title in ("Grow revenue", "Secret", "Warsaw", "billing"):
        assert title not in html
    status, html = await map_of(served, org, "maya@example.com")  # an admin of the first tenant
    assert "Other company goal" not in html
    # G-2 of the other tenant does not exist; the panel answers as for any missing goal.
    status, panel, _ = await get(served, "/map/goal", t=token_of(await zed.say("goals map")), g="2", part="panel")
    assert status == 404 and "Make the platform reliable" not in panel


async def test_a_link_opens_nothing_after_its_person_lost_access(org, served):
    await goals(org)
    # Ravi may see G-3 today; his link to it stops working once Ana makes it private.
    ravi_g3 = token_of(await org.say("ravi@example.com", "goals map G-3"))
    assert (await get(served, "/map", t=ravi_g3))[0] == 200
    await org.say("ana@example.com", "goals edit G-3 private")
    async with org.db.transaction() as session:
        goal = (await session.execute(Goal.__table__.select().where(Goal.number == 3))).one()
    assert goal.private
    status, html, _ = await get(served, "/map", t=ravi_g3)
    assert status == 403 and "names a goal you can no longer see" in html and "billing" not in html

    # Revoked: every link made before the revocation, not those made after.
    before = token_of(await org.say("bo@example.com", "goals map"))
    assert "open nothing" in await org.say("bo@example.com", "goals map revoke")
    status, html, _ = await get(served, "/map", t=before)
    assert status == 403 and "was revoked" in html
    assert (await get(served, "/map", t=token_of(await org.say("bo@example.com", "goals map"))))[0] == 200

    # Erased: the person is gone, and so is what their links opened.
    nina = token_of(await org.say("nina@example.com", "goals map"))
    async with org.db.transaction() as session:
        await privacy.erase(session, "default", "nina@example.com")
    status, html, _ = await get(served, "/map", t=nina)
    assert status == 403 and "Warsaw" not in html


async def test_a_returned_goal_stays_on_the_map_as_it_stays_in_goals_list(org, served):
    await goals(org)
    await org.say("ravi@example.com", "goals add Write the runbooks parent:G-2")
    assert "Returned G-6" in await org.say("bo@example.com", "goals return G-6 needs a measure")
    assert "G-6 " in await org.say("ravi@example.com", "goals list team")
    status, html = await map_of(served, org, "ravi@example.com", "team")
    assert re.search(r'data-n="6".*?<span class="tag">returned</span>', html, re.S)


async def test_a_map_of_one_goal_a_unit_or_a_team_shows_that_part_with_what_it_supports(org, served):
    await goals(org)
    await org.say("bo@example.com", "goals add Platform on call rota level:team parent:G-2")
    status, html = await map_of(served, org, "ana@example.com", "G-2")
    assert status == 200 and "G-2 Make the platform reliable and the goals that support it" in html
    assert 'data-n="2"' in html and 'data-n="3"' in html and 'data-n="1"' not in html
    status, html = await map_of(served, org, "ana@example.com", "Platform")
    assert "The goals of Platform" in html and 'data-n="3"' in html and 'data-n="6"' in html
    assert 'data-n="6"' in html and "supports G-2 Make the platform reliable" in html and 'data-n="5"' not in html
    status, html = await map_of(served, org, "bo@example.com", "team")
    assert "<h1>Your team&#39;s goals</h1>" in html
    assert 'data-n="3"' in html and 'data-n="4"' in html and 'data-n="6"' in html and 'data-n="1"' not in html
    assert "No goal G-4." in await org.say("ravi@example.com", "goals map G-4")
    assert "There is no unit called" in await org.say("ana@example.com", "goals map Plattform")


async def test_filters_work_on_the_server_too(org, served):
    await goals(org)
    # A team of another department than the one asked for (an address made by hand) is dropped.
    token = token_of(await org.say("maya@example.com", "goals map"))
    _, html, _ = await get(served, "/map", t=token, dept=str(await unit_id(org, "Sales")),
                           team=str(await unit_id(org, "Platform")))
    assert "goals match: Sales." in html
    await org.say("ana@example.com", "goals progress G-3 40 at-risk")
    token = token_of(await org.say("maya@example.com", "goals map"))
    _, html, _ = await get(served, "/map", t=token, health="at_risk", filtered="1")
    hidden = set(re.findall(r'data-n="(\d+)"[^>]*\bhidden>', html))
    shown = set(re.findall(r'data-n="(\d+)"', html)) - hidden
    assert shown == {"1", "2", "3"}  # G-3 and the goals on the way to it
    assert re.search(r'class="g h-none ctx" data-n="1"', html) and "1 of 5 goals match: at risk." in html
    _, html, _ = await get(served, "/map", t=token, q="warsaw")
    assert "1 of 5 goals match: “warsaw”." in html
    _, html, _ = await get(served, "/map", t=token, q="g5")  # G-5, written as people shorten it
    assert "1 of 5 goals match" in html and not re.search(r'data-n="5"[^>]*hidden', html)
    _, html, _ = await get(served, "/map", t=token, only="unaligned", filtered="1")
    assert "2 of 5 goals match: not aligned." in html  # Ana's private plan and Nina's office support nothing yet
    # Filters that make no sense are dropped; a long search is cut short.
    status, html, _ = await get(served, "/map", t=token, health="<script>", dept="1 or 1", q="x" * 500)
    assert status == 200 and html.count("<script") == 1  # the page's own script, in its head
    assert 'value="' + "x" * 200 + '"' in html and "0 of 5 goals match: “xxx" in html


async def test_my_goals_is_the_teams_tabs_landing_the_counterpart_of_the_slack_home_tab(org, served):
    await goals(org)
    reply = await org.say("ana@example.com", "goals map mine")
    assert "Open my goals:" in reply
    token = token_of(reply)
    status, html, headers = await get(served, "/map/tab", t=token, t1="{subEntityId}")
    assert status == 200 and "<h1>My goals</h1>" in html
    dashboard = html[html.index('<section class="mine"'):html.index("</section>")]
    assert "Ana Silva&#39;s goals" in dashboard and "Check-in" in dashboard
    assert 'value="mine" checked' in html  # her own goals, with the goals they support as context
    # Older Teams clients fill in {subEntityId} instead of {page.subPageId}.
    assert (await get(served, "/map/tab", t="{page.subPageId}", t1=token))[0] == 200
    # Opened from the app bar, with no link and nothing kept: how to get one, not an error.
    status, html, headers = await get(served, "/map/tab", t="{page.subPageId}", t1="{subEntityId}")
    assert status == 200 and "say goals map to goalbot" in html and "Set-Cookie" not in headers
    assert "frame-ancestors" in headers["Content-Security-Policy"]


async def test_the_teams_tab_keeps_the_person_for_a_week_so_it_lands_on_their_goals(org, served):
    await goals(org)
    token = token_of(await org.say("ana@example.com", "goals map"))
    async with served.http.get(served.server.make_url("/map/tab"), params={"t": token}) as response:
        assert response.status == 200
        [cookie] = response.headers.getall("Set-Cookie")
    kept = cookie.split(";")[0].split("=", 1)[1]
    assert kept != token
    for part in ("Max-Age=604800", "Secure", "HttpOnly", "SameSite=None", "Partitioned"):
        assert part in cookie, part

    async def tab(cookie_value: str, *, hours: float = 0) -> tuple[int, str, str]:
        served.clock.at = datetime.now(UTC) + timedelta(hours=hours)
        async with served.http.get(served.server.make_url("/map/tab"), params={"t": "{page.subPageId}"},
                                   headers={"Cookie": f"goalbot_tab={cookie_value}"}) as response:
            return response.status, await response.text(), ";".join(response.headers.getall("Set-Cookie", []))

    # Opened from the app bar a day later: her goals, with no link in sight. The page holds a link of its own
    # that works an hour, never the one the tab keeps.
    status, html, cleared = await tab(kept, hours=24)
    assert status == 200 and "<h1>My goals</h1>" in html and "Shown to Ana Silva" in html and not cleared
    assert kept not in html and "This tab keeps you until" in html
    short = re.search(r'data-token="([^"]+)"', html).group(1)
    served.clock.at = datetime.now(UTC) + timedelta(hours=24, minutes=30)
    assert (await get(served, "/map", t=short))[0] == 200
    served.clock.at = datetime.now(UTC) + timedelta(hours=25, minutes=1)
    assert (await get(served, "/map", t=short))[0] == 403
    # A week on, or once she revoked her links, it is forgotten: how to get a new one, and the cookie goes.
    status, html, cleared = await tab(kept, hours=7 * 24 + 1)
    assert status == 200 and "say goals map to goalbot" in html and "Ana" not in html and "Max-Age=0" in cleared
    await org.say("ana@example.com", "goals map revoke")
    status, html, cleared = await tab(kept)
    assert "say goals map to goalbot" in html and "Max-Age=0" in cleared
    status, html, cleared = await tab("forged.value")
    assert "say goals map to goalbot" in html and "Max-Age=0" in cleared


async def test_assets_are_served_by_goalbot_itself(org, served):
    await goals(org)
    _, html, _ = await get(served, "/map", t=token_of(await org.say("ana@example.com", "goals map")))
    assets = re.findall(r'(?:href|src)="(map/static/[^"]+)"', html)
    assert len(assets) == 3  # the icon, the style sheet and the script
    for asset in assets:
        status, body, headers = await get(served, "/" + asset.split("?")[0], v=asset.split("v=")[1])
        assert status == 200 and body and "immutable" in headers["Cache-Control"]
    assert "http" not in re.sub(r'https?://(127\.0\.0\.1|localhost)', "", html.split("<body")[0])
    assert (await get(served, "/map/static/../server.py"))[0] == 404
    assert (await get(served, "/map/static/other.js"))[0] == 404


async def test_show_home_and_digest_carry_a_link_to_the_map(org):
    await goals(org)
    shown = await org.say("ana@example.com", "goals show G-3")
    assert "Open it on the goal map: http://127.0.0.1:3000/map?t=" in shown
    home = await org.bot.home(org_actor("ana@example.com"))
    links = [block for block in home.blocks if isinstance(block, Link)]
    assert len(links) == 1 and links[0].label == "Open the goal map" and links[0].tab
    digest = await org.say("bo@example.com", "goals digest")
    assert "Open your team's map: http://127.0.0.1:3000/map?t=" in digest


def org_actor(email: str):
    from bot.messages import Actor

    return Actor("console", email, email=email)


async def test_a_public_goal_under_a_private_one_never_shows_the_private_title(org, served):
    await org.say("bo@example.com", "goals add Bo's quiet team plan level:team private")
    await org.say("ana@example.com", "goals add Ana's public thing")
    await org.say("bo@example.com", "goals approve G-2")
    await org.say("bo@example.com", "goals link G-2 G-1")  # Bo may: he sees both
    shown = await org.say("nina@example.com", "goals show G-2")
    assert "Supports  a private goal" in shown and "quiet" not in shown
    assert "G-1 Bo's quiet team plan" in await org.say("omar@example.com", "goals show G-2")  # Bo's manager sees it
    token = token_of(await org.say("nina@example.com", "goals map"))
    _, html, _ = await get(served, "/map", t=token)
    assert 'data-n="2"' in html and "supports a goal you cannot see" in html and "quiet" not in html
    _, panel, _ = await get(served, "/map/goal", t=token, g="2", part="panel")
    assert "a private goal" in panel and "quiet" not in panel


async def test_my_goals_opens_on_mine_until_the_form_says_otherwise(org, served):
    await goals(org)
    token = token_of(await org.say("ana@example.com", "goals map mine"))
    _, html, _ = await get(served, "/map", t=token)
    assert 'value="mine" checked' in html and "2 of 5 goals match: mine." in html
    _, html, _ = await get(served, "/map", t=token, filtered="1")  # the box unticked, the form sent
    assert 'value="mine" checked' not in html and "5 goals." in html


async def test_what_goals_map_takes_and_refuses(org):
    await goals(org)
    assert "goals map [G-12|mine|team|<unit>]" in await org.say("ana@example.com", "goals map help")
    refused = await org.say("ana@example.com", "goals map G-3.1")
    assert "G-3.1 is a key result; name its goal, G-3" in refused
    assert "Name one goal, or one unit." in await org.say("ana@example.com", "goals map G-1 G-2")
    assert "No goal G-999." in await org.say("ana@example.com", "goals map G-999")
    assert "works for 1 minute;" in views_map_link(MapLinks(minutes=1))
    assert "works for 90 minutes;" in views_map_link(MapLinks(minutes=90))
    # Links point where `goalbot serve` listens: GOALBOT_PUBLIC_URL, else the PORT it is given, else 3000.
    assert Settings(_env_file=None, PORT="3005").map_links().base_url == "http://127.0.0.1:3005"
    assert Settings(_env_file=None, PORT="3005", GOALBOT_PUBLIC_URL="https://goals.example.com/").map_links().base_url \
        == "https://goals.example.com"
    # A development goal may stand alone: neither the map nor `goals show` calls it not aligned.
    await org.say("ana@example.com", "goals add Learn Rust category:development")
    assert "Supports  nothing (a development goal may stand alone)" in await org.say("ana@example.com", "goals show G-6")


def views_map_link(links: MapLinks) -> str:
    from adapters.console.render import render
    from bot import views

    return render(views.map_link(Link("Open the goal map", "http://x/map?t=a.b"), "Company", links.minutes_words))


async def test_the_my_goals_box_says_what_chat_would(org, served):
    await org.say("ana@example.com", "goals add Learn Rust category:development")
    await org.say("bo@example.com", "goals approve G-1")
    _, html = await map_of(served, org, "ana@example.com", "mine")
    box = html[html.index('<section class="mine"'):html.index("</section>")]
    assert "stands alone (a development goal)" in box and "link it with goals link" not in box
    assert '<a class="ref" href="#G-1">G-1</a>' in box  # opens the goal's panel on the map
    _, html = await map_of(served, org, "lena@example.com", "mine")
    assert "Nothing to check in on: you have no active goals." in html


def test_a_link_whose_content_compresses_reads_the_same():
    # A link's content is compressed when that makes it shorter (its text then starts with a dot).
    from bot.maps import tenant_named, verify

    tenant = Tenant(key="slack:" + "T" * 60, name="Long", link_key="k" * 43)
    made = MapLinks().make(tenant, 5, MapScope(), datetime.now(UTC))
    assert made.token.startswith(".")
    assert tenant_named(made.token) == tenant.key and verify(made.token, tenant.link_key, datetime.now(UTC)).person_id == 5
