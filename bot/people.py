"""Tenants and people: who is speaking, and who a mention names."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot import values
from bot.errors import NotFound, UserError
from bot.messages import Actor
from storage import repository
from storage.database import Database
from storage.models import Identity, OrgUnit, Person, Tenant, utcnow
from storage.vocabulary import Role, UnitKind

MENTION = re.compile(r"^<@([A-Za-z0-9._-]+)(?:\|[^>]*)?>$")


def valid_timezone(name: str) -> bool:
    """Whether `name` is a time zone goalbot accepts (an IANA region zone, or UTC)."""
    return values.zone(name) is not None


@dataclass
class Viewer:
    """The verified person acting, with what the core needs to authorize them."""

    person: Person
    tenant: Tenant
    platform: str
    _managers: dict[int, list[int]] = field(default_factory=dict)

    @property
    def id(self) -> int:
        assert self.person.id is not None
        return self.person.id

    @property
    def is_admin(self) -> bool:
        return self.person.role == Role.ADMIN

    async def managers_of(self, session: AsyncSession, person_id: int) -> list[int]:
        """A person's manager chain, nearest first, cached for this request."""
        if person_id not in self._managers:
            self._managers[person_id] = await repository.manager_ids(session, person_id)
        return self._managers[person_id]

    async def manages(self, session: AsyncSession, person_id: int) -> bool:
        """True when the viewer is above the person in the org chart."""
        return self.id in await self.managers_of(session, person_id)


async def tenant_by_key(session: AsyncSession, key: str, *, create: bool = False) -> Tenant | None:
    """The tenant with this key; created (named after it) when `create` is set and it does not exist."""
    tenant = (await session.execute(select(Tenant).where(Tenant.key == key))).scalar_one_or_none()
    if tenant is None and create:
        tenant = Tenant(key=key, name="Company" if key == "default" else key)
        session.add(tenant)
        await session.flush()
    return tenant


async def company_unit(session: AsyncSession, tenant: Tenant, *, create: bool = False) -> OrgUnit | None:
    """The tenant's company unit, the root of its org chart; created when `create` is set."""
    unit = (
        await session.execute(
            select(OrgUnit).where(OrgUnit.tenant_id == tenant.id, OrgUnit.kind == UnitKind.COMPANY).order_by(OrgUnit.id)
        )
    ).scalars().first()
    if unit is None and create:
        unit = OrgUnit(tenant_id=tenant.id, name=tenant.name, kind=UnitKind.COMPANY)
        session.add(unit)
        await session.flush()
    return unit


async def find_viewer(session: AsyncSession, actor: Actor) -> Viewer | None:
    """The viewer for a known actor, or None when they have never been seen (one query)."""
    found = (
        await session.execute(
            select(Person, Tenant)
            .join(Identity, Identity.person_id == Person.id)
            .join(Tenant, Tenant.id == Identity.tenant_id)
            .where(
                Tenant.key == actor.tenant,
                Identity.platform == actor.platform,
                Identity.external_id == actor.user_id,
            )
        )
    ).one_or_none()
    if found is None:
        return None
    person, tenant = found
    return Viewer(person=person, tenant=tenant, platform=actor.platform)


async def join(session: AsyncSession, actor: Actor) -> Viewer:
    """Match a first-time actor to a person by email (or another address they go by), or add them as a member.

    The first person in an empty tenant becomes its admin, so a new install can be set up.
    """
    tenant = await tenant_by_key(session, actor.tenant, create=True)
    assert tenant is not None
    person = None
    for address in (actor.email, *actor.aliases):
        if address and person is None:
            person = (
                await session.execute(
                    select(Person).where(Person.tenant_id == tenant.id, sa.func.lower(Person.email) == address.lower())
                )
            ).scalar_one_or_none()
    if person is None:
        anyone = (await session.execute(select(Person.id).where(Person.tenant_id == tenant.id).limit(1))).first()
        email = (actor.email or f"{actor.user_id}@{actor.platform}.invalid").lower()
        timezone = actor.timezone or "UTC"
        unit = await company_unit(session, tenant, create=True)
        person = Person(
            tenant_id=tenant.id,
            email=email,
            name=(actor.name or email.split("@")[0]).strip()[:200] or email,
            timezone=timezone,
            role=Role.MEMBER if anyone else "admin",
            org_unit_id=unit.id if unit else None,
        )
        session.add(person)
        await session.flush()
    session.add(Identity(tenant_id=tenant.id, person_id=person.id, platform=actor.platform, external_id=actor.user_id))
    await session.flush()
    return Viewer(person=person, tenant=tenant, platform=actor.platform)


