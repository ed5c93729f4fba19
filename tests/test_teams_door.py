"""The Teams door under real traffic: the token is checked before the body is parsed; malformed activities
get a 4xx, one warning line and no traceback; a burst from one person is answered exactly once each."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from storage.models import Goal, InboundDelivery
from tests import raw_http
from tests.fake_teams import APP_ID
from tests.served import count, no_tracebacks
from tests.teams_harness import TeamsHarness, fake, teams  # noqa: F401 - fake and teams are fixtures

DEEP = "[" * 5000 + "]" * 5000


@pytest.fixture
async def secured(db, fake, org):
    harness = TeamsHarness(db, fake, GOALBOT_TEAMS_INSECURE_LOCAL="", MICROSOFT_APP_ID=APP_ID,
                           MICROSOFT_APP_PASSWORD="not-used-here", GOALBOT_TEAMS_OPENID_METADATA_URL=fake.metadata_url)
    await harness.start()
    yield harness
    await harness.close()


async def raw_post(harness, body: bytes, token: str | None = None) -> int:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    status, _ = await raw_http.send(harness.url, [b"".join(raw_http.request_bytes(harness.url, body, headers))])
    return status


async def test_deep_json_without_a_token_is_refused_before_it_is_parsed(secured, fake, caplog):
    caplog.set_level(logging.INFO)
    statuses = await asyncio.gather(*(raw_post(secured, DEEP.encode()) for _ in range(50)))
    assert statuses == [401] * 50
    no_tracebacks(caplog)
    assert fake.calls == []


async def test_deep_json_with_a_valid_token_is_refused_as_malformed(secured, fake, caplog):
    assert await raw_post(secured, DEEP.encode(), token=fake.token(fake.url)) == 400
    no_tracebacks(caplog)


async def test_a_token_for_another_service_url_is_refused_once_the_body_is_read(secured, fake, db):
    ana = secured.client("ana")
    body = json.dumps(ana.message("add Cut churn")).encode()
    assert await raw_post(secured, body, token=fake.token("https://elsewhere.example.com/")) == 401
    assert await count(db, InboundDelivery) == 0


def activity(harness, **changes) -> bytes:
    data = harness.client("ana").message("add Cut churn")
    for key, value in changes.items():
        if value is ...:
            data.pop(key, None)
        else:
            data[key] = value
    return json.dumps(data).encode()


MALFORMED = {
    "a JSON array": lambda h: b"[]",
    "JSON null": lambda h: b"null",
    "a JSON string": lambda h: b'"x"',
    "not JSON": lambda h: b"{nope",
    "JSON nested 5,000 deep": lambda h: DEEP.encode(),
    "an object nested 1,000 deep": lambda h: ('{"a":' * 1000 + "1" + "}" * 1000).encode(),
    "a conversation that is a string": lambda h: activity(h, conversation="x"),
    "a sender that is a list": lambda h: activity(h, **{"from": [1]}),
    "no conversation": lambda h: activity(h, conversation=...),
    "no sender": lambda h: activity(h, **{"from": ...}),
    "no service URL": lambda h: activity(h, serviceUrl=...),
    "no type": lambda h: activity(h, type=...),
    "a type that is a number": lambda h: activity(h, type=5),
    "entities that are a string": lambda h: activity(h, entities="x"),
    "an installation update without a conversation": lambda h: json.dumps(
        {k: v for k, v in h.client("ana").install().items() if k != "conversation"}).encode(),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_a_malformed_activity_gets_a_4xx_one_warning_and_changes_nothing(teams, fake, db, caplog, case):
    caplog.set_level(logging.INFO)
    status = await raw_post(teams, MALFORMED[case](teams))
    assert 400 <= status < 500
    await asyncio.sleep(0.2)
    no_tracebacks(caplog)
    assert any(r.levelno == logging.WARNING for r in caplog.records)
    assert fake.calls == [] and await count(db, InboundDelivery) == 0 and await count(db, Goal) == 0


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_a_malformed_activity_with_a_valid_token_is_refused_the_same_way(secured, fake, db, caplog, case):
    status = await raw_post(secured, MALFORMED[case](secured), token=fake.token(fake.url))
    assert 400 <= status < 500
    no_tracebacks(caplog)
    assert [c for c in fake.calls if "/v3/conversations" in c.path] == [] and await count(db, InboundDelivery) == 0


async def test_an_adaptive_card_invoke_without_a_value_is_answered_without_a_5xx(teams, caplog):
    ana = teams.client("ana")
    invoke = ana._base("invoke", name="adaptiveCard/action", value=None)
    status, body = await teams.post(invoke)
    assert status < 500, body
    no_tracebacks(caplog)


async def test_an_install_by_someone_teams_does_not_know_is_one_warning_not_an_incident(teams, fake, caplog):
    caplog.set_level(logging.INFO)
    stranger = teams.client("ana")
    stranger.member = type(stranger.member)("29:1ghost", "a0000000-0000-4000-8000-0000000000ff", "Ghost", "g@example.com")
    status, _ = await teams.post(stranger.members_added())
    assert status == 200
    await teams.teams.turns.background.drain(5)
    no_tracebacks(caplog)
    assert "incident" not in caplog.text


@pytest.fixture
async def paced(db, fake, org):
    """Leases short enough to run out many times over while answers wait for Teams' pace (sped up here)."""
    def prepare(harness) -> None:
        harness.teams.turns.inbox.lease = timedelta(seconds=2)
        harness.teams.turn_budget = 0.2
        harness.teams.sender.per_conversation = ((20, 1.0), (60, 3.0))

    harness = TeamsHarness(db, fake)
    await harness.start(prepare)
    yield harness
    await harness.close()


