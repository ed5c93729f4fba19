"""The text index over goal titles, in each database's own terms.

SQLite keeps an FTS5 table, `goal_title_search`, over the goal table's titles (kept in step by
triggers on insert, on a change of title and on delete): a title matches when it holds any of the
query's words, ranked by bm25. PostgreSQL keeps each title's words in `goal_title_word` (kept by a
trigger), read by its primary key alone: the same titles match, ranked the same way (each shared word
counts by how rare it is in the tenant's titles, and shorter titles come first). Both are made by the
migrations only (SQLModel has no words for them), so the comparison of the models with the migrations
leaves them out (`made_by_migrations_only`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import select

from storage.models import Goal

SQLITE_TABLE = "goal_title_search"
POSTGRES_TABLE = "goal_title_word"
TYPICAL_WORDS = 8  # words in a typical title: a title this long counts as it is, a shorter one more

# Words too common in goal titles to say what a goal is about; they only widen the search.
COMMON_WORDS = frozenset({
    "a", "an", "the", "and", "or", "of", "in", "on", "at", "by", "to", "for", "with", "from", "into", "our", "all",
    "more", "less", "new", "per", "make", "get", "have", "this", "that", "than", "over", "under", "goal", "goals",
})
WORD = re.compile(r"[^\W_]+")  # letters and digits, as both indexes split titles


def words(title: str, common: Collection[str] = ()) -> list[str]:
    """The words of a title that say what it is about, in lower case, each once, in order: without the
    commonest English ones nor `common` (a tenant's own), unless nothing else is left."""
    found = list(dict.fromkeys(WORD.findall(title.lower())))
    for left_out in (COMMON_WORDS.union(common), COMMON_WORDS):
        kept = [word for word in found if word not in left_out]
        if kept:
            return kept
    return found


def made_by_migrations_only(name: str | None, type_: str) -> bool:
    """Whether a table is the title index's, which the models do not describe."""
    return type_ == "table" and bool(name) and (name.startswith(SQLITE_TABLE) or name == POSTGRES_TABLE)


@dataclass(frozen=True)
class TitleMatch:
    """How one database finds goal titles like a query: its index's best (a subquery of `goal_id`s, to
    join), and the order of the matches, best first (the older goal first among equals)."""

    best: sa.Subquery
    best_first: tuple[sa.ColumnElement, ...]


def fts_query(tenant_id: int, query_words: Sequence[str]) -> str:
    """An FTS5 query for the tenant's titles holding any of these words. Each word is a quoted string, so no
    title (quotes, NEAR, *, -, :, parentheses) can change the query's meaning or break its syntax."""
    quoted = " OR ".join('"' + word.replace('"', '""') + '"' for word in query_words)
    return f'tenant_id : "{int(tenant_id)}" AND title : ({quoted})'


def matching(dialect: str, tenant_id: int, query_words: Sequence[str], *, goals: int,
             first: int | None = None) -> TitleMatch:
    """Titles like a title of these words (see `words`), the tenant's only; only the index's `first` best
    (all of them when None). `goals`: about how many goals the tenant has, to weigh how rare a word is."""
    if dialect != "sqlite":
        return _word_match(tenant_id, query_words, goals=goals, first=first)
    index = sa.table(SQLITE_TABLE, sa.column("rowid"), sa.column(SQLITE_TABLE))
    hidden = index.c[SQLITE_TABLE]  # FTS5's column named after its table stands for the whole row
    # The tenant's column matches every row alike: only the title counts.
    rank = sa.func.bm25(hidden, 1.0, 0.0)
    best = (select(index.c.rowid.label("goal_id"), rank.label("rank"))
            .where(hidden.op("MATCH")(fts_query(tenant_id, query_words))).order_by(rank).limit(first).subquery("best"))
    return TitleMatch(best=best, best_first=(best.c.rank, Goal.id))


def _word_match(tenant_id: int, query_words: Sequence[str], *, goals: int, first: int | None) -> TitleMatch:
    """PostgreSQL's match: the titles holding any of the words, each word weighing by how rare it is
    among the tenant's titles (as bm25's inverse document frequency), the sum divided by how long the
    title is against a typical one (as bm25's length normalisation)."""
    index = sa.table(POSTGRES_TABLE, sa.column("tenant_id", sa.Integer), sa.column("word", sa.Text),
                     sa.column("goal_id", sa.Integer), sa.column("title_words", sa.Integer))
    shared = (select(index.c.word, index.c.goal_id, index.c.title_words)
              .where(index.c.tenant_id == tenant_id, index.c.word.in_([word[:100] for word in query_words]))
              .cte("shared"))
    holding = sa.func.count()
    weights = (select(shared.c.word, sa.func.ln(1 + (sa.literal(goals, sa.Float) - holding + 0.5) / (holding + 0.5))
                      .label("weight")).group_by(shared.c.word).cte("weights"))
    score = (sa.func.sum(weights.c.weight)
             / (0.25 + 0.75 * sa.cast(sa.func.min(shared.c.title_words), sa.Float) / TYPICAL_WORDS)).label("score")
    best = (select(shared.c.goal_id, score).join(weights, weights.c.word == shared.c.word)
            .group_by(shared.c.goal_id).order_by(score.desc(), shared.c.goal_id).limit(first).subquery("best"))
    return TitleMatch(best=best, best_first=(best.c.score.desc(), Goal.id))