async def refresh_profile(session: AsyncSession, viewer: Viewer, actor: Actor) -> None:
    """Keep the time zone the platform reports (the clock works out the next prompt again), and where they talk."""
    person = viewer.person
    if actor.timezone and actor.timezone != person.timezone:
        person.timezone = actor.timezone
        person.next_prompt_at = None
        person.updated_at = utcnow()
    if actor.platform in ("slack", "teams") and person.last_platform != actor.platform:
        person.last_platform = actor.platform


async def find_person(session: AsyncSession, viewer: Viewer, token: str) -> Person:
    """The person a mention names: <@platform-id>, @email, @local-part or @first-name."""
    tenant_id = viewer.tenant.id
    mention = MENTION.match(token)
    if mention:
        person = (
            await session.execute(
                select(Person)
                .join(Identity, Identity.person_id == Person.id)
                .where(
                    Identity.tenant_id == tenant_id,
                    Identity.platform == viewer.platform,
                    Identity.external_id == mention.group(1),
                )
            )
        ).scalar_one_or_none()
        if person is None:
            raise NotFound(f"I don't know {values.excerpt(token)} yet: they need to say hello to goalbot first.")
        return person
    handle = token.lstrip("@").strip().lower()
    if not handle:
        raise NotFound("Say who, like @ana or @ana@example.com.")
    if "@" in handle:
        condition = sa.func.lower(Person.email) == handle
    else:
        condition = sa.or_(
            sa.func.lower(Person.email).like(f"{_escape_like(handle)}@%", escape="\\"),
            sa.func.lower(Person.name) == handle.replace(".", " ").replace("_", " "),
            sa.func.lower(Person.name).like(f"{_escape_like(handle)} %", escape="\\"),
        )
    people = (
        await session.execute(select(Person).where(Person.tenant_id == tenant_id, condition).limit(6))
    ).scalars().all()
    exact = [p for p in people if p.email.lower() == handle or p.email.lower().split("@")[0] == handle]
    if len(exact) == 1:
        return exact[0]
    if len(people) == 1:
        return people[0]
    if not people:
        said = values.excerpt(handle)
        raise NotFound(f"I don't know anyone called @{said}. Try their email, like @{said}@example.com.")
    names = ", ".join(f"{p.name} ({p.email})" for p in people[:5])
    raise UserError(f"@{values.excerpt(handle)} could be {names}. Use their email to say which.")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def is_known(db: Database, tenant: str, platform: str, external_id: str) -> bool:
    """Whether someone is already a person here by their id on the platform (no profile lookup needed)."""
    async with db.transaction(write=False) as session:
        found = (
            await session.execute(
                select(Identity.id)
                .join(Tenant, Tenant.id == Identity.tenant_id)
                .where(Tenant.key == tenant, Identity.platform == platform, Identity.external_id == external_id)
            )
        ).first()
    return found is not None


async def emails_like(session: AsyncSession, tenant_key: str, email: str, *, limit: int = 3) -> tuple[bool, list[str]]:
    """Whether someone in the tenant has this email, and else the closest emails there (for a mistyped one)."""
    from rapidfuzz import fuzz, process

    tenant = await tenant_by_key(session, tenant_key)
    if tenant is None:
        return False, []
    emails = list((await session.execute(select(Person.email).where(Person.tenant_id == tenant.id))).scalars())
    wanted = email.strip().lower()
    if any(known.lower() == wanted for known in emails):
        return True, []
    if "@" not in wanted:  # `bo`: the emails whose name part it is
        named = [known for known in emails if known.lower().split("@")[0] == wanted]
        if named:
            return False, named[:limit]
    found = process.extract(wanted, emails, scorer=fuzz.ratio, limit=limit, score_cutoff=70)
    best = found[0][1] if found else 0
    return False, [match for match, score, _index in found if score >= best - 8]  # the close ones, not the also-rans
