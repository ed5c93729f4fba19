"""The org chart: import people, managers, departments and teams from an HRIS export (CSV).

An import checks every row first and applies nothing unless all of them are good.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot.people import company_unit
from bot.values import clean, quote, visible, zone
from storage.models import OrgUnit, Person, Tenant, utcnow
from storage.vocabulary import Role

COLUMNS = ("email", "name", "manager_email", "department", "team", "role", "timezone")
REQUIRED = ("email", "name")
EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
MAX_ERRORS = 20


@dataclass(frozen=True)
class PersonRow:
    line: int
    email: str
    name: str
    manager_email: str = ""
    department: str = ""
    team: str = ""
    role: str = "member"
    timezone: str = ""


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    units_created: int = 0
    ignored_columns: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"{self.created} people added, {self.updated} updated, {self.unchanged} unchanged; "
            f"{self.units_created} org units created."
        )
        if self.ignored_columns:
            text += f" Ignored columns: {', '.join(self.ignored_columns)}."
        return text


class ImportRejected(Exception):
    """The file has bad rows; nothing was applied. `problems` are lines like 'line 4: ...'."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def read_csv(text: str) -> tuple[list[PersonRow], list[str]]:
    """Parse the file into rows (with their line numbers) and the names of ignored columns."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip().lower() for name in (reader.fieldnames or [])]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise ImportRejected([f"line 1: the header needs the columns {', '.join(COLUMNS)} (missing: {', '.join(missing)})"])
    reader.fieldnames = header
    rows = []
    for record in reader:
        values = {key: " ".join(clean(record.get(key) or "", lines=False).split()) for key in COLUMNS}
        rows.append(
            PersonRow(
                line=reader.line_num,
                email=values["email"].lower(),
                name=values["name"],
                manager_email=values["manager_email"].lower(),
                department=values["department"],
                team=values["team"],
                role=values["role"].lower() or "member",
                timezone=zone(values["timezone"]) or values["timezone"],
            )
        )
    return rows, [name for name in header if name not in COLUMNS and name]


async def import_people(session: AsyncSession, tenant: Tenant, rows: list[PersonRow]) -> ImportReport:
    """Upsert people and their org units; raise ImportRejected (changing nothing) on any bad row."""
    existing = {
        p.email.lower(): p
        for p in (await session.execute(select(Person).where(Person.tenant_id == tenant.id))).scalars()
    }
    _check(rows, existing)
    report = ImportReport()
    company = await company_unit(session, tenant)
    if company is None:
        company = await company_unit(session, tenant, create=True)
        report.units_created += 1
    units = await _ensure_units(session, tenant, company, rows, report)
    by_email: dict[str, Person] = dict(existing)
    changed: set[str] = set()
    for row in rows:
        unit = units.get(("team", row.department, row.team)) or units.get(("department", row.department, "")) or company
        person = existing.get(row.email)
        values = {"name": row.name, "role": row.role, "org_unit_id": unit.id}
        if row.timezone:
            values["timezone"] = row.timezone
        if person is None:
            person = Person(tenant_id=tenant.id, email=row.email, **values)
            session.add(person)
            report.created += 1
            by_email[row.email] = person
        elif any(getattr(person, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(person, key, value)
            person.updated_at = utcnow()
            changed.add(row.email)
    await session.flush()
    for row in rows:
        person = by_email[row.email]
        manager_id = by_email[row.manager_email].id if row.manager_email else None
        if person.manager_id != manager_id:
            person.manager_id = manager_id
            person.updated_at = utcnow()
            if row.email in existing:
                changed.add(row.email)
    report.updated = len(changed)
    report.unchanged = sum(1 for row in rows if row.email in existing) - report.updated
    await session.flush()
    await _assign_leads(session, tenant)
    return report


def _check(rows: list[PersonRow], existing: dict[str, Person]) -> None:
    problems: list[str] = []
    first_line: dict[str, int] = {}
    for row in rows:
        if not EMAIL.match(row.email) or len(row.email) > 320:
            problems.append(f"line {row.line}: {quote(row.email or '(empty)')} is not an email address")
        elif row.email in first_line:
            problems.append(f"line {row.line}: {row.email} appears twice (first on line {first_line[row.email]})")
        else:
            first_line[row.email] = row.line
        if not visible(row.name):
            problems.append(f"line {row.line}: the name is empty")
        if len(row.name) > 200 or len(row.department) > 200 or len(row.team) > 200:
            problems.append(f"line {row.line}: names are limited to 200 characters")
        if row.role not in tuple(Role):
            problems.append(f"line {row.line}: role {quote(row.role)} is not one of {', '.join(Role)}")
        if row.timezone and zone(row.timezone) is None:
            problems.append(f"line {row.line}: {quote(row.timezone)} is not a time zone (try Europe/Paris)")
        if row.manager_email:
            if row.manager_email == row.email:
                problems.append(f"line {row.line}: {row.email} cannot be their own manager")
            elif row.manager_email not in first_line and row.manager_email not in existing and not any(
                r.email == row.manager_email for r in rows
            ):
                problems.append(f"line {row.line}: the manager {row.manager_email} is not in the file or the org")
    if not problems:
        problems.extend(_cycles(rows, existing))
    if problems:
        if len(problems) > MAX_ERRORS:
            problems = problems[:MAX_ERRORS] + [f"... and {len(problems) - MAX_ERRORS} more problems"]
        raise ImportRejected(problems)


def _cycles(rows: list[PersonRow], existing: dict[str, Person]) -> list[str]:
    """Manager loops in the org as it would be after the import."""
    by_id = {p.id: p.email.lower() for p in existing.values()}
    manager_of = {email: by_id.get(p.manager_id) for email, p in existing.items()}
    manager_of.update({row.email: row.manager_email or None for row in rows})
    line_of = {row.email: row.line for row in rows}
    problems, reported = [], set()
    for row in rows:
        path, email = [], row.email
        while email is not None and email not in path:
            path.append(email)
            email = manager_of.get(email)
        if email is not None:
            loop = path[path.index(email):]
            key = frozenset(loop)
            if key not in reported:
                reported.add(key)
                chain = " → ".join([*loop, email])
                problems.append(f"line {line_of.get(email, row.line)}: managers go round in a loop: {chain}")
    return problems


async def _ensure_units(
    session: AsyncSession, tenant: Tenant, company: OrgUnit, rows: list[PersonRow], report: ImportReport
) -> dict[tuple[str, str, str], OrgUnit]:
    units: dict[tuple[str, str, str], OrgUnit] = {}
    known = (await session.execute(select(OrgUnit).where(OrgUnit.tenant_id == tenant.id))).scalars().all()
    by_parent = {(u.kind, u.name.lower(), u.parent_id): u for u in known}

    async def ensure(kind: str, name: str, parent: OrgUnit) -> OrgUnit:
        unit = by_parent.get((kind, name.lower(), parent.id))
        if unit is None:
            unit = OrgUnit(tenant_id=tenant.id, name=name, kind=kind, parent_id=parent.id)
            session.add(unit)
            await session.flush()
            by_parent[(kind, name.lower(), parent.id)] = unit
            report.units_created += 1
        return unit

    for row in rows:
        department = company
        if row.department:
            department = await ensure("department", row.department, company)
            units[("department", row.department, "")] = department
        if row.team:
            units[("team", row.department, row.team)] = await ensure("team", row.team, department)
    return units


async def _assign_leads(session: AsyncSession, tenant: Tenant) -> None:
    """A unit's lead is its one member who reports outside it (or the manager its members share)."""
    units = (await session.execute(select(OrgUnit).where(OrgUnit.tenant_id == tenant.id))).scalars().all()
    people = (await session.execute(select(Person).where(Person.tenant_id == tenant.id))).scalars().all()
    children: dict[int | None, list[int]] = {}
    for unit in units:
        children.setdefault(unit.parent_id, []).append(unit.id)

    def subtree(unit_id: int) -> set[int]:
        found, stack = set(), [unit_id]
        while stack:
            current = stack.pop()
            found.add(current)
            stack.extend(children.get(current, []))
        return found

    for unit in units:
        inside = subtree(unit.id)
        members = [p for p in people if p.org_unit_id in inside]
        ids = {p.id for p in members}
        heads = [p for p in members if p.manager_id not in ids]
        lead = None
        if len(heads) == 1:
            lead = heads[0].id
        elif heads and len({p.manager_id for p in heads}) == 1 and heads[0].manager_id is not None:
            lead = heads[0].manager_id
        if unit.lead_id != lead and lead is not None:
            unit.lead_id = lead
    await session.flush()
