"""The personal dashboard: my goals and what they support, my check-in, and for managers the team."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot import checkins, views
from bot.alignment import STANDALONE
from bot.access import can_see
from bot.messages import (
    Button, Buttons, Context, Divider, Do, Fields, Header, Link, Paragraph, ProgressLine, Reply, ReplyBuilder,
)
from bot.people import Viewer
from storage import repository
from storage.models import Goal, Person
from storage.vocabulary import Awaiting, Status

MY_GOALS_SHOWN = 20
APPROVALS_SHOWN = 10


async def alignment(session: AsyncSession, viewer: Viewer) -> tuple[int, int] | None:
    """(aligned, total) open goals of everyone below the viewer; None when nobody reports to them."""
    reports = repository.reports_cte(viewer.id, name="home_reports")
    report_ids = [row[0] for row in await session.execute(select(reports.c.id))]
    if not report_ids:
        return None
    row = (
        await session.execute(
            select(sa.func.count(), sa.func.count(Goal.parent_id)).where(
                Goal.tenant_id == viewer.tenant.id,
                Goal.owner_person_id.in_(report_ids),
                Goal.status.in_(("proposed", "active")),
            )
        )
    ).one()
    return int(row[1]), int(row[0])


async def pending_approvals(session: AsyncSession, viewer: Viewer, limit: int) -> tuple[list[tuple[Goal, str]], int]:
    """The first `limit` goals proposed by the viewer's direct reports and waiting for the viewer, and how many wait."""
    waiting = (
        Goal.tenant_id == viewer.tenant.id,
        Goal.status == Status.PROPOSED,
        Goal.awaiting == Awaiting.MANAGER,
        Person.manager_id == viewer.id,
    )
    total = (
        await session.execute(select(sa.func.count()).select_from(Goal).join(Person, Person.id == Goal.owner_person_id).where(*waiting))
    ).scalar_one()
    rows = (
        await session.execute(
            select(Goal, Person.name).join(Person, Person.id == Goal.owner_person_id).where(*waiting).order_by(Goal.number).limit(limit)
        )
    ).all()
    return [(goal, name) for goal, name in rows], int(total)


async def _supports(session: AsyncSession, viewer: Viewer, goal: Goal, ancestors: list[Goal]) -> str:
    """What a goal supports, up to the top, as `goals show` says it (→: supports)."""
    chain = []
    for ancestor in ancestors:
        chain.append(f"{ancestor.ref} {ancestor.title}" if await can_see(session, viewer, ancestor) else "a private goal")
    if chain:
        return "supports " + " → ".join(chain)
    if goal.category in STANDALONE:
        return f"stands alone (a {goal.category} goal)"
    return "supports nothing yet: link it with goals link"


async def dashboard(session: AsyncSession, viewer: Viewer, link: Link | None = None) -> Reply:
    """Everything a person looks at first, for a home tab or a `home` command; `link` opens the goal map."""
    builder = ReplyBuilder().add(Header(f"{viewer.person.name}'s goals"))
    if link is not None:
        builder.add(link)
    open_goals = (
        Goal.tenant_id == viewer.tenant.id,
        Goal.owner_person_id == viewer.id,
        Goal.status.in_(("proposed", "active", "returned")),
    )
    count = (await session.execute(select(sa.func.count()).select_from(Goal).where(*open_goals))).scalar_one()
    mine = (
        await session.execute(select(Goal).where(*open_goals).order_by(Goal.number).limit(MY_GOALS_SHOWN))
    ).scalars().all()
    if not mine:
        builder.add(Paragraph("You have no goals yet. Propose one: goals add <title> parent:G-<n>"))
    chains = await repository.ancestors_of(session, [goal.id for goal in mine])
    for goal in mine:
        status = "" if goal.status == Status.ACTIVE else f"{goal.status} · "
        builder.add(ProgressLine(ref=goal.ref, label=goal.title, percent=goal.progress, health=goal.health,
                                 detail=status + await _supports(session, viewer, goal, chains[goal.id])))
    if count > len(mine):
        builder.add(Context(f"and {count - len(mine)} more: goals list mine all"))

    current = await checkins.state(session, viewer)
    builder.add(Divider(), Header("Check-in"))
    if current.away:
        builder.add(Paragraph(f"You are away until {viewer.person.away_until}."))
    elif not current.goals:
        builder.add(Paragraph("Nothing to check in on: you have no active goals."))
    elif current.answer is not None:
        following = f" Next: {views.next_prompt_words(viewer.person, current.period.next_at)}." if current.period.next_at else ""
        builder.add(Paragraph(f"Done for the week of {current.period.start}.{following}"))
    else:
        builder.add(
            Paragraph(f"Your check-in for the week of {current.period.start} is waiting for your answer."),
            Buttons((Button("Check in", Do.OPEN_CHECKIN, "", "checkin", "primary"),)),
        )

    aligned = await alignment(session, viewer)
    if aligned is not None:
        linked, total = aligned
        rate = (f"{round(100 * linked / total)}% ({linked} of {total} open goals, proposals too, support a parent)"
                if total else "no open goals yet")
        approvals, waiting = await pending_approvals(session, viewer, APPROVALS_SHOWN)
        builder.add(Divider(), Header("Your team"), Fields((("Alignment", rate), ("Waiting for you", str(waiting)))))
        for goal, owner in approvals:
            builder.add(
                Paragraph(f"{owner} proposed {goal.ref} {goal.title}"),
                Buttons((
                    Button("Approve", Do.APPROVE, goal.ref, f"goals approve {goal.ref}", "primary"),
                    Button("Return", Do.RETURN, goal.ref, f"goals return {goal.ref} <reason>", "danger"),
                )),
            )
        if waiting > len(approvals):
            builder.add(Context(f"and {waiting - len(approvals)} more: goals list team"))
    return builder.build()
