"""Manager digests: each person's digest weekday, time, on or off, the instant of their next one, and
when what it shows last changed and when it was last redrawn

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('person') as batch:
        batch.add_column(sa.Column('digest_weekday', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('digest_time', sa.String(length=5), server_default='09:30', nullable=False))
        batch.add_column(sa.Column('digests_off', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column('next_digest_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('digest_changed_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('digest_redrawn_at', sa.DateTime(timezone=True), nullable=True))
        batch.create_index(batch.f('ix_person_digest_changed_at'), ['digest_changed_at'], unique=False)
        batch.create_index(batch.f('ix_person_next_digest_at'), ['next_digest_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('person') as batch:
        batch.drop_index(batch.f('ix_person_next_digest_at'))
        batch.drop_index(batch.f('ix_person_digest_changed_at'))
        batch.drop_column('digest_redrawn_at')
        batch.drop_column('digest_changed_at')
        batch.drop_column('next_digest_at')
        batch.drop_column('digests_off')
        batch.drop_column('digest_time')
        batch.drop_column('digest_weekday')
