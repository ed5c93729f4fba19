"""inbound deliveries, the outbox, check-ins, and Slack installations

The three slack_* tables have the shape slack_sdk's SQLAlchemy installation and
OAuth state stores expect; tests compare them with the stores' own definitions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inbound_delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=20), nullable=False),
    sa.Column('delivery_key', sa.String(length=200), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_delivery')),
    sa.UniqueConstraint('platform', 'delivery_key', name='uq_inbound_delivery_platform_key')
    )
    op.create_index(op.f('ix_inbound_delivery_received_at'), 'inbound_delivery', ['received_at'], unique=False)

    op.create_table('outbox_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('goal_id', sa.Integer(), nullable=True),
    sa.Column('dedupe_key', sa.String(length=200), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('replaces_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('channel', sa.String(length=200), nullable=True),
    sa.Column('message_id', sa.String(length=200), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['goal_id'], ['goal.id'], name=op.f('fk_outbox_message_goal_id_goal')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_outbox_message_person_id_person')),
    sa.ForeignKeyConstraint(['replaces_id'], ['outbox_message.id'], name=op.f('fk_outbox_message_replaces_id_outbox_message')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_outbox_message_tenant_id_tenant')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_message')),
    sa.UniqueConstraint('tenant_id', 'dedupe_key', name='uq_outbox_message_tenant_key')
    )
    op.create_index('ix_outbox_message_due', 'outbox_message', ['platform', 'state', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_outbox_message_goal_id'), 'outbox_message', ['goal_id'], unique=False)
    op.create_index(op.f('ix_outbox_message_person_id'), 'outbox_message', ['person_id'], unique=False)

    op.create_table('check_in',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.Date(), nullable=False),
    sa.Column('answer', sa.Text(), server_default='', nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_check_in_person_id_person')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_check_in_tenant_id_tenant')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_check_in')),
    sa.UniqueConstraint('person_id', 'period', name='uq_check_in_person_period')
    )
    op.create_index(op.f('ix_check_in_tenant_id'), 'check_in', ['tenant_id'], unique=False)

    op.create_table('slack_installations',
    sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column('client_id', sa.String(32), nullable=False),
    sa.Column('app_id', sa.String(32), nullable=False),
    sa.Column('enterprise_id', sa.String(32)),
    sa.Column('enterprise_name', sa.String(200)),
    sa.Column('enterprise_url', sa.String(200)),
    sa.Column('team_id', sa.String(32)),
    sa.Column('team_name', sa.String(200)),
    sa.Column('bot_token', sa.String(200)),
    sa.Column('bot_id', sa.String(32)),
    sa.Column('bot_user_id', sa.String(32)),
    sa.Column('bot_scopes', sa.String(1000)),
    sa.Column('bot_refresh_token', sa.String(200)),
    sa.Column('bot_token_expires_at', sa.DateTime()),
    sa.Column('user_id', sa.String(32), nullable=False),
    sa.Column('user_token', sa.String(200)),
    sa.Column('user_scopes', sa.String(1000)),
    sa.Column('user_refresh_token', sa.String(200)),
    sa.Column('user_token_expires_at', sa.DateTime()),
    sa.Column('incoming_webhook_url', sa.String(200)),
    sa.Column('incoming_webhook_channel', sa.String(200)),
    sa.Column('incoming_webhook_channel_id', sa.String(200)),
    sa.Column('incoming_webhook_configuration_url', sa.String(200)),
    sa.Column('is_enterprise_install', sa.Boolean(), nullable=False),
    sa.Column('token_type', sa.String(32)),
    sa.Column('installed_at', sa.DateTime(), nullable=False),
    )
    op.create_index('slack_installations_idx', 'slack_installations',
                    ['client_id', 'enterprise_id', 'team_id', 'user_id', 'installed_at'])
    op.create_table('slack_bots',
    sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column('client_id', sa.String(32), nullable=False),
    sa.Column('app_id', sa.String(32), nullable=False),
    sa.Column('enterprise_id', sa.String(32)),
    sa.Column('enterprise_name', sa.String(200)),
    sa.Column('team_id', sa.String(32)),
    sa.Column('team_name', sa.String(200)),
    sa.Column('bot_token', sa.String(200)),
    sa.Column('bot_id', sa.String(32)),
    sa.Column('bot_user_id', sa.String(32)),
    sa.Column('bot_scopes', sa.String(1000)),
    sa.Column('bot_refresh_token', sa.String(200)),
    sa.Column('bot_token_expires_at', sa.DateTime()),
    sa.Column('is_enterprise_install', sa.Boolean(), nullable=False),
    sa.Column('installed_at', sa.DateTime(), nullable=False),
    )
    op.create_index('slack_bots_idx', 'slack_bots', ['client_id', 'enterprise_id', 'team_id', 'installed_at'])
    op.create_table('slack_oauth_states',
    sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column('state', sa.String(200), nullable=False),
    sa.Column('expire_at', sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('slack_oauth_states')
    op.drop_index('slack_bots_idx', table_name='slack_bots')
    op.drop_table('slack_bots')
    op.drop_index('slack_installations_idx', table_name='slack_installations')
    op.drop_table('slack_installations')
    op.drop_index(op.f('ix_check_in_tenant_id'), table_name='check_in')
    op.drop_table('check_in')
    op.drop_index(op.f('ix_outbox_message_person_id'), table_name='outbox_message')
    op.drop_index(op.f('ix_outbox_message_goal_id'), table_name='outbox_message')
    op.drop_index('ix_outbox_message_due', table_name='outbox_message')
    op.drop_table('outbox_message')
    op.drop_index(op.f('ix_inbound_delivery_received_at'), table_name='inbound_delivery')
    op.drop_table('inbound_delivery')
