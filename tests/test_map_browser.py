"""The goal map in a real browser: headless Chromium from the system's packages against `goalbot serve` on the
demo organisation. It opens from a chat link, filters, searches, expands, opens a goal's panel, works with the
keyboard, at phone width and in print, fetches nothing from elsewhere, and never sends a private goal to a peer.
Screenshots are kept in test-artifacts/ (or GOALBOT_TEST_ARTIFACTS)."""

from __future__ import annotations

import base64
import re

import pytest

from browser import chromium, free_port, require_browser, run, screenshot, serving

PRIVATE = "Learn German to B2"  # Felix's private goal, G-29: Felix, Marco (his manager), Lena above him, admins


class Site:
    def __init__(self, database_url: str, base: str) -> None:
        self.database_url = database_url
        self.base = base

    def link(self, email: str, words: str = "") -> str:
        """The map link `goals map [words]` gives the person in chat."""
        return run(self._say(email, f"goals map {words}".strip()))

    async def _say(self, email: str, line: str) -> str:
        from adapters.console.chat import ConsoleChat
        from bot.dispatch import Bot
        from bot.maps import MapLinks
        from storage.database import Database

        db = Database(self.database_url)
        try:
            reply = await ConsoleChat(Bot(db, MapLinks(self.base)), email).say(line)
        finally:
            await db.dispose()
        return re.search(r"(http://\S+/map\?t=\S+)", reply).group(1)


async def _load(database_url: str) -> None:
    from bot.demo import load_demo
    from storage.database import Database
    from storage.migrate import upgrade

    db = Database(database_url)
    try:
        await upgrade(db)
        async with db.transaction() as session:
            await load_demo(session)
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    require_browser()
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('map') / 'goalbot.db'}"
    run(_load(url))
    with serving(url, free_port()) as base:
        yield Site(url, base)


def _window(width: int, height: int):
    require_browser()
    driver = chromium(width, height)
    yield driver
    driver.quit()


@pytest.fixture
def desktop():
    yield from _window(1280, 900)


@pytest.fixture
def phone():
    yield from _window(390, 844)


def ready(driver, url: str) -> None:
    driver.get(url)
    for _ in range(100):
        if driver.execute_script("return document.readyState === 'complete' && "
                                 "document.documentElement.classList.contains('js')"):
            return
        driver.execute_script("return new Promise(r => setTimeout(r, 50))")
    raise AssertionError("the map did not finish loading")


def status(driver) -> str:
    """How many goals match, without the words saying what they were filtered by."""
    return driver.find_element("id", "status").text.split(":")[0].rstrip(".") + "."


def row(driver, number: int):
    return driver.find_element("css selector", f'li.g[data-n="{number}"]')


def shown(driver, number: int) -> bool:
    return row(driver, number).find_element("css selector", ".r").is_displayed()


def wait_for(driver, script: str, what: str) -> None:
    for _ in range(100):
        if driver.execute_script(script):
            return
        driver.execute_script("return new Promise(r => setTimeout(r, 50))")
    raise AssertionError(f"waited in vain for {what}")


