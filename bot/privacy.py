"""A person's data, on request: everything goalbot holds about them (export), and their erasure.

The export reads every table that names the person (found from the schema's foreign keys to `person`,
so a new table is never left out). Erasure removes who they are (identities, chats, profile, their
check-in answers and the messages owed to them) and keeps the organisation's record consistent: the
person's row stays as a placeholder, so every goal, event and kudos that names them still holds, under
the placeholder's name.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, select

from bot.errors import NotFound
from bot.people import tenant_by_key
from storage.models import (
    CheckIn, CheckinPeriod, Identity, KeyResult, Milestone, OrgUnit, OutboxMessage, Person, TeamsConversation, Tenant,
    as_utc, utcnow,
)

PLACEHOLDER = "Erased person"
ERASED_DOMAIN = "erased.invalid"


def is_erased(person: Person) -> bool:
    """Whether the person was erased (their row stays, as a placeholder, under an address nobody has)."""
    return person.email.endswith("@" + ERASED_DOMAIN)


async def find(session: AsyncSession, tenant_key: str, email: str) -> tuple[Tenant, Person]:
    tenant = await tenant_by_key(session, tenant_key)
    if tenant is None:
        raise NotFound(f"There is no tenant {tenant_key!r}.")
    person = (await session.execute(select(Person).where(
        Person.tenant_id == tenant.id, sa.func.lower(Person.email) == email.strip().lower()))).scalar_one_or_none()
    if person is None:
        raise NotFound(f"Nobody in {tenant_key} has the email {email.strip()}.")
    return tenant, person


def _plain(value):
    if hasattr(value, "isoformat"):
        return as_utc(value).isoformat() if hasattr(value, "tzinfo") and hasattr(value, "hour") else value.isoformat()
    return value


def _naming_person() -> list[tuple[sa.Table, list[sa.Column]]]:
    """Every table with columns that name a person, and those columns."""
    person = Person.__table__
    found = []
    for table in SQLModel.metadata.sorted_tables:
        columns = [column for column in table.columns for key in column.foreign_keys if key.column.table is person]
        if columns:
            found.append((table, columns))
    return found


async def export(session: AsyncSession, tenant_key: str, email: str) -> dict:
    """Everything goalbot holds about a person, as one JSON-ready document keyed by table."""
    tenant, person = await find(session, tenant_key, email)
    document: dict = {"tenant": tenant.key, "exported_at": utcnow().isoformat(),
                      "person": {column.name: _plain(getattr(person, column.name)) for column in Person.__table__.columns}}
    for table, columns in _naming_person():
        if table is Person.__table__:
            continue
        rows = (await session.execute(select(table).where(sa.or_(*(column == person.id for column in columns)))
                                      .order_by(*table.primary_key.columns))).mappings().all()
        if rows:
            document[table.name] = [{key: _plain(value) for key, value in row.items()} for row in rows]
    owned = [row["id"] for row in document.get("goal", []) if row["owner_person_id"] == person.id]
    for model in (KeyResult, Milestone):  # the parts of the goals they own
        rows = (await session.execute(select(model.__table__).where(model.goal_id.in_(owned))
                                      .order_by(model.goal_id, model.position))).mappings().all()
        if rows:
            document[model.__tablename__] = [{key: _plain(value) for key, value in row.items()} for row in rows]
    return document


async def erase(session: AsyncSession, tenant_key: str, email: str) -> Person:
    """Remove who a person is, keeping the record of what they did under a placeholder name. Returns the
    placeholder."""
    tenant, person = await find(session, tenant_key, email)
    pid = person.id
    for model in (Identity, TeamsConversation, CheckIn):
        await session.execute(sa.delete(model).where(model.person_id == pid))
    await session.execute(sa.update(CheckinPeriod).where(CheckinPeriod.person_id == pid).values(pending_answer=None))
    owed = select(OutboxMessage.id).where(OutboxMessage.person_id == pid)
    await session.execute(sa.update(OutboxMessage).where(OutboxMessage.replaces_id.in_(owed)).values(replaces_id=None))
    await session.execute(sa.delete(OutboxMessage).where(OutboxMessage.person_id == pid))
    await session.execute(sa.update(OrgUnit).where(OrgUnit.lead_id == pid).values(lead_id=None))
    # Their reports now report to whoever they reported to.
    await session.execute(sa.update(Person).where(Person.manager_id == pid).values(manager_id=person.manager_id))
    person.email = f"erased-{pid}@{ERASED_DOMAIN}"
    person.name = PLACEHOLDER
    person.timezone = "UTC"
    person.checkins_off = person.digests_off = person.nudges_off = True
    person.next_prompt_at = person.next_digest_at = None
    person.last_platform = None
    person.updated_at = utcnow()
    await session.flush()
    return person
