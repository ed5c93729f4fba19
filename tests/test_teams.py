"""Teams over real HTTP: activities POSTed to /api/messages, answers read off a fake Bot Connector."""

from __future__ import annotations

import pytest

from tests.teams_harness import TeamsHarness, started_fake_connector, text


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


async def test_a_typed_command_is_answered_with_a_card(teams):
    ana = teams.client("ana")
    [reply] = await teams.say(ana, "help")
    assert "goalbot commands" in text(reply)
