"""Title words on PostgreSQL: each goal title's words, kept by a trigger, in place of the trigram index

The search for look-alike titles ranks the titles sharing a new title's words, the rarer words counting
more and shorter titles first, as SQLite's FTS5 does with bm25. The trigram index an earlier 0013 made
answered another question (how alike two titles are as a whole) and missed shorter titles held in a
longer one; it goes where it is. The pg_trgm extension it needed is left alone: other schemas of the
database may use it, and nothing of goalbot's does.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

# A title's words as the search reads them (storage.titles.words): lower case, split on anything that is
# not a letter or a digit, each once, with how many there are. The function finds its table in goalbot's
# schema whoever changes a goal (`SET search_path FROM CURRENT`: the path it was made with).
KEEP_WORDS = r"""
CREATE FUNCTION goal_title_words_keep() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM goal_title_word WHERE goal_id = OLD.id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO goal_title_word (tenant_id, word, goal_id, title_words)
        SELECT NEW.tenant_id, word, NEW.id, count(*) OVER ()
        FROM (SELECT DISTINCT left(word, 100) AS word
              FROM regexp_split_to_table(lower(NEW.title), '[^[:alnum:]]+') AS word WHERE word <> '') AS words;
    END IF;
    RETURN NULL;
END
$$"""


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('DROP INDEX IF EXISTS ix_goal_title_trgm')
    # Read by index only: the tenant's goals holding a word, with their titles' lengths.
    op.execute("""
        CREATE TABLE goal_title_word (
            tenant_id integer NOT NULL,
            word text NOT NULL,
            goal_id integer NOT NULL,
            title_words smallint NOT NULL,
            CONSTRAINT pk_goal_title_word PRIMARY KEY (tenant_id, word, goal_id) INCLUDE (title_words)
        )""")
    op.execute('CREATE INDEX ix_goal_title_word_goal ON goal_title_word (goal_id)')
    op.execute(KEEP_WORDS)
    op.execute('CREATE TRIGGER goal_title_words AFTER INSERT OR DELETE OR UPDATE OF title, tenant_id ON goal '
               'FOR EACH ROW EXECUTE FUNCTION goal_title_words_keep()')
    op.execute("""
        INSERT INTO goal_title_word (tenant_id, word, goal_id, title_words)
        SELECT tenant_id, word, id, count(*) OVER (PARTITION BY id)
        FROM (SELECT DISTINCT goal.tenant_id, goal.id, left(word, 100) AS word
              FROM goal, regexp_split_to_table(lower(goal.title), '[^[:alnum:]]+') AS word WHERE word <> '') AS words""")
    op.execute('ANALYZE goal_title_word')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('DROP TRIGGER goal_title_words ON goal')
    op.execute('DROP FUNCTION goal_title_words_keep()')
    op.execute('DROP TABLE goal_title_word')
