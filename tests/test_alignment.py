"""The alignment figures on an organisation built by hand, where every number is known: per manager (their
reports all the way down, not themselves), per unit (public goals only) and for the tenant; and last
period's values from the snapshot kept then, not recomputed over changed data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import select

from adapters.console.render import render
from bot import alignment, digest, views
from bot.alignment import Scope, ScopeKind
from bot.messages import Actor
from bot.people import find_viewer
from bot.clock import run_round
from bot.people import tenant_by_key
from storage.models import Goal, GoalEvent, KeyResult, Kudos, OrgUnit, Person

from tests.test_clock import on_slack

MONDAY = datetime(2027, 3, 8, 10, tzinfo=UTC)  # after everyone's 09:00 in Europe
DAY = timedelta(days=1)


async def build(org) -> None:
    """Maya (admin) > Omar (Engineering) > Bo (Platform) > Ana, Ravi; Maya > Lena (Sales) > Nina (EMEA).

    G-1 company goal (Maya); G-2 Engineering's, supports G-1; G-3 Platform's (Bo), supports G-2.
    Ana: G-4 supports G-3, at risk, its key result hit; G-5 unaligned and stale; G-10 achieved.
    Ravi: G-6 supports G-1, blocked and overdue; G-7 private, unaligned, off track; G-8 waits for Bo.
    Nina: G-9 supports G-1 (so G-1 has supporters in Engineering and Sales).
    """
    say = org.say
    await on_slack(org.db, {"ana@example.com": "Europe/Lisbon", "ravi@example.com": "Europe/Lisbon",
                            "nina@example.com": "Europe/Lisbon"})
    await say("maya@example.com", "goals add Grow revenue level:company")
    await say("omar@example.com", "goals add Reliable platform level:department parent:G-1")
    await say("maya@example.com", "goals approve G-2")
    await say("bo@example.com", "goals add Halve paging level:team parent:G-2")
    await say("omar@example.com", "goals approve G-3")
    for line in ("goals add Tune alerting parent:G-3", "goals add Learn Rust"):
        await say("ana@example.com", line)
    for line in ("goals add Write the runbook parent:G-1 due:2027-03-01", "goals add Find a mentor private",
                 "goals add Try a new pager"):
        await say("ravi@example.com", line)
    await say("nina@example.com", "goals add Close EMEA deals parent:G-1")
    await say("lena@example.com", "goals approve G-9")
    for number in (4, 5, 6, 7):
        await say("bo@example.com", f"goals approve G-{number}")
    await say("ana@example.com", "goals add Ship the dashboard")
    await say("bo@example.com", "goals approve G-10")
    for email in ("maya", "omar", "bo", "lena"):  # they talk in the console: their prompts are not part of this
        await say(f"{email}@example.com", "goals settings checkin off")
    await say("nina@example.com", "goals away until 2027-03-10")
    # Everything so far happened a few days before that Monday; then the week's news.
    await at(org.db, MONDAY - 3 * DAY)
    await run_round(org.db, MONDAY - 2 * DAY)
    await run_round(org.db, MONDAY)  # prompts Ana and Ravi (Nina is away: skipped)
    await say("ana@example.com", "goals kr add G-4 Noisy alerts 40->20")
    await say("ana@example.com", "goals kr G-4.1 20")
    await say("ana@example.com", "checkin G-4 at risk waiting on legal")
    await say("ravi@example.com", "goals progress G-6 blocked by the vendor")
    await say("ravi@example.com", "goals progress G-7 off track no time")
    await say("ana@example.com", "goals done G-10")
    await say("bo@example.com", "goals kudos @ana for the alerting work")
    await at(org.db, MONDAY - DAY, only_before=MONDAY - 3 * DAY)
    # G-5 was last touched three weeks ago: two weekly periods without an update make it stale.
    async with org.db.transaction() as session:
        await session.execute(sa.update(Goal).where(Goal.number == 5).values(
            created_at=MONDAY - 21 * DAY, approved_at=MONDAY - 21 * DAY, progress_updated_at=None))


async def at(db, moment: datetime, only_before: datetime | None = None) -> None:
    """Place what was done at `moment` (only what is not placed yet: stamped before `only_before`)."""
    async with db.transaction() as session:
        for model, columns in ((Goal, ("created_at", "approved_at", "progress_updated_at", "updated_at")),
                               (GoalEvent, ("at",)), (Kudos, ("created_at",)), (KeyResult, ("updated_at",))):
            for column in columns:
                attribute = getattr(model, column)
                query = sa.update(model).where(attribute.is_not(None))
                if only_before is not None:
                    query = query.where(attribute < only_before)
                await session.execute(query.values({column: moment}))


async def people(db) -> dict[str, int]:
    async with db.transaction(write=False) as session:
        return {email.split("@")[0]: pid for pid, email in (await session.execute(select(Person.id, Person.email)))}


async def reading(db, now: datetime = MONDAY):
    async with db.transaction(write=False) as session:
        tenant = await tenant_by_key(session, "default")
        return await alignment.read(session, tenant.id, now, since=now - 7 * DAY)


def refs(goals) -> list[str]:
    return [g.ref for g in goals]


async def test_development_and_personal_goals_may_stand_alone_in_the_figures(org):
    await build(org)
    who = await people(org.db)
    before = alignment.figures(await reading(org.db), Scope(ScopeKind.MANAGER, who["bo"]))
    await org.say("ana@example.com", "goals add Learn Go category:development")
    await org.say("ana@example.com", "goals add Run a half marathon category:personal")
    await org.say("bo@example.com", "goals approve G-11")
    await org.say("bo@example.com", "goals approve G-12")
    found = alignment.figures(await reading(org.db), Scope(ScopeKind.MANAGER, who["bo"]))
    assert (found.aligned, found.alignable) == (before.aligned, before.alignable) == (2, 4)
    assert refs(found.unaligned) == refs(before.unaligned) == ["G-5", "G-7"]
    assert "G-11" not in await org.say("bo@example.com", "goals digest unaligned")


async def test_a_managers_figures_cover_their_reports_all_the_way_down_and_not_themselves(org):
    await build(org)
    who = await people(org.db)
    found = alignment.figures(await reading(org.db), Scope(ScopeKind.MANAGER, who["bo"]))
    # Ana's G-4, G-5 and Ravi's G-6, G-7 are active (G-8 is proposed, G-10 achieved); G-4 and G-6 support a parent.
    assert (found.aligned, found.alignable, found.alignment_rate) == (2, 4, 50.0)
    # G-4 supports a team goal and G-6 the company's: both count as linked above the individual level.
    assert (found.individual_linked, found.individual, found.individual_rate) == (2, 4, 50.0)
    assert (found.answered, found.asked, found.response_rate) == (1, 2, 50.0)  # Ana answered; Ravi did not
    assert found.health == {"on_track": 0, "at_risk": 1, "off_track": 1, "blocked": 1, "none": 1}
    assert refs(found.at_risk) == ["G-7", "G-4"]  # off track before at risk
    assert [g.note for g in found.at_risk] == ["no time", "waiting on legal"]
    assert refs(found.blockers) == ["G-6"] and found.blockers[0].note == "the vendor"
    assert refs(found.stale) == ["G-5"]
    assert refs(found.unaligned) == ["G-5", "G-7"]  # G-7 is private: it counts for her manager chain
    assert refs(found.overdue) == ["G-6"]
    assert refs(found.pending) == ["G-8"]
    assert refs(found.achieved) == ["G-10"]
    assert [(g.ref, position) for g, position in found.kr_hits] == [("G-4", 1)]
    assert found.kudos == 1
    assert refs(found.top) == ["G-3"]  # the Platform team's goal, which Bo leads
    # Bo's own goal G-3 is not in his figures; it is in Omar's, as are Bo's reports'.
    omar = alignment.figures(await reading(org.db), Scope(ScopeKind.MANAGER, who["omar"]))
    assert (omar.aligned, omar.alignable) == (3, 5) and omar.pending == []
    assert [(g.ref, departments) for g, departments in omar.shared] == [("G-1", 2)]


async def test_a_units_figures_leave_private_goals_out_and_the_tenants_count_everyone(org):
    await build(org)
    now = await reading(org.db)
    async with org.db.transaction(write=False) as session:
        platform = (await session.execute(select(OrgUnit.id).where(OrgUnit.name == "Platform"))).scalar_one()
        sales = (await session.execute(select(OrgUnit.id).where(OrgUnit.name == "Sales"))).scalar_one()
    unit = alignment.figures(now, Scope(ScopeKind.UNIT, platform), public_only=True)
    # G-3 (Bo's team goal), G-4, G-5, G-6; the private G-7 is not in a channel's figures.
    assert (unit.aligned, unit.alignable) == (3, 4)
    assert "G-7" not in refs(unit.unaligned + unit.at_risk)
    # Nina is away: her period was skipped and asks nothing of Sales' response rate.
    sales_figures = alignment.figures(now, Scope(ScopeKind.UNIT, sales))
    assert (sales_figures.answered, sales_figures.asked, sales_figures.response_rate) == (0, 0, None)
    tenant = alignment.figures(now, Scope(ScopeKind.TENANT))
    assert (tenant.aligned, tenant.alignable) == (4, 6)  # G-3, G-4, G-6, G-9 of G-3 to G-7 and G-9
    assert refs(tenant.top) == ["G-1"]
    assert (tenant.answered, tenant.asked) == (1, 2)


async def test_last_periods_figures_are_what_they_were_then(org):
    await build(org)
    who = await people(org.db)
    bo = Scope(ScopeKind.MANAGER, who["bo"])
    async with org.db.transaction() as session:
        tenant = await tenant_by_key(session, "default")
        await alignment.keep(session, tenant.id, date(2027, 3, 8), [alignment.figures(await reading(org.db), bo)])
    # The next week Ana links G-5: the data changed since.
    await org.say("ana@example.com", "goals link G-5 G-3")
    later = MONDAY + 7 * DAY
    now = alignment.figures(await reading(org.db, later), bo)
    async with org.db.transaction() as session:
        last = (await alignment.before(session, tenant.id, [bo], date(2027, 3, 15)))[bo]
        # Keeping again for the same period refreshes it; an earlier period stays as it was.
        await alignment.keep(session, tenant.id, date(2027, 3, 15), [now])
        assert (await alignment.before(session, tenant.id, [bo], date(2027, 3, 15)))[bo] == last
    assert (now.aligned, now.alignable) == (3, 4)
    assert (last["aligned"], last["alignable"], last["alignment_rate"]) == (2, 4, 50.0)
    assert last["blockers"] == 1 and last["response_rate"] == 50.0


async def test_goals_digest_shows_the_figures_against_last_time_and_what_needs_the_manager(org):
    await build(org)
    who = await people(org.db)
    async with org.db.transaction() as session:
        tenant = await tenant_by_key(session, "default")
        kept = alignment.figures(await reading(org.db, MONDAY - 7 * DAY), Scope(ScopeKind.MANAGER, who["bo"]))
        await alignment.keep(session, tenant.id, date(2027, 3, 1), [kept])
    async with org.db.transaction(write=False) as session:
        bo = await find_viewer(session, Actor("console", "bo@example.com", email="bo@example.com"))
        found = await digest.digest(session, bo, now=MONDAY)
    assert (found.period, found.last["alignment_rate"]) == (date(2027, 3, 8), 50.0)
    shown = render(digest.render(found))
    assert shown.startswith("Your team's alignment, period of Monday 2027-03-08")
    assert "50% (2 of 4 team and individual goals), last time 50%" in shown
    assert "50% (1 of 2), last time no data" in shown  # nobody was asked the week before
    assert "Waiting for your decision (1)" in shown and "Approve: goals approve G-8" in shown
    assert "Blocked (1)\nG-6" in shown and "note: the vendor" in shown and "Open: goals show G-6" in shown
    assert "At risk and off track (2)\nG-7" in shown
    assert "Not checked in yet (1 of 2)\nRavi Patel\n  Nudge Ravi: goals nudge @ravi@example.com" in shown
    assert "Not aligned: G-5 Learn Rust, G-7 Find a mentor" in shown
    assert "No update for two check-ins: G-5 Learn Rust" in shown
    assert "Past their due date: G-6 Write the runbook" in shown
    assert "achieved G-10 Ship the dashboard; key results on target: G-4.1; 1 kudos." in shown
    # Ravi's G-6 supports G-1, which Sales supports too: Bo's team works on a shared goal.
    assert "Shared across departments: G-1 Grow revenue (2 departments)" in shown
    # On demand, now: the same digest, read at this instant.
    assert "Your team's alignment" in await org.say("bo@example.com", "goals digest")
    # One part in full; a member has no digest; a peer cannot see it.
    assert "Blocked (1)" in await org.say("bo@example.com", "goals digest blocked")
    assert "Nobody reports to you" in await org.say("ana@example.com", "goals digest")
    assert "is not a part of the digest" in await org.say("bo@example.com", "goals digest everything")


async def test_a_manager_nudges_a_report_who_has_not_checked_in_once(org):
    await build(org)
    # The round that opened the period was at an injected instant in 2027; the nudge is read now, so the
    # test opens Ravi's period at the real now.
    async with org.db.transaction() as session:
        from storage.models import CheckinPeriod
        await session.execute(sa.update(CheckinPeriod).values(due_at=datetime.now(UTC) - timedelta(hours=1)))
    assert "Asked Ravi Patel to check in." in await org.say("bo@example.com", "goals nudge @ravi")
    assert "was nudged for the week of" in await org.say("bo@example.com", "goals nudge @ravi")
    assert "has checked in already" in await org.say("bo@example.com", "goals nudge @ana")
    assert "Only Ravi Patel's managers can nudge them." in await org.say("lena@example.com", "goals nudge @ravi")
    async with org.db.transaction(write=False) as session:
        from storage.models import OutboxMessage
        (message,) = (await session.execute(select(OutboxMessage).where(OutboxMessage.kind == "nudge"))).scalars()
        assert message.platform == "console"  # where Bo asked, and Ravi talks too


async def test_one_managers_reading_gives_the_figures_the_whole_tenants_does(org):
    """`goals digest` reads only what one manager's figures need; every figure comes out the same."""
    await build(org)
    who = await people(org.db)
    whole = await reading(org.db)
    async with org.db.transaction(write=False) as session:
        tenant = await tenant_by_key(session, "default")
        for name in ("bo", "omar", "lena", "maya"):
            alone = await alignment.read(session, tenant.id, MONDAY, since=MONDAY - 7 * DAY, manager=who[name])
            scope = Scope(ScopeKind.MANAGER, who[name])
            mine, all_of_it = alignment.figures(alone, scope), alignment.figures(whole, scope)
            assert mine.counts() == all_of_it.counts(), name
            assert [refs(getattr(mine, part)) for part in ("at_risk", "blockers", "stale", "unaligned", "pending", "top")] == [
                refs(getattr(all_of_it, part)) for part in ("at_risk", "blockers", "stale", "unaligned", "pending", "top")]
            assert [(g.ref, n) for g, n in mine.shared] == [(g.ref, n) for g, n in all_of_it.shared], name
            if name == "bo":
                assert len(alone.goals) < len(whole.goals)  # it did read less


