"""The goal map as HTML: the page, a goal's panel, and the core's neutral replies, every string escaped.

Templates are Jinja2 with autoescaping on, so every string from the core (titles, names, notes) is
escaped wherever it lands. The filters work on the server too: a link with `?health=at_risk` opens
filtered, and with JavaScript off the filter form still works (the script only makes it instant).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from bot.maps import MapNode, MapPage
from bot.messages import Reply
from storage.vocabulary import Health

HEALTHS = (*(h.value for h in Health), "none")
ONLY = {"mine": "Mine", "unaligned": "Not aligned", "stale": "Stale"}
FLAG_OF = {"mine": "m", "unaligned": "u", "stale": "s"}  # the letters a goal's data-f carries
MAX_QUERY = 200

environment = Environment(
    loader=PackageLoader("adapters.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def lines(text: str) -> Markup:
    """Text whose lines stay lines in HTML, every one escaped."""
    return Markup("<br>\n").join(escape(line) for line in text.split("\n"))


environment.filters["lines"] = lines


def percent(value: float) -> str:
    """A goal's progress as chat shows it: `36.7`, `60`."""
    return f"{round(max(0.0, min(100.0, value)), 1):g}"


def filters_said(filters: Filters, goal_map) -> str:
    """What the map is filtered by, in words (the status line says it, and so does a printout)."""
    names = {str(id): name for id, name in goal_map.departments} | {str(id): name for id, name, _ in goal_map.teams}
    said = [f"“{filters.q}”"] if filters.q else []
    said += [names.get(value, "") for value in (filters.dept, filters.team) if value]
    said += [health_words(filters.health)] if filters.health else []
    said += [ONLY[word].lower() for word in filters.only]
    return ": " + ", ".join(part for part in said if part) if said else ""


def health_words(health: str) -> str:
    return "not set" if health == "none" else Health.words_of(health)


def freshness(updated: datetime, now: datetime) -> str:
    """How long ago a goal was last updated, in the words a person uses."""
    days = (now - updated).days
    if days <= 0:
        return "updated today"
    if days == 1:
        return "updated yesterday"
    if days < 14:
        return f"updated {days} days ago"
    if days < 61:
        return f"updated {days // 7} weeks ago"
    return f"updated {days // 30} months ago"


@dataclass(frozen=True)
class Filters:
    """What the map is narrowed to: words in a title or a reference, a department, a team, a health, and
    only mine, not aligned or stale goals."""

    q: str = ""
    dept: str = ""
    team: str = ""
    health: str = ""
    only: tuple[str, ...] = ()

    @classmethod
    def from_query(cls, query, default_only: tuple[str, ...] = ()) -> Filters:
        """The filters a page's address asks for; `default_only` until the form was sent (My goals: mine)."""
        only = tuple(word for word in ONLY if word in query.getall("only", []))
        chosen = "filtered" in query  # the form was sent: what is unticked is off, even a default
        return cls(
            q=" ".join(query.get("q", "").split())[:MAX_QUERY],
            dept=query.get("dept", "") if query.get("dept", "").isdigit() else "",
            team=query.get("team", "") if query.get("team", "").isdigit() else "",
            health=query.get("health", "") if query.get("health", "") in HEALTHS else "",
            only=only if chosen or only else default_only,
        )

    @property
    def active(self) -> bool:
        return bool(self.q or self.dept or self.team or self.health or self.only)

    def matches(self, node: MapNode) -> bool:
        if self.dept and str(node.department or "") != self.dept:
            return False
        if self.team and str(node.team or "") != self.team:
            return False
        if self.health and (node.goal.health or "none") != self.health:
            return False
        flags = {"mine": node.mine, "unaligned": node.unaligned, "stale": node.stale}
        if any(not flags[word] for word in self.only):
            return False
        if self.q:
            text = f"{node.ref} g{node.number} {node.goal.title}".lower()  # G-18 is found as g18 too
            return all(word in text for word in self.q.lower().split())
        return True


@dataclass
class Marks:
    """How each goal starts on the page: shown or hidden, a match or only the way to one, open or closed."""

    shown: set[int]
    matched: set[int]
    opened: set[int]


def marks(roots: list[MapNode], filters: Filters) -> Marks:
    """Without filters, everything shows and the top goals are open; with them, the matches and the goals
    on the way to them show, and those on the way are open."""
    shown: set[int] = set()
    matched: set[int] = set()
    opened: set[int] = set()

    def walk(node: MapNode, path: list[MapNode]) -> None:
        if not filters.active:
            shown.add(node.number)
            if not path:
                opened.add(node.number)
        elif filters.matches(node):
            matched.add(node.number)
            shown.add(node.number)
            for above in path:
                shown.add(above.number)
                opened.add(above.number)
        path.append(node)
        for child in node.children:
            walk(child, path)
        path.pop()

    for root in roots:
        walk(root, [])
    return Marks(shown, matched, opened)


def flags(node: MapNode) -> str:
    """The letters of the goal's data-f: m mine, u not aligned, s stale."""
    return " ".join(letter for word, letter in FLAG_OF.items() if getattr(node, word))


def map_page(page: MapPage, token: str, filters: Filters, now: datetime, version: str, *, base: str,
             kept: datetime | None = None) -> str:
    """The whole map page; `kept` is until when the Teams tab keeps its person, when it is the tab's."""
    goal_map = page.map
    if filters.team and filters.dept:  # a team of another department than the one chosen: the team goes
        department = next((found for id, _, found in goal_map.teams if str(id) == filters.team), None)
        if str(department or "") != filters.dept:
            filters = replace(filters, team="")
    return environment.get_template("map.html").render(
        map=goal_map, token=token, filters=filters, marks=marks(goal_map.roots, filters), now=now,
        version=version, base=base, healths=HEALTHS, only=ONLY, health_words=health_words, freshness=freshness,
        flags=flags, percent=percent, filters_said=filters_said, kept=kept, expires=page.link.expires, mine=blocks(page.mine) if page.mine is not None else None,
    )


def blocks(reply: Reply) -> Markup:
    """The core's neutral reply as HTML (buttons become the commands that do the same in chat)."""
    return Markup(environment.get_template("blocks.html").render(reply=reply))


def panel(reply: Reply, number: int) -> str:
    """A goal's panel, as the map's script puts it beside the map."""
    return environment.get_template("panel.html").render(reply=reply, number=number)


def goal_page(reply: Reply, token: str, number: int, version: str, *, base: str) -> str:
    """A goal's panel as a page of its own (opened without the script, or in a new tab)."""
    return environment.get_template("goal.html").render(reply=reply, token=token, number=number, version=version,
                                                        base=base)


def notice(title: str, text: str, version: str, *, base: str) -> str:
    """A page that says one thing: a link that opens nothing, or how to get one."""
    return environment.get_template("notice.html").render(title=title, text=text, version=version, base=base)
