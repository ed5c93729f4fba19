"""A manager's digest: where their reports' alignment stands this period, against the last, and what
needs them. Built from the one alignment computation (`bot.alignment`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy.ext.asyncio import AsyncSession

from bot import alignment
from bot.alignment import Figures, Scope, ScopeKind
from bot.errors import UserError
from bot.messages import Button, Buttons, Context, Do, Fields, Header, Paragraph, ProgressLine, Reply, ReplyBuilder
from bot.people import Viewer
from bot.schedule import Schedule, latest_prompt, zone_of
from storage.models import utcnow
from storage.vocabulary import Cadence, Health

DEFAULT = Schedule(0, time(9, 30), Cadence.WEEKLY)  # Monday 09:30, after the 09:00 check-ins


@dataclass
class Digest:
    manager: str
    period: date  # the local date of the digest's latest occurrence: the period it covers
    figures: Figures
    last: dict | None  # the counts kept for the period before, if any
    names: dict[int, str]  # people by id, for owners


def period_of(zone: str, now: datetime, plan: Schedule = DEFAULT) -> date:
    """The period a digest read at `now` covers: the local date of its latest occurrence."""
    return latest_prompt(plan, zone_of(zone), now)[0]


async def digest(session: AsyncSession, viewer: Viewer, now: datetime | None = None) -> Digest:
    """The viewer's digest now, as their team's figures against the last period's."""
    now = now or utcnow()
    reading = await alignment.read(session, viewer.tenant.id, now)
    if not reading.reports.get(viewer.id):
        raise UserError("Nobody reports to you, so there is no digest for you. Your own goals: goals list mine.")
    scope = Scope(ScopeKind.MANAGER, viewer.id)
    period = period_of(viewer.person.timezone, now)
    last = (await alignment.before(session, viewer.tenant.id, [scope], period)).get(scope)
    return Digest(viewer.person.name, period, alignment.figures(reading, scope), last,
                  {person.id: person.name for person in reading.people.values()})


# The digest as a reply ---------------------------------------------------------------------

SHOWN = 3  # goals shown in full (with their buttons) in each part that needs the manager
LISTED = 10  # references listed in each part that is a list
PART_TITLES = {
    "pending": "Waiting for your decision", "blocked": "Blocked", "at-risk": "At risk and off track",
    "missing": "Not checked in yet", "stale": "No update for two check-ins", "unaligned": "Not aligned",
    "overdue": "Past their due date",
}


def _rate(value: float | None) -> str:
    return "no data" if value is None else f"{value:.0f}%"


def _against(last: dict | None, key: str, *, rate: bool = False, what: str = "") -> str:
    """What the figure was in the period before, as a tail for its line ("" when nothing was kept)."""
    if last is None or key not in last:
        return ""
    before = _rate(last[key]) if rate else str(last[key])
    return f", last time {before}{what}"


def _goal_line(d: Digest, goal, detail: str = "") -> ProgressLine:
    owner = d.names.get(goal.owner_person_id, "")
    extra = ", ".join(part for part in (owner, detail) if part)
    return ProgressLine(ref=goal.ref, label=goal.title, percent=goal.progress, detail=extra, health=goal.health)


def _more(builder: ReplyBuilder, left: int, part: str) -> None:
    if left > 0:
        builder.add(Context(f"and {left} more: goals digest {part}"))


def _part_goals(d: Digest, part: str) -> list:
    f = d.figures
    return {"pending": f.pending, "blocked": f.blockers, "at-risk": f.at_risk, "stale": f.stale,
            "unaligned": f.unaligned, "overdue": f.overdue}.get(part, [])


def _buttons(goal, part: str) -> Buttons:
    ref = goal.ref
    if part == "pending":
        return Buttons((Button("Approve", Do.APPROVE, ref, f"goals approve {ref}", "primary"),
                        Button("Return", Do.RETURN, ref, f"goals return {ref} <reason>")))
    return Buttons((Button("Open", Do.SHOW, ref, f"goals show {ref}"),))


