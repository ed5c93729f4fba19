"""Channel summaries: the channels goalbot knows (Teams channels of the teams it is in, Slack channels named
to it) and each channel's periodic summary of an org unit's goals

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'chat_channel',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('platform', sa.String(length=20), nullable=False),
        sa.Column('channel_id', sa.String(length=200), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('team_id', sa.String(length=200), nullable=True),
        sa.Column('team_name', sa.String(length=200), nullable=True),
        sa.Column('reference', sa.JSON(), nullable=True),
        sa.Column('present', sa.Boolean(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('tenant_id', 'platform', 'channel_id', name='uq_chat_channel_platform_channel'),
    )
    op.create_table(
        'channel_summary',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('platform', sa.String(length=20), nullable=False),
        sa.Column('channel_id', sa.String(length=200), nullable=False),
        sa.Column('channel_name', sa.String(length=200), nullable=False),
        sa.Column('org_unit_id', sa.Integer(), nullable=True),
        sa.Column('cadence', sa.String(length=20), nullable=False),
        sa.Column('weekday', sa.Integer(), nullable=False),
        sa.Column('at', sa.String(length=5), nullable=False),
        sa.Column('timezone', sa.String(length=64), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('next_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id']),
        sa.ForeignKeyConstraint(['org_unit_id'], ['org_unit.id']),
        sa.ForeignKeyConstraint(['created_by_id'], ['person.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('tenant_id', 'number', name='uq_channel_summary_tenant_number'),
    )
    op.create_index(op.f('ix_channel_summary_next_at'), 'channel_summary', ['next_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_channel_summary_next_at'), table_name='channel_summary')
    op.drop_table('channel_summary')
    op.drop_table('chat_channel')
