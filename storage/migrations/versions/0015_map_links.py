"""Map links: each tenant's own key for signing the links that open the goal map, and the moment before
which a person's links no longer open it (they asked for their links to be revoked)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

import secrets

import sqlalchemy as sa
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tenant') as batch:
        batch.add_column(sa.Column('link_key', sa.String(length=64), nullable=True))
    tenant = sa.table('tenant', sa.column('id', sa.Integer), sa.column('link_key', sa.String))
    connection = op.get_bind()
    for (tenant_id,) in connection.execute(sa.select(tenant.c.id)).all():
        connection.execute(tenant.update().where(tenant.c.id == tenant_id).values(link_key=secrets.token_urlsafe(32)))
    with op.batch_alter_table('tenant') as batch:
        batch.alter_column('link_key', existing_type=sa.String(length=64), nullable=False)
    with op.batch_alter_table('person') as batch:
        batch.add_column(sa.Column('map_links_after', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('person') as batch:
        batch.drop_column('map_links_after')
    with op.batch_alter_table('tenant') as batch:
        batch.drop_column('link_key')