def problems(driver) -> list[str]:
    """What the browser complained about: blocked by the policy, failed to load, script errors."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]


def test_the_map_opens_filters_searches_expands_and_shows_a_goals_panel(site, desktop):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    ready(desktop, site.link("maya@example.com"))
    total = int(re.fullmatch(r"(\d+) goals\.", status(desktop)).group(1))
    assert total == 32 and desktop.title == "The goal map of Company · goalbot"
    # The top goals are open; below them, closed.
    assert shown(desktop, 6) and not shown(desktop, 12)

    search = desktop.find_element("name", "q")
    search.send_keys("wizard")
    assert status(desktop) == f"3 of {total} goals match."
    assert shown(desktop, 11) and shown(desktop, 21) and shown(desktop, 22)  # the wizard's goals
    assert shown(desktop, 5) and "ctx" in row(desktop, 5).get_attribute("class")  # on the way to them
    assert not shown(desktop, 1) and not shown(desktop, 4)
    assert "q=wizard" in desktop.current_url  # the address keeps the filter, to share or reload
    search.send_keys(Keys.CONTROL, "a", Keys.DELETE)
    search.send_keys("g-16")
    assert status(desktop) == f"1 of {total} goals match." and shown(desktop, 16)
    search.send_keys(Keys.CONTROL, "a", Keys.DELETE)

    Select(desktop.find_element("name", "health")).select_by_value("at_risk")
    assert status(desktop) == f"7 of {total} goals match."
    assert shown(desktop, 23) and not shown(desktop, 24)
    Select(desktop.find_element("name", "dept")).select_by_visible_text("Sales")
    assert status(desktop) == f"3 of {total} goals match."  # new business, EMEA logos, DACH deals
    assert desktop.find_element("id", "status").text == f"3 of {total} goals match: Sales, at risk."
    # The department narrows the teams to its own.
    teams = desktop.execute_script("return [...document.querySelector('select[name=team]').options]"
                                   ".filter(o => !o.hidden).map(o => o.text)")
    assert teams == ["All", "Americas", "EMEA"]
    Select(desktop.find_element("name", "health")).select_by_value("")
    Select(desktop.find_element("name", "dept")).select_by_value("")
    desktop.find_element("css selector", "input[name=only][value=unaligned]").click()
    assert status(desktop) == f"1 of {total} goals match." and shown(desktop, 30)
    desktop.find_element("css selector", "input[name=only][value=unaligned]").click()
    assert status(desktop) == f"{total} goals."
    search.send_keys("g16")  # G-16, as people shorten it
    assert status(desktop) == f"1 of {total} goals match." and shown(desktop, 16)
    desktop.find_element("css selector", "a.clear").click()
    assert status(desktop) == f"{total} goals." and search.get_attribute("value") == ""

    # Collapse everything, then open one goal's supporters with a click, and another's with the keyboard.
    desktop.find_element("css selector", "button.collapse").click()
    assert shown(desktop, 1) and not shown(desktop, 6)
    toggle = row(desktop, 1).find_element("css selector", ".r button.x")
    assert toggle.get_attribute("aria-expanded") == "false"
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true" and shown(desktop, 6) and not shown(desktop, 12)
    row(desktop, 6).find_element("css selector", ".r button.x").send_keys(Keys.ENTER)
    assert shown(desktop, 12) and shown(desktop, 13)
    desktop.find_element("css selector", "button.expand").click()
    assert shown(desktop, 23)

    # A goal's panel: opened from its link, closed with Escape, focus back where it was.
    link = row(desktop, 11).find_element("css selector", "a.t")
    link.click()
    wait_for(desktop, "return !document.getElementById('panel').hidden && "
                      "document.querySelector('#panel .panel-body') !== null", "the panel")
    panel = desktop.find_element("id", "panel")
    assert "G-11 Launch the setup wizard" in panel.text and "Supported by" in panel.text and "History" in panel.text
    assert desktop.switch_to.active_element == panel
    screenshot(desktop, "map-desktop-panel")
    panel.send_keys(Keys.ESCAPE)
    assert not panel.is_displayed() and desktop.switch_to.active_element == link

    screenshot(desktop, "map-desktop")
    # Everything came from goalbot itself, and nothing was blocked or broke.
    origins = desktop.execute_script(
        "return performance.getEntriesByType('resource').map(e => new URL(e.name).origin)")
    assert origins and set(origins) == {site.base}
    assert problems(desktop) == []


def test_the_keyboard_reaches_everything_in_order_with_a_visible_focus(site, desktop):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    ready(desktop, site.link("bo@example.com"))
    order = []
    for _ in range(12):
        ActionChains(desktop).send_keys(Keys.TAB).perform()
        order.append(desktop.execute_script(
            "const e = document.activeElement; return (e.name || e.className || e.tagName) + '|' + "
            "getComputedStyle(e).outlineStyle + '|' + (e.labels && e.labels.length ? e.labels[0].textContent.trim() : '')"))
    names = [entry.split("|")[0] for entry in order]
    assert names[:10] == ["skip", "q", "dept", "team", "health", "only", "only", "only", "clear button", "expand"]
    assert names[10] == "collapse" and names[11] == "x"  # then the map: a goal's toggle
    assert all(entry.split("|")[1] not in ("none", "") for entry in order), order  # the focus shows
    labels = [entry.split("|")[2] for entry in order[1:8]]
    assert labels[0].startswith("Find a goal") and labels[1].startswith("Department") and labels[5] == "Not aligned"
    # Every toggle says, to a screen reader, whose supporters it shows and whether they are shown.
    unnamed = desktop.execute_script(
        "return [...document.querySelectorAll('button.x')].filter(b => !/^Goals supporting G-\\d+: \\d+$/"
        ".test(b.getAttribute('aria-label')) || !b.hasAttribute('aria-expanded')).length")
    assert unnamed == 0
    # The skip link jumps to the map.
    desktop.find_element("css selector", "a.skip").send_keys(Keys.ENTER)
    assert desktop.switch_to.active_element.get_attribute("id") == "map"


def test_a_private_goal_never_reaches_a_peers_browser(site, desktop):
    for email, sees in (("felix@example.com", True), ("nina@example.com", False), ("marco@example.com", True),
                        ("maya@example.com", True), ("bo@example.com", False)):
        ready(desktop, site.link(email))
        assert (PRIVATE in desktop.page_source) == sees, email
        assert bool(desktop.find_elements("css selector", 'li.g[data-n="29"]')) == sees, email
    # Asked for directly from the peer's page, the server answers as for a goal that does not exist.
    ready(desktop, site.link("nina@example.com"))
    answer = desktop.execute_script(
        "const t = document.body.dataset.token; return fetch('map/goal?part=panel&g=29&t=' + encodeURIComponent(t))"
        ".then(r => r.text().then(body => [r.status, body]))")
    assert answer[0] == 404 and PRIVATE not in answer[1] and "No goal G-29." in answer[1]
    screenshot(desktop, "map-peer-nina")


def test_at_phone_width_nothing_runs_off_the_screen(site, phone):
    ready(phone, site.link("bo@example.com"))
    overflow = phone.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    screenshot(phone, "map-phone")
    row(phone, 4).find_element("css selector", "a.t").click()
    wait_for(phone, "return document.querySelector('#panel .panel-body') !== null", "the panel")
    width = phone.execute_script("return [document.getElementById('panel').getBoundingClientRect().width, "
                                 "document.documentElement.clientWidth]")
    assert width == [390, 390]  # the panel takes the whole screen
    screenshot(phone, "map-phone-panel")


def test_it_prints_the_goals_shown_with_what_they_are_filtered_by_and_no_controls(site, desktop):
    from selenium.webdriver.support.ui import Select

    ready(desktop, site.link("maya@example.com"))
    Select(desktop.find_element("name", "health")).select_by_value("at_risk")
    desktop.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert not desktop.find_element("css selector", "form.filters").is_displayed()
        said = desktop.find_element("id", "status")
        assert said.is_displayed() and said.text == "7 of 32 goals match: at risk."
        assert shown(desktop, 23) and not shown(desktop, 24)  # printed as shown
        bars = desktop.execute_script("return getComputedStyle(document.querySelector('progress')).printColorAdjust")
        assert bars == "exact"  # progress bars print even without background graphics
    finally:
        desktop.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    pdf = base64.b64decode(desktop.print_page())
    assert pdf.startswith(b"%PDF") and len(pdf) > 5_000


def test_the_teams_tab_opens_my_goals_from_the_bots_link(site, desktop):
    link = site.link("felix@example.com", "mine")
    token = link.split("?t=")[1]
    # What the app's tab loads once Teams fills the content URL's placeholder with the deep link's context.
    ready(desktop, f"{site.base}/map/tab?t={token}&t1=%7BsubEntityId%7D")
    assert desktop.find_element("tag name", "h1").text == "My goals"
    mine = desktop.find_element("css selector", "section.mine")
    assert "Felix Braun's goals" in mine.text and PRIVATE in mine.text
    assert desktop.find_element("css selector", "input[name=only][value=mine]").is_selected()
    assert shown(desktop, 29) and not shown(desktop, 28)
    screenshot(desktop, "teams-tab-my-goals")
    # Opened again from the app bar, with no link: the tab kept Felix, and lands on his goals.
    from_app_bar = f"{site.base}/map/tab?t=%7Bpage.subPageId%7D&t1=%7BsubEntityId%7D"
    ready(desktop, from_app_bar)
    assert desktop.find_element("tag name", "h1").text == "My goals" and PRIVATE in desktop.page_source
    # Nothing kept (another person's Teams, say): how to get a link, and nothing of Felix's.
    desktop.execute_cdp_cmd("Network.clearBrowserCookies", {})  # partitioned ones too
    ready(desktop, from_app_bar)
    assert "say goals map to goalbot" in desktop.find_element("tag name", "main").text
    assert PRIVATE not in desktop.page_source
    assert problems(desktop) == []