async def test_admins_see_alignment_by_department_against_last_week(org):
    await build(org)
    await run_round(org.db, datetime(2027, 3, 15, tzinfo=UTC))  # Monday 00:00: the week of the 8th is kept
    await org.say("ana@example.com", "goals link G-5 G-3")
    async with org.db.transaction(write=False) as session:
        from bot import admin
        maya = await find_viewer(session, Actor("console", "maya@example.com", email="maya@example.com"))
        title, rows = await admin.alignment_report(session, maya, None, now=datetime(2027, 3, 15, 10, tzinfo=UTC))
    shown = render(views.alignment_report(title, rows))
    assert [row.name for row in rows][1:] == ["Engineering", "Sales"]
    assert "Engineering  aligned 80% (last week 60%), linked to a team goal 75% (last week 50%)" in shown, shown
    assert "Sales" in shown and "aligned 100% (last week 100%)" in shown
    platform = render(views.alignment_report(*await _report(org, "maya@example.com", "Platform")))
    assert platform.startswith("Alignment: Platform") and "No units inside it" in platform
    assert "Only admins can see the alignment of the organisation" in await org.say(
        "bo@example.com", "goals admin alignment")
    assert "There is no unit called `Nowhere`" in await org.say("maya@example.com", "goals admin alignment Nowhere")
    assert "Alignment:" in await org.say("maya@example.com", "goals admin alignment")
    assert "Nothing to compare with yet" not in shown


