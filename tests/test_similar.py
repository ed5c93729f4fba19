"""Goals that look alike: one search over a text index in the database (FTS5 on SQLite, a trigger-kept
table of title words on PostgreSQL), ranked by how alike they are, for the hint on a new goal, the parents a nudge could suggest,
and the likely duplicates across teams a manager's digest shows, kept as pairs when a goal is made or by
the clock for goals that came in otherwise."""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import timedelta

import asyncpg

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import aliased
from sqlmodel import select

from bot import alignment, similar
from bot.alignment import Scope, ScopeKind
from bot.clock import run_round
from bot.people import tenant_by_key
from storage.models import Goal, GoalLikeness, OrgUnit, Person, utcnow

from tests.test_alignment import MONDAY, people


async def goals_titled(db, titles: list[str], *, tenant: str = "default", owner: str | None = None,
                       status: str = "active", looked_at: bool = True) -> list[int]:
    """Goals with these titles, inserted in bulk as an import would (`looked_at`: their look-alikes were
    looked for already); returns their numbers."""
    now = utcnow()
    async with db.transaction() as session:
        found = await tenant_by_key(session, tenant, create=True)
        owner_id = (await session.execute(select(Person.id).where(Person.email == owner))).scalar() if owner else None
        first = found.last_goal_number + 1
        await session.execute(sa.insert(Goal.__table__), [
            {"tenant_id": found.id, "number": first + n, "title": title, "description": "", "level": "individual",
             "owner_person_id": owner_id, "category": "business", "private": False, "status": status,
             "progress": 0.0, "manual_progress": 0.0, "note": "", "created_at": now, "updated_at": now,
             "likeness_checked_at": now if looked_at else None}
            for n, title in enumerate(titles)])
        found.last_goal_number = first + len(titles) - 1
    return list(range(first, first + len(titles)))


async def search(db, title: str, *, tenant: str = "default", **filters) -> list[str]:
    """What the search finds for a title, as "G-n title" lines, the likest first."""
    async with db.transaction(write=False) as session:
        found = await tenant_by_key(session, tenant)
        return [f"{match.ref} {match.title}" for match in await similar.look_alikes(
            session, found, title, limit=10, **filters)]


async def pairs(db) -> set[tuple[int, int]]:
    """The likely duplicates kept, by goal numbers."""
    async with db.transaction(write=False) as session:
        one, other = aliased(Goal), aliased(Goal)
        return set((await session.execute(
            select(one.number, other.number).select_from(GoalLikeness)
            .join(one, one.id == GoalLikeness.goal_id).join(other, other.id == GoalLikeness.other_id))).all())


async def test_the_likest_goal_is_found_among_a_thousand_that_share_its_words(org):
    # A thousand goals share three of its words, and the one it duplicates came last: a search that took
    # the first few hundred rows sharing a word would never see it.
    crowd = [f"Cut churn in EMEA for account {n}" for n in range(1000)]
    *_, planted = await goals_titled(org.db, [*crowd, "Cut churn of enterprise customers in EMEA"])
    reply = await org.say("ana@example.com", "goals add Cut churn of enterprise customers in EMEA by Q3")
    assert f"Looks like G-{planted} Cut churn of enterprise customers in EMEA." in reply, reply
    found = await search(org.db, "Cut the churn of enterprise customers in EMEA")
    assert found[0] == f"G-{planted} Cut churn of enterprise customers in EMEA" and len(found) == 2  # and Ana's


async def test_a_short_title_inside_a_longer_one_is_alike_both_ways(org):
    await goals_titled(org.db, ["Tune alerting", "Tune alerting for the payments platform in EMEA",
                                "Write the payments runbook"])
    assert await search(org.db, "Tune alerting") == ["G-1 Tune alerting", "G-2 Tune alerting for the payments platform in EMEA"]
    assert "G-1 Tune alerting" in await search(org.db, "Tune alerting for the payments platform")


async def test_a_private_goal_is_hinted_only_to_those_who_may_see_it(org):
    await org.say("ravi@example.com", "goals add Find a mentor for public speaking private")
    # Nina is in Sales: Ravi's private goal is not hers to see, nor to hear of.
    assert "Looks like" not in await org.say("nina@example.com", "goals add Find a mentor for public speaking")
    # Bo manages Ravi: he may see it, and is told.
    reply = await org.say("bo@example.com", "goals add Find a mentor for public speaking skills")
    assert "Looks like G-1 Find a mentor for public speaking, G-2 Find a mentor for public speaking." in reply, reply
    # What was found is kept whoever may see it: the digests of the managers above read it.
    assert await pairs(org.db) == {(1, 2), (1, 3), (2, 3)}


