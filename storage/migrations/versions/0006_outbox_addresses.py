"""An outbox message goes to a person's direct message or to a channel

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_message') as batch:
        batch.add_column(sa.Column('to_channel', sa.String(length=200), nullable=True))
        batch.alter_column('person_id', existing_type=sa.Integer(), nullable=True)
        batch.create_check_constraint(op.f('ck_outbox_message_one_target'), '(person_id IS NULL) <> (to_channel IS NULL)')


def downgrade() -> None:
    op.execute("DELETE FROM outbox_message WHERE person_id IS NULL")  # channel messages have no person to keep
    with op.batch_alter_table('outbox_message') as batch:
        batch.drop_constraint('ck_outbox_message_one_target', type_='check')
        batch.alter_column('person_id', existing_type=sa.Integer(), nullable=False)
        batch.drop_column('to_channel')
