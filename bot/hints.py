"""The one line of advice given on every proposal: SMART gaps and likely duplicates."""

from __future__ import annotations

import re

from bot.similar import LookAlike
from storage.models import Goal
from storage.vocabulary import Level

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


def hint_line(gaps: list[str], duplicates: list[LookAlike]) -> str | None:
    """One line of advice after a new goal: what would make it SMART, and goals elsewhere that look the same."""
    parts = []
    if gaps:
        parts.append("Not SMART yet: " + "; ".join(gaps) + ".")
    if duplicates:
        parts.append("Looks like " + ", ".join(f"{goal.ref} {goal.title}" for goal in duplicates) + ".")
    return " ".join(parts) or None
