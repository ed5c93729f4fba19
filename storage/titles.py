"""The text index over goal titles, in each database's own terms.

SQLite keeps an FTS5 table, `goal_title_search`, over the goal table's titles (kept in step by
triggers on insert, on a change of title and on delete): a title matches when it holds any of the
query's words, ranked by bm25. PostgreSQL keeps a trigram GIN index on `goal.title` (the pg_trgm
extension): a title matches when enough of its trigrams are the query's, or when it holds every word of
the query; those come first, then the others by trigram similarity. Both are made by the migrations
only (SQLModel has no words for them), so the comparison of the models with the migrations leaves them
out (`made_by_migrations_only`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import select

from storage.models import Goal

SQLITE_TABLE = "goal_title_search"
POSTGRES_INDEX = "ix_goal_title_trgm"
# The PostgreSQL search's trigram threshold, set on each connection (storage.database): the share of their
# trigrams two titles must have in common. Lower finds looser matches but reads much more of the index.
TRIGRAM_SETTINGS = {"pg_trgm.similarity_threshold": "0.4"}

# Words too common in goal titles to say what a goal is about; they only widen the search.
COMMON_WORDS = frozenset({
    "a", "an", "the", "and", "or", "of", "in", "on", "at", "by", "to", "for", "with", "from", "into", "our", "all",
    "more", "less", "new", "per", "make", "get", "have", "this", "that", "than", "over", "under", "goal", "goals",
})
WORD = re.compile(r"\w+")


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
    """Whether a table or index is the title index's, which the models do not describe."""
    if type_ == "table":
        return bool(name) and name.startswith(SQLITE_TABLE)
    return type_ == "index" and name == POSTGRES_INDEX


@dataclass(frozen=True)
class TitleMatch:
    """How one database finds goal titles like a query: what to join (SQLite: its index's best), the
    condition a matching goal meets, and the order of the matches, best first (the older goal first among
    equals)."""

    join: tuple[sa.FromClause, sa.ColumnElement[bool]] | None
    condition: sa.ColumnElement[bool]
    best_first: tuple[sa.ColumnElement, ...]


def fts_query(tenant_id: int, query_words: Sequence[str]) -> str:
    """An FTS5 query for the tenant's titles holding any of these words. Each word is a quoted string, so no
    title (quotes, NEAR, *, -, :, parentheses) can change the query's meaning or break its syntax."""
    quoted = " OR ".join('"' + word.replace('"', '""') + '"' for word in query_words)
    return f'tenant_id : "{int(tenant_id)}" AND title : ({quoted})'


def matching(dialect: str, tenant_id: int, query_words: Sequence[str], *, first: int | None = None) -> TitleMatch:
    """Titles like a title of these words (see `words`). On SQLite, only the index's `first` best (all of
    them when None), and only the tenant's; the caller keeps PostgreSQL's search to the tenant."""
    if dialect != "sqlite":
        return trigram_match(sa.literal(" ".join(query_words), sa.Text), sa.literal(containing(query_words), sa.Text))
    index = sa.table(SQLITE_TABLE, sa.column("rowid"), sa.column(SQLITE_TABLE))
    hidden = index.c[SQLITE_TABLE]  # FTS5's column named after its table stands for the whole row
    # The tenant's column matches every row alike: only the title counts.
    rank = sa.func.bm25(hidden, 1.0, 0.0)
    best = (select(index.c.rowid.label("goal_id"), rank.label("rank"))
            .where(hidden.op("MATCH")(fts_query(tenant_id, query_words))).order_by(rank).limit(first).subquery("best"))
    return TitleMatch(join=(best, best.c.goal_id == Goal.id), condition=sa.true(), best_first=(best.c.rank, Goal.id))


def containing(query_words: Sequence[str]) -> str:
    """A LIKE pattern for titles holding these words in this order, whatever lies between them."""
    return "%" + "%".join(word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for word in query_words) + "%"


def trigram_match(text: sa.ColumnElement, pattern: sa.ColumnElement) -> TitleMatch:
    """PostgreSQL's match for a query's words (`text`, joined by spaces) and the pattern `containing` them:
    literals, or columns (to search for many goals in one statement). A title is alike as a whole (its
    trigrams), or holds every word of a shorter query; both read the trigram index, and the titles holding
    every word come first."""
    similarity = sa.func.similarity(Goal.title, text)
    holds_every_word = Goal.title.ilike(pattern)
    return TitleMatch(join=None, condition=sa.or_(Goal.title.op("%")(text), holds_every_word),
                      best_first=(holds_every_word.desc(), similarity.desc(), Goal.id))
