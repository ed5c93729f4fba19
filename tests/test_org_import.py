"""Importing the org chart: an idempotent upsert; any bad row rejects the whole file."""

import pytest
from sqlmodel import select

from bot.org import ImportRejected, import_people, read_csv
from bot.people import tenant_by_key
from storage.models import OrgUnit, Person
from tests.conftest import ORG_CSV

HEADER = "email,name,manager_email,department,team,role,timezone\n"


async def run_import(db, text):
    rows, ignored = read_csv(text)
    async with db.transaction() as session:
        tenant = await tenant_by_key(session, "default", create=True)
        report = await import_people(session, tenant, rows)
    report.ignored_columns = ignored
    return report


async def people(db):
    async with db.transaction(write=False) as session:
        return {p.email: p for p in (await session.execute(select(Person))).scalars()}


async def test_import_creates_people_units_and_leads_and_is_idempotent(db):
    report = await run_import(db, ORG_CSV)
    assert (report.created, report.updated, report.unchanged) == (7, 0, 0)
    assert report.units_created == 5  # company, Engineering, Platform, Sales, EMEA
    everyone = await people(db)
    assert everyone["ana@example.com"].manager_id == everyone["bo@example.com"].id
    assert everyone["ana@example.com"].timezone == "Europe/Lisbon"
    async with db.transaction(write=False) as session:
        units = {u.name: u for u in (await session.execute(select(OrgUnit))).scalars()}
    assert units["Platform"].lead_id == everyone["bo@example.com"].id
    assert units["Engineering"].lead_id == everyone["omar@example.com"].id
    assert units["Platform"].parent_id == units["Engineering"].id
    # Nina is EMEA's only member and reports outside it, so she is its lead.
    assert units["EMEA"].lead_id == everyone["nina@example.com"].id

    again = await run_import(db, ORG_CSV)
    assert (again.created, again.updated, again.unchanged, again.units_created) == (0, 0, 7, 0)

    moved = ORG_CSV.replace("ravi@example.com,Ravi Patel,bo@example.com", "ravi@example.com,Ravi Patel,omar@example.com")
    third = await run_import(db, moved + "zoe@example.com,Zoe Clark,ravi@example.com,Engineering,Platform,,\n")
    assert (third.created, third.updated, third.unchanged) == (1, 1, 6)
    everyone = await people(db)
    assert everyone["ravi@example.com"].manager_id == everyone["omar@example.com"].id
    assert everyone["zoe@example.com"].role == "member" and everyone["zoe@example.com"].timezone == "UTC"


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        ("ana@example.com,Ana,ghost@example.com,,,member,UTC\n",
         "line 2: the manager ghost@example.com is not in the file or the org"),
        ("ana@example.com,Ana,,,,member,Mars/Olympus\n", "line 2: `Mars/Olympus` is not a time zone"),
        ("ana@example.com,Ana,,,,boss,UTC\n", "line 2: role `boss` is not one of member, manager, admin"),
        ("ana@example.com,Ana,,,,,\nbo@example.com,Bo,,,,,\nANA@example.com,Ana again,,,,,\n",
         "line 4: ana@example.com appears twice (first on line 2)"),
        ("not-an-email,Ana,,,,,\n", "line 2: `not-an-email` is not an email address"),
        ("ana@example.com,,,,,,\n", "line 2: the name is empty"),
        ("ana@example.com,Ana,bo@example.com,,,,\nbo@example.com,Bo,cy@example.com,,,,\ncy@example.com,Cy,ana@example.com,,,,\n",
         "managers go round in a loop: ana@example.com → bo@example.com → cy@example.com → ana@example.com"),
        ("ana@example.com,Ana,ana@example.com,,,,\n", "line 2: ana@example.com cannot be their own manager"),
    ],
)
async def test_a_bad_row_is_reported_with_its_line_and_nothing_is_applied(db, rows, problem):
    good = "maya@example.com,Maya,,,,admin,UTC\n"
    with pytest.raises(ImportRejected) as rejected:
        await run_import(db, HEADER + rows + good)
    assert any(problem in p for p in rejected.value.problems), rejected.value.problems
    assert await people(db) == {}


async def test_a_cycle_through_people_already_in_the_org_is_refused(db):
    await run_import(db, ORG_CSV)
    with pytest.raises(ImportRejected) as rejected:
        await run_import(db, HEADER + "maya@example.com,Maya Chen,ana@example.com,,,admin,\n")
    assert "managers go round in a loop" in rejected.value.problems[0]
    assert (await people(db))["maya@example.com"].manager_id is None


def test_a_file_without_the_needed_columns_is_refused():
    with pytest.raises(ImportRejected) as rejected:
        read_csv("mail,full name\nana@example.com,Ana\n")
    assert rejected.value.problems == ["line 1: the header needs the columns email, name, manager_email, department, team, role, timezone (missing: email, name)"]


async def test_extra_columns_are_named_and_ignored(db):
    report = await run_import(db, "email,name,employee_id\nana@example.com,Ana,E42\n")
    assert report.created == 1 and report.ignored_columns == ["employee_id"]
