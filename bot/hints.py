"""The one line of advice given on every proposal: SMART gaps and likely duplicates."""

from __future__ import annotations

import re

from bot.similar import LookAlike
from storage.models import Goal
from storage.vocabulary import Level

# A number that measures something: standing alone (not the 2 of `v2` or `Q3`), with a currency, a %, a
# multiplier or a unit word after it: `3%`, `$12M`, `10x`, `15 deals`, `48 hours`.
MEASURE = re.compile(r"(?<![\w.])(?P<currency>[$€£¥])?(?P<number>\d+(?:[.,]\d+)*)"
                     r"(?P<unit>\s*%|[kKmMbB]n?(?!\w)|x(?!\w)|\s+[^\W\d_]{2,})?")
YEAR = re.compile(r"(?:19|20|21)\d\d")


def measured(title: str) -> bool:
    """Whether a title says how much: a number with a currency or a unit (a year alone is not a measure)."""
    for match in MEASURE.finditer(title):
        if match["currency"] or (match["unit"] and not (YEAR.fullmatch(match["number"]) and match["unit"][:1].isspace()
                                                        and match["unit"].strip() != "%")):
            return True
    return False


def smart_gaps(goal: Goal, *, has_key_results: bool) -> list[str]:
    """What keeps the goal from being SMART, as short phrases."""
    gaps = []
    if not has_key_results and not measured(goal.title):
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
