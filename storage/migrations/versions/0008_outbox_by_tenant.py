"""The outbox read by tenant: each tenant's due messages, oldest first, straight from an index

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_outbox_message_tenant_due', 'outbox_message', ['platform', 'state', 'tenant_id', 'id'])


def downgrade() -> None:
    op.drop_index('ix_outbox_message_tenant_due', table_name='outbox_message')
