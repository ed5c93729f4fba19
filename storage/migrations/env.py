"""Alembic environment: goalbot always hands it an open connection (see storage.migrate)."""

from alembic import context

from storage.models import metadata
from storage.titles import made_by_migrations_only

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run migrations through `goalbot db upgrade`, which supplies the connection.")



def include_object(obj, name, type_, reflected, compare_to):
    # slack_* tables belong to slack_sdk's installation store; its own definitions are checked in tests.
    # The title index is written in each database's own terms, by hand.
    return not (type_ == "table" and name.startswith("slack_")) and not made_by_migrations_only(name, type_)


context.configure(
    connection=connection,
    include_object=include_object,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
