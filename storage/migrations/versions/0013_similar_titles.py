"""Similar titles: a text index over goal titles on SQLite (FTS5; PostgreSQL's is 0014's), the
likely duplicates found with it, when each goal's look-alikes were looked for, and each tenant's words too
common in its titles to search by

On SQLite the index is an FTS5 table over the goal table, kept in step by triggers. A later migration that
rebuilds the goal table on SQLite (batch mode copies it) drops those triggers and must make them again.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = {
    'goal_title_search_insert': """
        CREATE TRIGGER goal_title_search_insert AFTER INSERT ON goal BEGIN
            INSERT INTO goal_title_search (rowid, title, tenant_id) VALUES (new.id, new.title, new.tenant_id);
        END""",
    'goal_title_search_update': """
        CREATE TRIGGER goal_title_search_update AFTER UPDATE OF title, tenant_id ON goal BEGIN
            INSERT INTO goal_title_search (goal_title_search, rowid, title, tenant_id)
                VALUES ('delete', old.id, old.title, old.tenant_id);
            INSERT INTO goal_title_search (rowid, title, tenant_id) VALUES (new.id, new.title, new.tenant_id);
        END""",
    'goal_title_search_delete': """
        CREATE TRIGGER goal_title_search_delete AFTER DELETE ON goal BEGIN
            INSERT INTO goal_title_search (goal_title_search, rowid, title, tenant_id)
                VALUES ('delete', old.id, old.title, old.tenant_id);
        END""",
}


def upgrade() -> None:
    with op.batch_alter_table('tenant') as batch:
        batch.add_column(sa.Column('common_title_words', sa.JSON(), server_default='[]', nullable=False))
        batch.add_column(sa.Column('title_words_counted_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('goal') as batch:
        batch.add_column(sa.Column('likeness_checked_at', sa.DateTime(timezone=True), nullable=True))
        batch.create_index(batch.f('ix_goal_likeness_checked_at'), ['likeness_checked_at'], unique=False)
    op.create_table(
        'goal_likeness',
        sa.Column('goal_id', sa.Integer(), nullable=False),
        sa.Column('other_id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('score', sa.Float(), nullable=False),
        sa.Column('found_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['goal_id'], ['goal.id'], name=op.f('fk_goal_likeness_goal_id_goal'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['other_id'], ['goal.id'], name=op.f('fk_goal_likeness_other_id_goal'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_goal_likeness_tenant_id_tenant')),
        sa.PrimaryKeyConstraint('goal_id', 'other_id', name=op.f('pk_goal_likeness')),
    )
    op.create_index('ix_goal_likeness_other_id', 'goal_likeness', ['other_id'], unique=False)
    op.create_index('ix_goal_likeness_tenant', 'goal_likeness', ['tenant_id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        # This once made a trigram index (and the pg_trgm extension) that 0014 replaces: a database
        # upgraded since never needs the extension.
        return
    # The tenant is a column of the index, so a search reads only its tenant's titles.
    op.execute("CREATE VIRTUAL TABLE goal_title_search USING fts5("
               "title, tenant_id, content='goal', content_rowid='id', tokenize='porter unicode61')")
    for trigger in SQLITE_TRIGGERS.values():
        op.execute(trigger)
    op.execute("INSERT INTO goal_title_search (goal_title_search) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP INDEX IF EXISTS ix_goal_title_trgm')  # made by this migration before 0014 replaced it
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f'DROP TRIGGER {name}')
        op.execute('DROP TABLE goal_title_search')
    op.drop_index('ix_goal_likeness_tenant', table_name='goal_likeness')
    op.drop_index('ix_goal_likeness_other_id', table_name='goal_likeness')
    op.drop_table('goal_likeness')
    with op.batch_alter_table('goal') as batch:
        batch.drop_index(batch.f('ix_goal_likeness_checked_at'))
        batch.drop_column('likeness_checked_at')
    with op.batch_alter_table('tenant') as batch:
        batch.drop_column('title_words_counted_at')
        batch.drop_column('common_title_words')
