"""Owner nudges: whether a person takes nudges about their unaligned or stale goals, and when each goal's
owner was last nudged about it; removed channel summaries are kept, so their numbers are not given again

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('person') as batch:
        batch.add_column(sa.Column('nudges_off', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('goal') as batch:
        batch.add_column(sa.Column('nudged_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('channel_summary') as batch:
        batch.add_column(sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('channel_summary') as batch:
        batch.drop_column('removed_at')
    with op.batch_alter_table('goal') as batch:
        batch.drop_column('nudged_at')
    with op.batch_alter_table('person') as batch:
        batch.drop_column('nudges_off')
