"""The one line of advice given on every proposal: SMART gaps and likely duplicates."""

from __future__ import annotations

import re

import sqlalchemy as sa
from rapidfuzz import fuzz, process
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot.access import visible_clause
from bot.people import Viewer
from storage.models import Goal
from storage.vocabulary import Level

STOPWORDS = {
    "the", "and", "for", "with", "from", "into", "our", "all", "more", "less", "new", "per",
    "make", "get", "have", "this", "that", "than", "over", "under", "goal", "goals",
}
DUPLICATE_SCORE = 82
CANDIDATES = 400
HAS_NUMBER = re.compile(r"\d")


def smart_gaps(goal: Goal, *, has_key_results: bool) -> list[str]:
    """What keeps the goal from being SMART, as short phrases."""
    gaps = []
    if not has_key_results and not HAS_NUMBER.search(goal.title):
        gaps.append(f"no measure (add one: goals kr add {goal.ref} <metric> <start>-><target>)")
    if goal.due_date is None:
        gaps.append("no due date")
    if goal.parent_id is None and goal.level != Level.COMPANY:
        gaps.append(f"no parent (goals link {goal.ref} G-<n>)")
    return gaps


def _significant_words(title: str) -> list[str]:
    words = [w for w in re.findall(r"[\w']+", title.lower()) if len(w) >= 3 and w not in STOPWORDS]
    return sorted(set(words), key=len, reverse=True)[:4]


async def similar_goals(
    session: AsyncSession, viewer: Viewer, title: str, *, exclude: set[int] = frozenset(), limit: int = 3
) -> list[tuple[str, str]]:
    """(reference, title) of goals in the tenant, visible to the viewer, whose titles look like `title`."""
    words = _significant_words(title)
    if not words:
        return []
    # Narrow by shared words in SQL, then score the candidates with a token-set match.
    shares_a_word = sa.or_(*(Goal.title.ilike(f"%{word}%") for word in words))
    rows = (
        await session.execute(
            select(Goal.id, Goal.number, Goal.title)
            .where(
                Goal.tenant_id == viewer.tenant.id,
                Goal.status.in_(("proposed", "active", "achieved")),
                shares_a_word,
                visible_clause(viewer),
            )
            .limit(CANDIDATES)
        )
    ).all()
    choices = {row.id: row.title for row in rows if row.id not in exclude}
    matches = process.extract(
        title, choices, scorer=fuzz.token_set_ratio, processor=str.lower, score_cutoff=DUPLICATE_SCORE, limit=limit
    )
    numbers = {row.id: row.number for row in rows}
    return [(f"G-{numbers[key]}", title) for title, _score, key in matches]


def hint_line(gaps: list[str], duplicates: list[tuple[str, str]]) -> str | None:
    """One line of advice after a new goal: what would make it SMART, and goals elsewhere that look the same."""
    parts = []
    if gaps:
        parts.append("Not SMART yet: " + "; ".join(gaps) + ".")
    if duplicates:
        parts.append("Looks like " + ", ".join(f"{ref} {title}" for ref, title in duplicates) + ".")
    return " ".join(parts) or None