async def test_no_search_crosses_tenants(org):
    await goals_titled(org.db, ["Migrate billing to the new ledger"], tenant="slack:T0OTHER")
    assert "Looks like" not in await org.say("ana@example.com", "goals add Migrate billing to the new ledger")
    assert await search(org.db, "Migrate billing to the new ledger", tenant="slack:T0OTHER") == [
        "G-1 Migrate billing to the new ledger"]
    assert await pairs(org.db) == set()


async def test_a_renamed_or_deleted_goal_is_found_by_what_it_is_now(org):
    numbers = await goals_titled(org.db, ["Migrate the billing service to Kubernetes", "Hire two site reliability engineers"])
    assert await search(org.db, "Migrate billing service to Kubernetes") == ["G-1 Migrate the billing service to Kubernetes"]
    async with org.db.transaction() as session:
        await session.execute(sa.update(Goal).where(Goal.number == numbers[0]).values(title="Plan the summer offsite"))
    assert await search(org.db, "Migrate billing service to Kubernetes") == []
    assert await search(org.db, "Plan a summer offsite") == ["G-1 Plan the summer offsite"]
    async with org.db.transaction() as session:
        await session.execute(sa.delete(Goal).where(Goal.number == numbers[0]))
    assert await search(org.db, "Plan a summer offsite") == []
    assert await search(org.db, "Hire two site reliability engineers soon") == ["G-2 Hire two site reliability engineers"]
    if org.db.is_sqlite:
        async with org.db.transaction() as session:  # the index holds exactly the goal table's titles
            await session.execute(sa.text(
                "INSERT INTO goal_title_search (goal_title_search, rank) VALUES ('integrity-check', 1)"))


async def test_a_title_changed_by_another_program_is_searched_by_its_new_words(org):
    # An operator's fix with psql or sqlite3 (another connection, PostgreSQL's with its own search path)
    # keeps the index as goalbot's own changes do.
    await goals_titled(org.db, ["Migrate the billing service to Kubernetes"])
    url = make_url(org.db.url)
    if org.db.is_sqlite:
        with contextlib.closing(sqlite3.connect(url.database)) as conn, conn:
            conn.execute("UPDATE goal SET title = 'Plan the summer offsite' WHERE number = 1")
    else:
        schema = org.db.engine.dialect.identifier_preparer.quote(await current_schema(org.db))
        conn = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
        try:
            await conn.execute(f"UPDATE {schema}.goal SET title = 'Plan the summer offsite' WHERE number = 1")
        finally:
            await conn.close()
    assert await search(org.db, "Migrate billing service to Kubernetes") == []
    assert await search(org.db, "Plan a summer offsite") == ["G-1 Plan the summer offsite"]


async def current_schema(db) -> str:
    async with db.transaction(write=False) as session:
        return (await session.execute(sa.text("SELECT current_schema()"))).scalar_one()


async def test_a_one_word_title_is_not_like_every_title_holding_its_word(org):
    await goals_titled(org.db, ["Halve", "Halve paging incidents", "Hiring"])
    assert await search(org.db, "Halve paging incidents in the wizard") == ["G-2 Halve paging incidents"]
    assert await search(org.db, "Hiring") == ["G-3 Hiring"]  # all of its words: alike
    assert similar.score("Ship v2", "Ship v2 in EMEA") == 100 and similar.score("Halve", "Halve costs") == 0


NASTY_TITLES = [
    '"NEAR(churn alerts)" OR churn* -noise', "AND OR NOT", "title : tenant_id : 2", "^start -minus +plus",
    "(((unbalanced", "'; DROP TABLE goal; --", "100% of 50_000 \\ goals", "日本語の目標を達成する", "Ship 🚀 the rocket",
    "NEAR/2 churn", "{title tenant_id}: churn", "a.b.c d-e-f g:h",
]


async def test_a_title_full_of_search_syntax_is_only_words(org):
    numbers = await goals_titled(org.db, NASTY_TITLES)
    for number, title in zip(numbers, NASTY_TITLES):
        assert (await search(org.db, title))[0] == f"G-{number} {title}", title
    assert await search(org.db, '"""') == [] and await search(org.db, "((( )))") == []
    reply = await org.say("ana@example.com", 'goals add "NEAR(churn alerts)" OR churn* -noise')
    assert "Proposed" in reply and f"Looks like G-{numbers[0]}" in reply, reply