async def test_a_burst_from_one_person_is_answered_exactly_once_each(paced, fake, db):
    teams = paced
    ana = teams.client("ana")
    await teams.say(ana, "list")  # Ana is known from here on
    messages = [ana.message("list mine") for _ in range(200)]
    statuses = await asyncio.gather(*(teams.post(m) for m in messages))
    assert {status for status, _ in statuses} == {200}
    ids = {m["id"] for m in messages}

    def answered(f):
        return Counter(c.body.get("replyToId") for c in f.sent(ana.conversation) if c.body.get("replyToId") in ids)

    await teams.wait(lambda f: len(answered(f)) == 200, timeout=60)
    await asyncio.sleep(1.5)  # two more lease periods: nothing is run a second time
    assert set(answered(fake).values()) == {1}


@pytest.fixture
async def impatient(db, fake, org):
    harness = TeamsHarness(db, fake, GOALBOT_HEADER_TIMEOUT="0.6", GOALBOT_BODY_TIMEOUT="0.6")
    await harness.start()
    yield harness
    await harness.close()


async def test_a_slow_body_or_slow_headers_are_cut_off(impatient, fake, db):
    status, took = await raw_http.trickled(impatient.url, "/api/messages")
    assert status in (0, 408) and took < 5
    held = await raw_http.held_open(impatient.url, b"POST /api/messages HTTP/1.1\r\nHost: x\r\nX-Slow: ",
                                    every=0.1, limit=10)
    assert held < 3
    assert fake.calls == [] and await count(db, InboundDelivery) == 0
    # A genuine message in two pieces is still answered.
    ana = impatient.client("ana")
    message = ana.message("help")
    body = json.dumps(message).encode()
    head, payload = raw_http.request_bytes(impatient.url, body, {"Content-Type": "application/json"})
    status, _ = await raw_http.send(impatient.url, [head + payload[:100], payload[100:]], pause=0.05)
    assert status == 200
    await impatient.wait(lambda f: any(c.body.get("replyToId") == message["id"] for c in f.sent(ana.conversation)))
