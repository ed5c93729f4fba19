"""Teams conversation references, for messages sent at any time

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('teams_conversation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.String(length=200), nullable=False),
    sa.Column('aad_object_id', sa.String(length=100), nullable=True),
    sa.Column('conversation_id', sa.String(length=400), nullable=False),
    sa.Column('reference', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_teams_conversation_person_id_person')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_teams_conversation_tenant_id_tenant')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teams_conversation')),
    sa.UniqueConstraint('tenant_id', 'user_id', name='uq_teams_conversation_tenant_user')
    )
    op.create_index(op.f('ix_teams_conversation_person_id'), 'teams_conversation', ['person_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_teams_conversation_person_id'), table_name='teams_conversation')
    op.drop_table('teams_conversation')
