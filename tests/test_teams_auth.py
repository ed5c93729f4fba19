"""Every request to /api/messages carries a Bot Framework token that goalbot verifies, or it is refused.

The fake connector publishes OpenID metadata and a signing key, so the tokens
here are real RS256 JWTs checked by botbuilder against those keys.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlmodel import select

from bot.people import tenant_by_key
from storage.models import Identity, InboundDelivery, Person
from tests.fake_teams import APP_ID
from tests.teams_harness import PEOPLE, TeamsHarness, fake  # noqa: F401 - fake is a fixture


@pytest.fixture
async def secured(db, fake, org):
    harness = TeamsHarness(
        db, fake, GOALBOT_TEAMS_INSECURE_LOCAL="", MICROSOFT_APP_ID=APP_ID, MICROSOFT_APP_PASSWORD="not-used-here",
        GOALBOT_TEAMS_OPENID_METADATA_URL=fake.metadata_url,
    )
    await harness.start()
    # Ana has used goalbot in Teams before, so answering her search needs no call back to Teams.
    async with db.transaction(write=True) as session:
        tenant = await tenant_by_key(session, "default")
        ana = (await session.execute(select(Person).where(Person.email == "ana@example.com"))).scalar_one()
        session.add(Identity(tenant_id=tenant.id, person_id=ana.id, platform="teams", external_id=PEOPLE["ana"].aad))
    await org.say("maya@example.com", "goals add Grow revenue 30% level:company")
    yield harness
    await harness.close()


async def deliveries(db) -> int:
    async with db.transaction(write=False) as session:
        return (await session.execute(select(sa.func.count()).select_from(InboundDelivery))).scalar()


async def test_a_valid_token_is_accepted(secured, fake):
    ana = secured.client("ana")
    status, body = await secured.post(ana.search("grow"), token=fake.token(fake.url))
    assert status == 200, body
    assert json.loads(body)["value"]["results"] == [{"title": "G-1 Grow revenue 30%", "value": "G-1"}]


@pytest.mark.parametrize("case", ["missing", "garbage", "other key", "wrong audience", "expired", "other service",
                                  "other issuer", "unknown key id"])
async def test_a_request_without_a_valid_token_is_refused_and_changes_nothing(secured, fake, case):
    ana = secured.client("ana")
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tokens = {
        "missing": None,
        "garbage": "not.a.jwt",
        "other key": fake.token(fake.url, key=stranger),
        "wrong audience": fake.token(fake.url, audience="another-bot"),
        "expired": fake.token(fake.url, expires_in=-600),
        "other service": fake.token("https://evil.example/"),
        "other issuer": fake.token(fake.url, issuer="https://evil.example"),
        "unknown key id": fake.token(fake.url, kid="nope"),
    }
    before = len(fake.calls)
    for activity in (ana.message("add Sneaky goal"), ana.search("grow"), ana.install()):
        status, body = await secured.post(activity, token=tokens[case])
        assert status == 401, (case, status, body)
    assert await deliveries(secured.db) == 0
    assert [c for c in fake.calls[before:] if c.path.startswith("/v3/")] == []  # nothing was sent to Teams
    async with secured.db.transaction(write=False) as session:
        assert (await session.execute(select(sa.func.count()).select_from(Person))).scalar() == 7


async def test_a_malformed_request_gets_a_clear_error(secured, fake):
    token = fake.token(fake.url)
    async with secured.http.post(secured.url, data="{not json", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}"}) as response:
        assert response.status == 400
    async with secured.http.post(secured.url, data="type=message", headers={
        "Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Bearer {token}"}) as response:
        assert response.status == 415


async def test_without_an_app_id_teams_is_off_unless_the_local_switch_is_given(db, fake):
    plain = TeamsHarness(db, fake, GOALBOT_TEAMS_INSECURE_LOCAL="")
    await plain.start()
    try:
        status, _ = await plain.post(plain.client("ana").message("help"))
        assert status == 404
        async with plain.http.get(str(plain.server.make_url("/healthz"))) as response:
            assert (await response.json())["platforms"] == []
    finally:
        await plain.close()
    local = TeamsHarness(db, fake)
    await local.start()
    try:
        async with local.http.get(str(local.server.make_url("/healthz"))) as response:
            assert (await response.json())["platforms"] == ["teams"]
    finally:
        await local.close()


async def test_a_single_tenant_app_ignores_other_tenants(db, fake, org):
    harness = TeamsHarness(
        db, fake, GOALBOT_TEAMS_INSECURE_LOCAL="", MICROSOFT_APP_ID=APP_ID, MICROSOFT_APP_PASSWORD="x",
        MICROSOFT_APP_TYPE="SingleTenant", GOALBOT_TEAMS_OPENID_METADATA_URL=fake.metadata_url,
    )
    await harness.start()
    try:
        other = harness.client("ana", tenant="0f0f0f0f-0000-4000-8000-000000000001")
        status, _ = await harness.post(other.message("add Sneaky"), token=fake.token(fake.url))
        assert status in (200, 201)
        assert await deliveries(db) == 0
    finally:
        await harness.close()
