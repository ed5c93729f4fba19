"""Data requests: everything goalbot holds about a person (export), and their erasure, which removes who
they are and keeps the organisation's record whole under a placeholder."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sqlmodel import select

from bot import privacy
from storage.models import CheckIn, Goal, Identity, OrgUnit, OutboxMessage, Person

from tests.conftest import ORG_CSV


async def ana_busy(org) -> None:
    await org.say("ana@example.com", "goals add Cut churn due:2099-06-30")
    await org.say("bo@example.com", "goals approve G-1")
    await org.say("ana@example.com", "goals kr add G-1 Churn 5->3 %")
    await org.say("ana@example.com", "goals kudos @ravi thanks for the review")
    await org.say("ravi@example.com", "goals kudos @ana the alerts are quiet now")
    await org.say("ana@example.com", "checkin G-1 note: waiting on legal")
    await org.say("ravi@example.com", "goals add Write runbooks")


async def test_an_export_holds_everything_about_the_person_and_nothing_of_others(org):
    await ana_busy(org)
    async with org.db.transaction(write=False) as session:
        document = await privacy.export(session, "default", "ANA@example.com")
    assert document["person"]["email"] == "ana@example.com" and document["person"]["name"] == "Ana Silva"
    assert [goal["title"] for goal in document["goal"]] == ["Cut churn"]  # Ravi's goal is not hers
    assert [kr["metric"] for kr in document["key_result"]] == ["Churn"]
    assert {k["message"] for k in document["kudos"]} == {"thanks for the review", "the alerts are quiet now"}
    assert [c["answer"] for c in document["check_in"]] == ["G-1 note: waiting on legal"]
    assert {e["action"] for e in document["goal_event"]} >= {"proposed", "key result added"}
    assert document["identity"][0]["external_id"] == "ana@example.com"
    json.dumps(document)  # JSON as it is


async def test_erasing_removes_who_they_are_and_keeps_the_record_under_a_placeholder(org):
    await ana_busy(org)
    await org.say("bo@example.com", "goals add Reliable platform level:team")  # waits for Omar: a message owed to him
    async with org.db.transaction() as session:
        await privacy.erase(session, "default", "bo@example.com")
    async with org.db.transaction(write=False) as session:
        bo = (await session.execute(select(Person).where(Person.name == privacy.PLACEHOLDER))).scalar_one()
        assert bo.email.endswith("@erased.invalid") and bo.checkins_off and bo.digests_off
        assert (await session.execute(select(Identity).where(Identity.person_id == bo.id))).first() is None
        assert (await session.execute(select(OutboxMessage).where(OutboxMessage.person_id == bo.id))).first() is None
        ana = (await session.execute(select(Person).where(Person.email == "ana@example.com"))).scalar_one()
        omar = (await session.execute(select(Person).where(Person.email == "omar@example.com"))).scalar_one()
        assert ana.manager_id == omar.id  # Bo's reports report to his manager now
        platform = (await session.execute(select(OrgUnit).where(OrgUnit.name == "Platform"))).scalar_one()
        assert platform.lead_id is None
        assert (await session.execute(select(Goal).where(Goal.number == 1))).scalar_one().approved_by_id == bo.id
    shown = await org.say("ana@example.com", "goals show G-1")
    assert "Erased person: approved" in shown and "Bo Larsen" not in shown, shown
    async with org.db.transaction() as session:
        await privacy.erase(session, "default", "ana@example.com")
    async with org.db.transaction(write=False) as session:
        assert (await session.execute(select(CheckIn))).scalars().all() == []  # her answers went with her
        assert (await session.execute(select(Goal).where(Goal.number == 1))).scalar_one().title == "Cut churn"


async def test_in_chat_only_admins_ask_and_an_erasure_is_confirmed_first(org):
    await ana_busy(org)
    assert (await org.say("bo@example.com", "goals admin person export ana@example.com")).startswith("Only admins")
    shown = await org.say("maya@example.com", "goals admin person export ana@example.com")
    assert shown.startswith("What goalbot holds about ana@example.com") and "kudos" in shown
    asked = await org.say("maya@example.com", "goals admin person erase ana@example.com")
    assert "It cannot be undone. Say goals admin person erase ana@example.com confirm." in asked
    assert "Ana Silva" in await org.say("bo@example.com", "goals show G-1")  # nothing erased yet
    assert "Erased ana@example.com" in await org.say("maya@example.com", "goals admin person erase ana@example.com confirm")
    assert "Ana Silva" not in await org.say("bo@example.com", "goals show G-1")
    assert "Nobody in default has the email ana@example.com" in await org.say(
        "maya@example.com", "goals admin person export ana@example.com")
    assert "You cannot erase yourself" in await org.say("maya@example.com", "goals admin person erase maya@example.com confirm")


def test_the_command_line_exports_and_erases_only_when_told(tmp_path):
    env = {**os.environ, "GOALBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'goalbot.db'}"}

    def goalbot(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "adapters.cli", *args], input=stdin, capture_output=True,
                              text=True, cwd=tmp_path, env=env, timeout=120, check=False)

    (tmp_path / "people.csv").write_text(ORG_CSV)
    assert goalbot("org", "import", "people.csv").returncode == 0
    assert goalbot("console", "--as", "ana@example.com", stdin="goals add Cut churn\n").returncode == 0
    done = goalbot("person", "export", "ana@example.com", "--out", "ana.json")
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "ana.json").read_text())["goal"][0]["title"] == "Cut churn"
    refused = goalbot("person", "erase", "ana@example.com")
    assert refused.returncode == 2 and "cannot be undone; say so with --yes" in refused.stderr
    assert goalbot("person", "erase", "nobody@example.com", "--yes").stderr.strip().endswith(
        "Nobody in default has the email nobody@example.com.")
    assert goalbot("person", "erase", "ana@example.com", "--yes").returncode == 0
    assert "Nobody in default has the email ana@example.com" in goalbot("person", "export", "ana@example.com").stderr