async def test_the_search_keeps_to_the_levels_and_units_it_is_given(org):
    await org.say("bo@example.com", "goals add Harden the deploy pipeline level:team")
    await org.say("omar@example.com", "goals add Harden the deploy pipeline everywhere level:department")
    await org.say("ana@example.com", "goals add Harden the deploy pipeline for payments")
    async with org.db.transaction(write=False) as session:
        platform = (await session.execute(select(OrgUnit.id).where(OrgUnit.name == "Platform"))).scalar_one()
        firsts = set((await session.execute(select(Goal.id).where(Goal.number.in_((1, 2))))).scalars())
    assert await search(org.db, "Harden the deploy pipeline", levels=("team", "department")) == [
        "G-1 Harden the deploy pipeline", "G-2 Harden the deploy pipeline everywhere"]
    assert await search(org.db, "Harden the deploy pipeline", units={platform}) == ["G-1 Harden the deploy pipeline"]
    assert await search(org.db, "Harden the deploy pipeline", exclude=firsts, statuses=("proposed",)) == [
        "G-3 Harden the deploy pipeline for payments"]


async def two_teams_alike(org) -> None:
    """Ana (Platform, in Engineering) and Nina (EMEA, in Sales) propose goals that look alike, G-1 and G-2,
    and their managers approve them."""
    await org.say("ana@example.com", "goals add Publish the security review checklist")
    await org.say("nina@example.com", "goals add Publish the security review checklist for EMEA")
    await org.say("bo@example.com", "goals approve G-1")
    await org.say("lena@example.com", "goals approve G-2")


async def test_likely_duplicates_across_teams_are_in_the_managers_digests(org):
    """Ravi's G-3 looks like Ana's G-1 and Nina's G-2; his and Ana's are one team's, so not duplicates across
    teams."""
    await two_teams_alike(org)
    await org.say("ravi@example.com", "goals add Publish a security review checklist")
    await org.say("bo@example.com", "goals approve G-3")
    who = await people(org.db)
    async with org.db.transaction(write=False) as session:
        tenant = await tenant_by_key(session, "default")
        reading = await alignment.read(session, tenant.id, utcnow())

    def duplicates(name: str) -> list[tuple[str, str, str, str]]:
        found = alignment.figures(reading, Scope(ScopeKind.MANAGER, who[name])).duplicates
        return [(d.goal.ref, d.unit, d.other.ref, d.other_unit) for d in found]

    assert duplicates("bo") == [("G-1", "Platform", "G-2", "EMEA"), ("G-3", "Platform", "G-2", "EMEA")]
    assert duplicates("lena") == [("G-2", "EMEA", "G-1", "Platform"), ("G-2", "EMEA", "G-3", "Platform")]
    assert len(duplicates("maya")) == 2  # all three are below her; each pair once
    assert alignment.figures(reading, Scope(ScopeKind.MANAGER, who["maya"])).counts()["duplicates"] == 2
    shown = await org.say("bo@example.com", "goals digest")
    assert "Likely duplicates across teams (2)" in shown
    assert ("G-1 Publish the security review checklist (Ana Silva, Platform) looks like "
            "G-2 Publish the security review checklist for EMEA (Nina Kowalski, EMEA)") in shown, shown
    assert "Likely duplicates across teams (2)\nG-" in await org.say("lena@example.com", "goals digest duplicates")
    # Private, Ravi's goal is no longer Lena's to read of; Bo and Maya are above Ravi.
    async with org.db.transaction() as session:
        await session.execute(sa.update(Goal).where(Goal.number == 3).values(private=True))
    assert "Likely duplicates across teams (1)" in await org.say("lena@example.com", "goals digest duplicates")
    assert "Likely duplicates across teams (2)" in await org.say("maya@example.com", "goals digest duplicates")


async def test_one_managers_reading_finds_the_duplicates_the_whole_tenants_does(org):
    await two_teams_alike(org)
    who = await people(org.db)
    async with org.db.transaction(write=False) as session:
        tenant = await tenant_by_key(session, "default")
        whole = await alignment.read(session, tenant.id, MONDAY)
        for name in ("bo", "omar", "lena", "maya"):
            alone = await alignment.read(session, tenant.id, MONDAY, manager=who[name])
            scope = Scope(ScopeKind.MANAGER, who[name])
            assert ([(d.goal.ref, d.other.ref) for d in alignment.figures(alone, scope).duplicates]
                    == [(d.goal.ref, d.other.ref) for d in alignment.figures(whole, scope).duplicates] != []), name


