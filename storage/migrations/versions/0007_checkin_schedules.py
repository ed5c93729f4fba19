"""Scheduled check-ins: schedules by person, unit and tenant, holidays, periods, reminders, expiring messages

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tenant') as batch:
        batch.add_column(sa.Column('reminder_minutes', sa.Integer(), server_default='240', nullable=False))
    with op.batch_alter_table('person') as batch:
        batch.add_column(sa.Column('checkin_own', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column('checkins_off', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column('next_prompt_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('last_platform', sa.String(length=20), nullable=True))
        batch.create_index(batch.f('ix_person_next_prompt_at'), ['next_prompt_at'], unique=False)
    # Someone who had changed their schedule keeps it as their own.
    op.execute("UPDATE person SET checkin_own = (checkin_weekday <> 0 OR checkin_time <> '09:00' "
               "OR checkin_cadence <> 'weekly')")
    with op.batch_alter_table('outbox_message') as batch:
        batch.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('claimed_by', sa.String(length=100), nullable=True))
    op.create_table(
        'checkin_default',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('org_unit_id', sa.Integer(), nullable=True),
        sa.Column('weekday', sa.Integer(), nullable=False),
        sa.Column('at', sa.String(length=5), nullable=False),
        sa.Column('cadence', sa.String(length=20), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['org_unit_id'], ['org_unit.id'], name=op.f('fk_checkin_default_org_unit_id_org_unit')),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_checkin_default_tenant_id_tenant')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_checkin_default')),
        sa.UniqueConstraint('tenant_id', 'org_unit_id', name='uq_checkin_default_tenant_unit'),
    )
    op.create_table(
        'holiday',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_holiday_tenant_id_tenant')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_holiday')),
        sa.UniqueConstraint('tenant_id', 'day', name='uq_holiday_tenant_day'),
    )
    op.create_table(
        'checkin_period',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('period', sa.Date(), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('reason', sa.String(length=200), nullable=False),
        sa.Column('prompt_key', sa.String(length=200), nullable=True),
        sa.Column('remind_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('pending_answer', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_checkin_period_person_id_person')),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_checkin_period_tenant_id_tenant')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_checkin_period')),
        sa.UniqueConstraint('person_id', 'period', name='uq_checkin_period_person_period'),
    )
    op.create_index('ix_checkin_period_person_due', 'checkin_period', ['person_id', 'due_at'], unique=False)
    op.create_index(op.f('ix_checkin_period_remind_at'), 'checkin_period', ['remind_at'], unique=False)
    op.create_index(op.f('ix_checkin_period_tenant_id'), 'checkin_period', ['tenant_id'], unique=False)


def downgrade() -> None:
    op.drop_table('checkin_period')
    op.drop_table('holiday')
    op.drop_table('checkin_default')
    with op.batch_alter_table('outbox_message') as batch:
        batch.drop_column('claimed_by')
        batch.drop_column('expires_at')
    with op.batch_alter_table('person') as batch:
        batch.drop_index(batch.f('ix_person_next_prompt_at'))
        batch.drop_column('last_platform')
        batch.drop_column('next_prompt_at')
        batch.drop_column('checkins_off')
        batch.drop_column('checkin_own')
    with op.batch_alter_table('tenant') as batch:
        batch.drop_column('reminder_minutes')
