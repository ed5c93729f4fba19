"""Export for performance reviews: every table, as CSV files and as JSON, read back with the same counts
and references as the database holds; `--since`; one tenant only; an unknown tenant refused."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import date

import sqlalchemy as sa

from adapters.export import write
from bot.export import TABLES, tables
from storage.models import CheckIn, Goal, GoalEvent, KeyResult, Kudos, Milestone, Person

from tests.test_alignment import build


async def counts_in(db) -> dict[str, int]:
    async with db.transaction(write=False) as session:
        async def count(model) -> int:
            return (await session.execute(sa.select(sa.func.count()).select_from(model))).scalar_one()

        return {"goals": await count(Goal), "key_results": await count(KeyResult), "milestones": await count(Milestone),
                "check_ins": await count(CheckIn), "kudos": await count(Kudos), "history": await count(GoalEvent),
                "people": await count(Person)}


async def test_an_export_read_back_holds_what_the_database_holds(org, tmp_path):
    await build(org)
    await org.say("ana@example.com", "goals milestone add G-4 Draft the plan")
    await org.say("ana@example.com", "goals add =cmd|' /C calc'!A0")  # a title a spreadsheet would run
    async with org.db.transaction(write=False) as session:
        found = await tables(session, "default")
    expected = await counts_in(org.db)
    assert {name: len(rows) for name, rows in found.items()} == expected

    write(found, tmp_path / "csv", "csv")
    write(found, tmp_path / "goals.json", "json")
    as_json = json.loads((tmp_path / "goals.json").read_text())
    as_csv = {name: list(csv.DictReader((tmp_path / "csv" / f"{name}.csv").open(encoding="utf-8"))) for name in TABLES}
    for name in TABLES:
        assert len(as_json[name]) == len(as_csv[name]) == expected[name], name
    references = [row["reference"] for row in as_csv["goals"]]
    assert references == [f"G-{n}" for n in range(1, expected["goals"] + 1)]
    by_ref = {row["reference"]: row for row in as_csv["goals"]}
    assert by_ref["G-4"]["parent"] == "G-3" and by_ref["G-4"]["owner"] == "ana@example.com"
    assert by_ref["G-7"]["private"] == "True"  # an export is for admins: private goals are in it
    assert by_ref["G-11"]["title"].startswith("'=")  # kept as text, not a formula
    assert as_json["goals"][10]["title"].startswith("=")  # JSON keeps what was typed
    assert [row["reference"] for row in as_csv["key_results"]] == ["G-4.1"]
    assert as_csv["milestones"][0]["goal"] == "G-4"
    assert {row["goal"] for row in as_csv["history"]} <= set(references)
    people = {row["email"]: row for row in as_csv["people"]}
    assert people["ana@example.com"]["manager"] == "bo@example.com"
    assert (people["ana@example.com"]["goals"], people["ana@example.com"]["achieved"]) == ("3", "1")
    assert (people["ana@example.com"]["check_ins_answered"], people["ana@example.com"]["check_ins_asked"]) == ("1", "1")
    assert people["ana@example.com"]["kudos_received"] == "1"


async def test_since_keeps_what_changed_from_that_day_and_other_tenants_stay_out(org):
    await build(org)  # built in the week before Monday 2027-03-08; the week's news on Sunday the 7th
    await org.say("maya@example.com", "goals add Second company goal level:company")  # made today, before
    async with org.db.transaction() as session:
        from bot.people import tenant_by_key

        other = await tenant_by_key(session, "other", create=True)
        session.add(Person(tenant_id=other.id, email="zed@other.example", name="Zed"))
    async with org.db.transaction(write=False) as session:
        everything = await tables(session, "default", since=date(2020, 1, 1))
        news = await tables(session, "default", since=date(2027, 3, 6))
        theirs = await tables(session, "other")
    assert len(everything["goals"]) == 11
    # Changed on the 7th: Ana's G-4 (a key result, a check-in) and G-10 (done), Ravi's G-6 and G-7, and the
    # goals their progress rolled up to; not G-5, G-8 or G-9, untouched since the 5th, nor today's G-11.
    changed = {row["reference"] for row in news["goals"]}
    assert {"G-4", "G-6", "G-7", "G-10"} <= changed and not changed & {"G-5", "G-8", "G-9", "G-11"}
    assert [row["reference"] for row in news["key_results"]] == ["G-4.1"]
    assert len(news["people"]) == 7  # people are all there; their figures count what is kept
    assert {row["email"]: row["goals"] for row in news["people"]}["ana@example.com"] == 2
    assert [row["email"] for row in theirs["people"]] == ["zed@other.example"] and theirs["goals"] == []


def test_the_command_writes_the_files_and_refuses_what_it_cannot_do(tmp_path):
    env = {**os.environ, "GOALBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'goalbot.db'}"}

    def goalbot(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "adapters.cli", *args], capture_output=True, text=True,
                              cwd=tmp_path, env=env, timeout=120, check=False)

    assert goalbot("console", "--demo", "--as", "maya@example.com").returncode == 0
    done = goalbot("export", "--format", "csv", "--out", "review")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Exported 32 goals, ") and "40 people to review/." in done.stdout
    assert sorted(path.name for path in (tmp_path / "review").iterdir()) == sorted(f"{name}.csv" for name in TABLES)
    done = goalbot("export", "--format", "json", "--out", "review.json", "--since", "2027-01-31")
    assert done.returncode == 0 and set(json.loads((tmp_path / "review.json").read_text())) == set(TABLES)
    refused = goalbot("export", "--format", "csv", "--out", "x", "--tenant", "nobody")
    assert refused.returncode != 0 and "There is no tenant 'nobody'." in refused.stderr
    refused = goalbot("export", "--format", "csv", "--out", "x", "--since", "31/01/2027")
    assert refused.returncode != 0 and "is not a date; write it like 2027-01-31" in refused.stderr
    assert not (tmp_path / "x").exists()
    refused = goalbot("export", "--format", "csv", "--out", "review.json")  # a file already
    assert refused.returncode != 0 and "review.json is a file; CSV is written as a folder of files" in refused.stderr
    assert "Traceback" not in refused.stderr
    # The database: a plain file name is an SQLite file; a malformed URL is one line, without its password.
    done = goalbot("console", "--demo", "--as", "maya@example.com", "--database-url", "plain.db")
    assert done.returncode == 0 and (tmp_path / "plain.db").is_file(), done.stderr
    refused = goalbot("export", "--format", "json", "--out", "o.json", "--database-url", "no/such/folder/x.db")
    assert refused.returncode == 1 and "Could not open the database" in refused.stderr and "Traceback" not in refused.stderr
    refused = goalbot("export", "--format", "json", "--out", "o.json", "--database-url", "postgresql://u:hunter2@:::x")
    assert refused.returncode != 0 and "is not a database URL; give a file name like goalbot.db" in refused.stderr
    assert "hunter2" not in refused.stderr and "Traceback" not in refused.stderr
    refused = goalbot("export", "--format", "json", "--out", "review")  # a folder already
    assert refused.returncode != 0 and "review is a folder; JSON is written as one file" in refused.stderr
    assert "Traceback" not in refused.stderr