async def test_the_clock_compares_goals_nobody_compared_a_batch_at_a_time(org):
    titles = ["Cut cloud costs for the data team", "Cut cloud costs for the data team in EMEA",
              "Cut the cloud costs of the data team", "Hire two engineers", "Hire two engineers for Payments",
              "Write the onboarding guide", "Write an onboarding guide"]
    await goals_titled(org.db, titles, looked_at=False)
    assert [await similar.look_over_unchecked(org.db, at_most=3) for _ in range(4)] == [3, 3, 1, 0]
    assert await pairs(org.db) == {(1, 2), (1, 3), (2, 3), (4, 5), (6, 7)}
    async with org.db.transaction(write=False) as session:
        assert (await session.execute(select(sa.func.count()).where(Goal.likeness_checked_at.is_(None)))).scalar() == 0


async def test_a_round_of_the_clock_compares_a_bounded_batch(org):
    await goals_titled(org.db, [f"Close the books for entity {n} by day three" for n in range(similar.PER_ROUND + 50)],
                       looked_at=False)
    first = await run_round(org.db, MONDAY)
    assert first.compared == similar.PER_ROUND and f"{similar.PER_ROUND} goals compared for duplicates" in first.details()
    assert (await run_round(org.db, MONDAY)).compared == 50
    assert (await run_round(org.db, MONDAY)).compared == 0
    assert len(await pairs(org.db)) >= similar.PER_ROUND  # each looks like several others


async def test_a_goal_and_what_it_supports_are_not_duplicates(org):
    await org.say("maya@example.com", "goals add Win the enterprise market in EMEA level:company")
    await org.say("lena@example.com", "goals add Win the enterprise market in EMEA level:department parent:G-1")
    async with org.db.transaction() as session:  # as if imported: nobody compared them yet
        await session.execute(sa.delete(GoalLikeness))
        await session.execute(sa.update(Goal).values(likeness_checked_at=None))
    await similar.look_over_unchecked(org.db)
    assert await pairs(org.db) == set()


async def test_goals_put_away_never_hide_a_live_one(org):
    # The index's first few hundred are all archived: the search reads on until it finds live ones.
    await goals_titled(org.db, [f"Renew the cloud contract with the vendor {n}" for n in range(300)], status="archived")
    *_, live = await goals_titled(org.db, ["Renew the cloud hosting contract"])
    assert await search(org.db, "Renew the cloud contract") == [f"G-{live} Renew the cloud hosting contract"]


async def test_words_in_most_of_a_tenants_titles_are_left_out_of_the_search(org):
    """The clock counts, once a day, the words in more than 5% of a large tenant's titles; the search leaves
    them out, so it reads what tells goals apart, and still finds the likest."""
    crowd = [f"Tune alerting for the {area} team in region {n}" for n, area in
             enumerate(["data", "web", "payments", "search"] * (similar.COUNTED_FROM // 4))]
    *_, planted = await goals_titled(org.db, [*crowd, "Ship the checkout redesign for the payments team"])
    await run_round(org.db, MONDAY)
    async with org.db.transaction(write=False) as session:
        tenant = await tenant_by_key(session, "default")
    assert tenant.common_title_words == ["alerting", "data", "payments", "region", "search", "team", "tune", "web"]
    assert (await search(org.db, "Ship the checkout redesign for the web team"))[0] == (
        f"G-{planted} Ship the checkout redesign for the payments team")
    reply = await org.say("ana@example.com", "goals add Ship the checkout redesign for the payments team")
    assert f"Looks like G-{planted} Ship the checkout redesign for the payments team." in reply, reply
    # Once a day: a round the next hour counts nothing; a small tenant has no common words.
    assert await similar.count_common_words(org.db, MONDAY + timedelta(hours=1)) == 0
    await goals_titled(org.db, ["Tune alerting"], tenant="slack:T0SMALL")
    assert await similar.count_common_words(org.db, MONDAY + timedelta(hours=1)) == 1
    async with org.db.transaction(write=False) as session:
        assert (await tenant_by_key(session, "slack:T0SMALL")).common_title_words == []