def render(d: Digest, part: str | None = None) -> Reply:
    """The digest: its figures against the last period's, then what needs the manager, the most urgent
    first; each part shows a few and says how to see the rest (`part` shows one part in full)."""
    f = d.figures
    builder = ReplyBuilder()
    if part is not None:
        return _render_part(d, part, builder)
    builder.add(Header(f"Your team's alignment, period of {d.period:%A} {d.period}"))
    health = " · ".join(f"{count} {Health.words_of(name) if name != 'none' else 'not set'}"
                        for name, count in f.health.items() if count)
    builder.add(Fields((
        ("Aligned", f"{_rate(f.alignment_rate)} ({f.aligned} of {f.alignable} team and individual goals)"
                    + _against(d.last, "alignment_rate", rate=True)),
        ("Linked to a team goal", f"{_rate(f.individual_rate)} ({f.individual_linked} of {f.individual} individual goals)"
                                  + _against(d.last, "individual_rate", rate=True)),
        ("Checked in", f"{_rate(f.response_rate)} ({f.answered} of {f.asked})"
                       + _against(d.last, "response_rate", rate=True)),
        ("Health", (health or "no active goals") + _against(d.last, "at_risk", what=" at risk or off track")),
        ("Blocked", f"{len(f.blockers)}" + _against(d.last, "blockers")),
    )))
    for key in ("pending", "blocked", "at-risk"):
        goals = _part_goals(d, key)
        if not goals:
            continue
        builder.add(Header(f"{PART_TITLES[key]} ({len(goals)})"))
        for goal in goals[:SHOWN]:
            builder.add(_goal_line(d, goal, f"note: {goal.note}" if goal.note and key != "pending" else ""),
                        _buttons(goal, key))
        _more(builder, len(goals) - SHOWN, key)
    if f.unanswered:
        builder.add(Header(f"{PART_TITLES['missing']} ({len(f.unanswered)} of {f.asked})"))
        builder.add(Paragraph(", ".join(person.name for person in f.unanswered[:LISTED])))
        builder.add(Buttons(tuple(Button(f"Nudge {person.name.split()[0]}", Do.NUDGE, person.email,
                                         f"goals nudge @{person.email}") for person in f.unanswered[:SHOWN])))
        _more(builder, len(f.unanswered) - LISTED, "missing")
    lists = [(key, _part_goals(d, key)) for key in ("stale", "unaligned", "overdue")]
    if any(goals for _, goals in lists):
        builder.add(Header("To look at"))
        for key, goals in lists:
            if goals:
                shown = ", ".join(f"{g.ref} {g.title}" for g in goals[:LISTED])
                left = len(goals) - LISTED
                builder.add(Paragraph(f"{PART_TITLES[key]}: {shown}" + (f", and {left} more: goals digest {key}" if left > 0 else "")))
    wins = []
    if f.achieved:
        wins.append("achieved " + ", ".join(f"{g.ref} {g.title}" for g in f.achieved[:LISTED]))
    if f.kr_hits:
        wins.append("key results on target: " + ", ".join(f"{g.ref}.{position}" for g, position in f.kr_hits[:LISTED]))
    if f.kudos:
        wins.append(f"{f.kudos} kudos")
    if wins:
        builder.add(Header("Wins"), Paragraph("; ".join(wins) + "."))
    if f.top:
        builder.add(Header("Your units' goals"))
        for goal in f.top[:5]:
            builder.add(_goal_line(d, goal))
    if f.shared:
        builder.add(Context("Shared across departments: " + ", ".join(
            f"{g.ref} {g.title} ({n} departments)" for g, n in f.shared[:SHOWN])))
    return builder.build()


def _render_part(d: Digest, part: str, builder: ReplyBuilder) -> Reply:
    f = d.figures
    if part == "missing":
        builder.add(Header(f"{PART_TITLES[part]} ({len(f.unanswered)} of {f.asked})"))
        if f.unanswered:
            builder.add(Paragraph(", ".join(person.name for person in f.unanswered)))
        else:
            builder.add(Paragraph("Everyone who was asked has checked in."))
        return builder.build()
    goals = _part_goals(d, part)
    builder.add(Header(f"{PART_TITLES[part]} ({len(goals)})"))
    if not goals:
        builder.add(Paragraph("None."))
    for goal in goals:
        builder.add(_goal_line(d, goal, f"note: {goal.note}" if goal.note and part != "pending" else ""))
    return builder.build()
