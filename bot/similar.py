"""Goals whose titles look alike: one search, and the likely duplicates it finds, kept.

Every caller asks the same search (the hint on a new goal, a parent to suggest, the duplicates a digest
shows): the database's own text index (storage.titles) ranks the tenant's titles and hands back its best
few dozen, and those are scored here with a token-set match, the score a hint trusts. The words in
most of a tenant's titles tell no goal apart and would only make the index read more: the clock counts
them once a day, and the search leaves them out. What a search finds for a new goal is kept as pairs
(GoalLikeness), whoever may see them; goals that came in another way (imported, or older than the search)
are looked at by the clock's round, a batch at a time. So a digest reads pairs and never searches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from rapidfuzz import fuzz, process
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot.access import visible_clause
from bot.people import Viewer
from storage import repository, titles
from storage.database import Database
from storage.models import Goal, GoalLikeness, Tenant, utcnow
from storage.vocabulary import Status

LIKELY = 82  # the token-set score from which two titles look like one goal
CANDIDATES = 100  # the index's best, scored here
FIRST_LOOK = 200  # the index's best read first, before the filters; all it matched when too few pass
KEPT = 10  # likely duplicates kept for a goal when it is looked at
PER_ROUND = 300  # goals the clock's round looks at, at most
LIVE = (Status.PROPOSED, Status.ACTIVE, Status.ACHIEVED)  # goals a new one may duplicate


@dataclass(frozen=True)
class LookAlike:
    """A goal whose title looks like the one searched for; `score` 0-100."""

    id: int
    number: int
    title: str
    score: float
    visible: bool = True  # to the viewer the search was for

    @property
    def ref(self) -> str:
        return f"G-{self.number}"


async def look_alikes(
    session: AsyncSession, tenant: Tenant, title: str, *, viewer: Viewer | None = None, hidden_too: bool = False,
    statuses: Collection[str] = LIVE, levels: Collection[str] | None = None, exclude: Collection[int] = (),
    units: Collection[int] | None = None, limit: int = 3, cutoff: float = LIKELY,
) -> list[LookAlike]:
    """The tenant's goals whose titles look most like `title`, the likest first: at most `limit`, each
    scoring at least `cutoff`. Only goals in `statuses`, at `levels` and owned by one of `units` (when
    given), none in `exclude`, and only those `viewer` may see (with `hidden_too`, the others as well,
    marked as not visible)."""
    words = titles.words(title, tenant.common_title_words)
    if not words:
        return []
    visible = visible_clause(viewer) if viewer is not None else sa.true()
    conditions = [Goal.tenant_id == tenant.id, Goal.status.in_(list(statuses))]
    if not hidden_too:
        conditions.append(visible)
    if levels is not None:
        conditions.append(Goal.level.in_(list(levels)))
    if exclude:
        conditions.append(Goal.id.not_in(list(exclude)))
    if units is not None:
        conditions.append(Goal.owner_unit_id.in_(list(units)))

    async def best(first: int | None) -> list:
        match = titles.matching(session.bind.dialect.name, tenant.id, words, goals=tenant.last_goal_number,
                                first=first)
        query = (select(Goal.id, Goal.number, Goal.title, (visible if hidden_too else sa.true()).label("visible"))
                 .join(match.best, match.best.c.goal_id == Goal.id))
        return list((await session.execute(
            query.where(*conditions).order_by(*match.best_first).limit(CANDIDATES))).all())

    rows = await best(FIRST_LOOK)
    if len(rows) < CANDIDATES:
        # Too few of the index's first best passed the filters (or it matched only a few): all it matched.
        rows = await best(None)
    return _scored(title, rows, limit=limit, cutoff=cutoff)


def share_enough(one: str, other: str) -> bool:
    """Whether two titles share enough of what they are about to be one goal: two of their words (not the
    commonest English ones), or all of them. The token-set score alone calls a one-word title like any
    title holding that word ("Halve" and "Halve paging incidents")."""
    mine, theirs = set(titles.words(one)), set(titles.words(other))
    return mine == theirs or len(mine & theirs) >= 2


def score(one: str, other: str) -> float:
    """How alike two titles are, 0-100: their token-set score, when they share enough (`share_enough`)."""
    return fuzz.token_set_ratio(one.lower(), other.lower()) if share_enough(one, other) else 0.0


def _scored(title: str, rows: Sequence, *, limit: int, cutoff: float) -> list[LookAlike]:
    """The index's candidates (rows of id, number, title, visible; the index's best first) scored against
    `title`: those at `cutoff` or above, the likest first (the index's order among equals)."""
    found = process.extract(title, {row.id: row.title for row in rows}, scorer=fuzz.token_set_ratio,
                            processor=str.lower, score_cutoff=cutoff, limit=None)
    found = [match for match in found if share_enough(title, match[0])]
    place = {row.id: (position, row) for position, row in enumerate(rows)}
    found.sort(key=lambda match: (-match[1], place[match[2]][0]))
    return [LookAlike(key, place[key][1].number, place[key][1].title, score, bool(place[key][1].visible))
            for _title, score, key in found[:limit]]


def _pair(tenant_id: int, one: int, other: int, score: float, now: datetime) -> dict:
    """A likely duplicate as a row: once per pair, the smaller id first."""
    return {"tenant_id": tenant_id, "goal_id": min(one, other), "other_id": max(one, other), "score": score,
            "found_at": now}


async def keep(session: AsyncSession, goal: Goal, found: Iterable[LookAlike]) -> None:
    """Keep what a search found for a new goal as likely duplicates (the goal is written with the time it
    was looked at, `likeness_checked_at`)."""
    now = utcnow()
    await repository.insert_new(session, GoalLikeness, [_pair(goal.tenant_id, goal.id, match.id, match.score, now)
                                                        for match in found], ("goal_id", "other_id"))


# The clock's part -----------------------------------------------------------------------------


async def look_over_unchecked(db: Database, tenant_id: int | None = None, *, at_most: int = PER_ROUND) -> int:
    """The clock's round: goals whose look-alikes nobody looked for yet (imported, or older than the
    search) are looked at, at most `at_most`, and their likely duplicates kept. Returns how many it looked at.

    The searches only read, in a transaction of their own: on SQLite the one writer is held only to keep
    what they found. Two processes at once may look at the same goals; what they keep is the same.
    """
    async with db.transaction(write=False) as session:
        query = select(Goal.id, Goal.tenant_id, Goal.title, Goal.status).where(Goal.likeness_checked_at.is_(None))
        if tenant_id is not None:
            query = query.where(Goal.tenant_id == tenant_id)
        goals = (await session.execute(query.order_by(Goal.id).limit(at_most))).all()
        if not goals:
            return 0
        live = [goal for goal in goals if goal.status in LIVE]
        tenants = {tenant.id: tenant for tenant in (await session.execute(
            select(Tenant).where(Tenant.id.in_({goal.tenant_id for goal in live})))).scalars()}
        found = {goal.id: await look_alikes(session, tenants[goal.tenant_id], goal.title, exclude={goal.id},
                                            limit=KEPT) for goal in live}
        above = await repository.ancestor_ids(
            session, sorted({goal.id for goal in live} | {match.id for matches in found.values() for match in matches}))
    now = utcnow()
    # A goal that supports the other, however far up, carries it on; it is not a duplicate.
    pairs = [_pair(goal.tenant_id, goal.id, match.id, match.score, now) for goal in live for match in found[goal.id]
             if match.id not in above[goal.id] and goal.id not in above[match.id]]
    async with db.transaction() as session:
        await repository.insert_new(session, GoalLikeness, pairs, ("goal_id", "other_id"))
        await session.execute(sa.update(Goal).where(Goal.id.in_([goal.id for goal in goals]))
                              .values(likeness_checked_at=now).execution_options(synchronize_session=False))
    return len(goals)


COMMON_SHARE = 0.05  # a word in more than this share of a tenant's goal titles tells none apart
COUNTED_FROM = 1_000  # goals: a smaller tenant's titles are searched whole, fast enough
COUNT_EVERY = timedelta(days=1)


async def count_common_words(db: Database, now: datetime, tenant_id: int | None = None, *, at_most: int = 5) -> int:
    """The clock's round: once a day, the words in more than 5% of a tenant's live goal titles are kept as
    its common words, which the search leaves out (at most `at_most` tenants a round). Returns how many
    tenants it counted."""
    common: dict[int, list[str]] = {}
    async with db.transaction(write=False) as session:
        due = select(Tenant.id).where(sa.or_(Tenant.title_words_counted_at.is_(None),
                                             Tenant.title_words_counted_at <= now - COUNT_EVERY))
        if tenant_id is not None:
            due = due.where(Tenant.id == tenant_id)
        for due_id in (await session.execute(due.order_by(Tenant.id).limit(at_most))).scalars().all():
            live = (await session.execute(
                select(Goal.title).where(Goal.tenant_id == due_id, Goal.status.in_(LIVE)))).scalars().all()
            counts = Counter(word for title in live for word in titles.words(title))
            common[due_id] = sorted(word for word, count in counts.items()
                                    if len(live) >= COUNTED_FROM and count > COMMON_SHARE * len(live))
    if common:
        async with db.transaction() as session:
            await repository.update_many(session, Tenant, "id", [
                {"id": tenant, "common_title_words": words, "title_words_counted_at": now}
                for tenant, words in common.items()])
    return len(common)