async def test_before_a_week_is_kept_the_admin_view_says_when_it_will_be(org):
    await org.say("ana@example.com", "goals add Tune the alerts")
    shown = await org.say("maya@example.com", "goals admin alignment")
    assert "Nothing to compare with yet: each week's figures are kept when the week ends" in shown, shown
    assert "nobody asked to check in this week" in shown and "no data" not in shown.split("aligned")[0], shown


async def _report(org, email: str, unit: str | None):
    from bot import admin

    async with org.db.transaction(write=False) as session:
        viewer = await find_viewer(session, Actor("console", email, email=email))
        return await admin.alignment_report(session, viewer, unit, now=datetime(2027, 3, 15, 10, tzinfo=UTC))


async def test_goals_moved_between_teams_mid_period_count_where_they_are_and_last_week_stays(org):
    from bot.org import import_people, read_csv
    from tests.conftest import ORG_CSV

    await build(org)
    who = await people(org.db)
    async with org.db.transaction(write=False) as session:
        units = {name: uid for name, uid in (await session.execute(select(OrgUnit.name, OrgUnit.id))).all()}
    platform, emea = Scope(ScopeKind.UNIT, units["Platform"]), Scope(ScopeKind.UNIT, units["EMEA"])
    before = await reading(org.db)
    assert (alignment.figures(before, platform, public_only=True).aligned,
            alignment.figures(before, platform, public_only=True).alignable) == (3, 4)
    async with org.db.transaction() as session:
        tenant = await tenant_by_key(session, "default")
        await alignment.keep(session, tenant.id, date(2027, 3, 8), [alignment.figures(before, platform, public_only=True)])
    # Midweek Ravi moves to EMEA, under Lena: his goals G-6 (aligned), G-7 (private) and G-8 (proposed) go with him.
    moved = ORG_CSV.replace("ravi@example.com,Ravi Patel,bo@example.com,Engineering,Platform,member",
                            "ravi@example.com,Ravi Patel,lena@example.com,Sales,EMEA,member")
    rows, problems = read_csv(moved)
    assert not problems
    async with org.db.transaction() as session:
        await import_people(session, await tenant_by_key(session, "default"), rows)
    now = await reading(org.db, MONDAY + 3 * DAY)
    # Platform keeps G-3, G-4 (aligned) and G-5; EMEA has Nina's G-9 and Ravi's G-6, both aligned (G-7 is private).
    here = alignment.figures(now, platform, public_only=True)
    there = alignment.figures(now, emea, public_only=True)
    assert (here.aligned, here.alignable, there.aligned, there.alignable) == (2, 3, 2, 2)
    # Managers: Bo now reads Ana's G-4 and G-5; Lena reads Nina's G-9 and Ravi's G-6 and G-7 (private counts for her),
    # and Ravi's proposal G-8 now waits for her.
    bo = alignment.figures(now, Scope(ScopeKind.MANAGER, who["bo"]))
    lena = alignment.figures(now, Scope(ScopeKind.MANAGER, who["lena"]))
    assert (bo.aligned, bo.alignable, refs(bo.pending)) == (1, 2, [])
    assert (lena.aligned, lena.alignable, refs(lena.pending)) == (2, 3, ["G-8"])
    # Last week is what it was then: Platform had 3 of 4.
    async with org.db.transaction(write=False) as session:
        last = (await alignment.before(session, tenant.id, [platform], date(2027, 3, 15)))[platform]
    assert (last["aligned"], last["alignable"]) == (3, 4)
