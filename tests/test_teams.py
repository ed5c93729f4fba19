"""Teams over real HTTP: activities POSTed to /api/messages, answers read off a fake Bot Connector."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import select

from storage.models import Goal, Identity, InboundDelivery, OutboxMessage, Person, TeamsConversation
from tests.fake_teams import APP_ID, TENANT, card_of, submit_data
from tests.teams_harness import PEOPLE, TeamsHarness, started_fake_connector, text


@pytest.fixture
def fake():
    connector = started_fake_connector()
    yield connector
    connector.stop()


@pytest.fixture
async def teams(db, fake, org):
    harness = TeamsHarness(db, fake)
    await harness.start()
    yield harness
    await harness.close()


async def goal(db, number: int) -> Goal:
    async with db.transaction(write=False) as session:
        return (await session.execute(select(Goal).where(Goal.number == number))).scalar_one()


async def test_help_answers_with_a_card_of_the_commands(teams):
    [reply] = await teams.say(teams.client("ana"), "help")
    card = card_of(reply)
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.5"
    facts = [fact for element in card["body"] if element["type"] == "FactSet" for fact in element["facts"]]
    titles = " ".join(fact["title"] for fact in facts)
    for verb in ("add", "list", "show", "tree", "approve", "return", "progress", "kudos", "checkin"):
        assert f"goals {verb}" in titles.replace("\\", "") or verb in titles, verb
    assert reply.body["summary"] == "goalbot commands"


async def test_a_new_user_is_matched_to_their_person_by_email_or_upn_with_their_time_zone(teams, fake, db):
    # Ana's Teams email differs in case from the org chart; her user principal name matches exactly.
    ana = teams.client("ana", timezone="America/Sao_Paulo")
    [reply] = await teams.say(ana, "list")
    assert "⚠️" not in text(reply)
    async with db.transaction(write=False) as session:
        person = (await session.execute(select(Person).where(Person.email == "ana@example.com"))).scalar_one()
        identity = (await session.execute(select(Identity).where(Identity.platform == "teams"))).scalar_one()
        stored = (await session.execute(select(TeamsConversation))).scalar_one()
        people = (await session.execute(select(sa.func.count()).select_from(Person))).scalar()
    assert identity.person_id == person.id and identity.external_id == PEOPLE["ana"].aad
    assert person.timezone == "America/Sao_Paulo"
    assert people == 7  # matched, not added
    assert stored.person_id == person.id and stored.conversation_id == ana.conversation
    assert stored.reference["serviceUrl"] == fake.url and stored.reference["user"]["id"] == PEOPLE["ana"].id
    # Known now: the next message needs no lookup.
    lookups = len([c for c in fake.calls if c.method == "GET"])
    await teams.say(ana, "list")
    assert len([c for c in fake.calls if c.method == "GET"]) == lookups


async def test_someone_not_in_the_org_chart_joins_as_a_member(teams, fake, db):
    from tests.fake_teams import Member

    stranger = Member("29:1zed", "a0000000-0000-4000-8000-0000000000ff", "Zed Stone", "zed@example.com")
    fake.add_member(stranger)
    client = teams.client("ana")
    client.member = stranger
    client.conversation = "a:1zed"
    [reply] = await teams.say(client, "add Learn Rust")
    assert "Added G-1" in text(reply) or "Proposed G-1" in text(reply)
    async with db.transaction(write=False) as session:
        zed = (await session.execute(select(Person).where(Person.email == "zed@example.com"))).scalar_one()
    assert zed.role == "member" and zed.name == "Zed Stone"


async def test_every_command_of_the_language_works_as_text(teams, org, fake):
    await org.say("maya@example.com", "goals add Grow revenue 30% level:company")
    ana, bo, omar, ravi = (teams.client(name) for name in ("ana", "bo", "omar", "ravi"))
    await teams.say(ravi, "list")  # Ravi has used goalbot in Teams, so a mention finds him by his chat id
    steps = [
        (bo, "add Platform reliability level:team parent:G-1", "Proposed G-2"),
        (omar, "goals approve G-2", "Approved G-2"),
        (bo, "assign Halve p99 latency owner:@ana parent:G-2", "Assigned G-3"),
        (ana, "approve G-3", "Accepted G-3"),
        (ana, "add Write the runbook", "Proposed G-4"),
        (bo, "return G-4 needs a measure", "Returned G-4"),
        (ana, "goals add Cut churn", "Proposed G-5"),
        (bo, "approve G-5", "Approved G-5"),
        (ana, "link G-5 G-2", "now supports G-2 Platform reliability"),
        (ana, "unlink G-5", "G-5"),
        (ana, "progress G-5 40 at-risk waiting on legal", "40%"),
        (ana, "kr add G-3 p99 latency 400->200 ms", "Added key result G-3.1"),
        (ana, "kr G-3.1 300", "Updated G-3.1"),
        (ana, "milestone add G-3 Profile the hot path due:2027-02-01", "Added milestone 1"),
        (ana, "show G-3", "Halve p99 latency"),
        (ana, "tree G-1", "G-3"),
        (ana, "list team", "G-5"),
        (ana, "list @bo", "Bo Larsen"),
        (ana, "done G-5", "achieved"),
        (ana, "archive G-3", "archived"),
        (ana, "settings checkin friday 16:00 biweekly", "Friday 16:00, biweekly"),
        (ana, "away until 2099-01-05", "No check-ins until 2099-01-05"),
        (ana, "help progress", "goals progress G-12"),
        (ana, "frobnicate", "I don't know the command"),
    ]
    for client, line, expected in steps:
        [reply] = await teams.say(client, line)
        shown = text(reply).replace("\\", "")
        assert expected in shown, (line, shown)
    # A real @mention: Teams sends <at>Name</at> and a mention entity.
    [reply] = await teams.send(ana, ana.mentioning(f"kudos <at>{PEOPLE['ravi'].name}</at> thanks for the review",
                                                   PEOPLE["ravi"]))
    assert "Kudos to Ravi Patel" in text(reply)
    [reply] = await teams.send(ana, ana.mentioning(f"list <at>{PEOPLE['lena'].name}</at>", PEOPLE["lena"]))
    assert "Lena Vogel" in text(reply)  # never used goalbot in Teams: matched by name


async def test_a_line_starting_with_a_goal_reference_is_a_check_in_answer(teams, org):
    ana = teams.client("ana")
    await org.say("ana@example.com", "goals add Cut churn")
    await org.say("bo@example.com", "goals approve G-1")
    [reply] = await teams.say(ana, "G-1 60% at-risk waiting on legal")
    assert "your check-in" in text(reply)
    assert (await goal(org.db, 1)).progress == 60
