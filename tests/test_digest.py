"""Managers' digests on the clock: each at the manager's own local Monday 09:30 (or the day and time they
set), queued once per period by the round, never sent late after a stop, with the period's figures kept
so next week's digest says what they were."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import select

from bot.clock import run_round
from bot.messages import reply_from_dict
from storage.models import AlignmentSnapshot, OutboxMessage, Person, as_utc

from adapters.console.render import render
from tests.test_alignment import build

HOUR = timedelta(hours=1)
# The organisation is built in the week of Monday 2027-03-08 (its rounds queue that week's digests);
# these tests follow the next week's. New York moved to summer time on Sunday the 14th; Europe has not.
NEXT = datetime(2027, 3, 15, tzinfo=UTC)


async def digests(db, period: str = "2027-03-15") -> dict[str, OutboxMessage]:
    """Each manager's digest for a period, by name."""
    async with db.transaction(write=False) as session:
        rows = (await session.execute(
            select(OutboxMessage, Person.email).join(Person, Person.id == OutboxMessage.person_id)
            .where(OutboxMessage.kind == "digest", OutboxMessage.dedupe_key.like(f"digest:%:{period}"))
            .order_by(OutboxMessage.id))).all()
    return {email.split("@")[0]: row for row, email in rows}


async def test_each_manager_gets_one_digest_at_their_own_local_monday_0930(org):
    await build(org)  # Maya in New York; Omar in Berlin; Bo in Copenhagen; Lena in Vienna
    # 08:29 UTC is 09:29 in Copenhagen: not yet; 08:30 is Bo's, Omar's and Lena's 09:30 (all UTC+1 in March).
    assert (await run_round(org.db, NEXT + 8 * HOUR + timedelta(minutes=29))).digests == 0
    tally = await run_round(org.db, NEXT + 8 * HOUR + timedelta(minutes=30))
    assert tally.digests == 3 and "3 digests" in tally.line()
    assert (await run_round(org.db, NEXT + 8 * HOUR + timedelta(minutes=30))).digests == 0  # once
    # New York's 09:30 is 13:30 UTC in summer time (it was 14:30 the week before).
    assert (await run_round(org.db, NEXT + 13 * HOUR + timedelta(minutes=29))).digests == 0
    assert (await run_round(org.db, NEXT + 13 * HOUR + timedelta(minutes=30))).digests == 1
    found = await digests(org.db)
    assert sorted(found) == ["bo", "lena", "maya", "omar"]
    shown = render(reply_from_dict(found["bo"].body))
    assert shown.startswith("Your team's alignment, period of Monday 2027-03-15")
    assert "Waiting for your decision (1)" in shown
    async with org.db.transaction(write=False) as session:
        kept = (await session.execute(select(AlignmentSnapshot).where(
            AlignmentSnapshot.scope_kind == "manager", AlignmentSnapshot.period == date(2027, 3, 15)))).scalars().all()
    # Bo's reports' 4 goals, Omar's 5, Lena's 1 (Nina's), Maya's 6: counts kept for the period.
    assert sorted(k.figures["alignable"] for k in kept) == [1, 4, 5, 6]


async def test_next_weeks_digest_says_what_last_weeks_figures_came_to(org):
    await build(org)  # its rounds queued the digests of the week of 2027-03-08
    assert "bo" in await digests(org.db, "2027-03-08")
    await org.say("ana@example.com", "goals link G-5 G-3")  # during that week
    await run_round(org.db, NEXT + 8 * HOUR + timedelta(minutes=30))
    shown = render(reply_from_dict((await digests(org.db))["bo"].body))
    # The week of the 8th closed at 3 of 4 aligned, with Ana's answer in: that is its "last time".
    assert "75% (3 of 4 team and individual goals), last time 75%" in shown, shown
    # Ana's and Ravi's prompts (09:00 in Lisbon) come half an hour after Bo's digest (09:30 in Copenhagen):
    # their current period is still last week's.
    assert "Checked in             50% (1 of 2), last time 50%" in shown, shown
    await org.say("ravi@example.com", "goals link G-7 G-3")  # during the week of the 15th
    await run_round(org.db, NEXT + 7 * 24 * HOUR + 8 * HOUR + timedelta(minutes=30))
    shown = render(reply_from_dict((await digests(org.db, "2027-03-22"))["bo"].body))
    assert "100% (4 of 4 team and individual goals), last time 100%" in shown, shown
    async with org.db.transaction(write=False) as session:
        kept = {k.period: k.figures for k in (await session.execute(select(AlignmentSnapshot).where(
            AlignmentSnapshot.scope_kind == "manager", AlignmentSnapshot.scope_id == (await digests(org.db))["bo"].person_id
        ))).scalars()}
    # What each week came to stays as it was, whatever changed since.
    # (The first digest kept the week before it too, as the organisation stood when it was sent.)
    assert {day: counts["aligned"] for day, counts in kept.items()} == {
        date(2027, 3, 1): 2, date(2027, 3, 8): 3, date(2027, 3, 15): 4, date(2027, 3, 22): 4}


async def test_the_digest_moves_or_stops_as_the_manager_says_and_is_not_sent_late(org):
    await build(org)
    assert "Saved. Your digest is now Friday 16:00, Europe/Copenhagen time." in await org.say(
        "bo@example.com", "goals settings digest friday 16:00")
    assert "Nobody reports to you yet" in await org.say("ana@example.com", "goals settings digest tuesday 10:00")
    assert "Saved. Your digest is now off" in await org.say("omar@example.com", "goals settings digest off")
    assert "The digest comes weekly" in await org.say("bo@example.com", "goals settings digest friday 16:00 biweekly")
    await run_round(org.db, datetime(2027, 3, 11, tzinfo=UTC))  # Thursday: Bo's next is Friday 16:00
    # The clock stops until Monday: Bo's Friday digest is not sent after its day; Lena's Monday one is.
    tally = await run_round(org.db, NEXT + 8 * HOUR + timedelta(minutes=30))
    assert sorted(await digests(org.db)) == ["lena"]  # Maya's 09:30 in New York is later
    assert tally.digests == 1 and not await digests(org.db, "2027-03-12")
    async with org.db.transaction(write=False) as session:
        bo = (await session.execute(select(Person).where(Person.email == "bo@example.com"))).scalar_one()
    assert as_utc(bo.next_digest_at) == datetime(2027, 3, 19, 15, tzinfo=UTC)  # Friday 16:00 in Copenhagen


async def test_two_processes_ticking_at_once_queue_each_digest_once(db, org):
    await build(org)
    other = org.db.another()
    try:
        at = NEXT + 15 * HOUR
        results = await asyncio.gather(*(run_round(database, at) for database in (org.db, other, org.db, other)))
    finally:
        await other.dispose()
    found = await digests(org.db)
    assert len(found) == 4 and sum(r.digests for r in results) == 4
    async with org.db.transaction(write=False) as session:
        count = (await session.execute(sa.select(sa.func.count()).select_from(OutboxMessage)
                                       .where(OutboxMessage.kind == "digest",
                                              OutboxMessage.dedupe_key.like("digest:%:2027-03-15")))).scalar()
    assert count == 4


async def test_a_late_answer_redraws_the_sent_digest_in_place_at_most_once_a_minute(org):
    await build(org)  # Bo's digest for the week of the 8th was queued at 10:00 that Monday
    bo_digest = (await digests(org.db, "2027-03-08"))["bo"]
    async with org.db.transaction() as session:
        sent = await session.get(OutboxMessage, bo_digest.id)
        sent.state, sent.channel, sent.message_id = "sent", "D-BO", "1700000000.000100"  # delivered
    # What the organisation did after its digests were queued (answers, a key result, kudos) redraws them.
    assert (await run_round(org.db, datetime(2027, 3, 8, 10, 1, tzinfo=UTC))).redrawn == 2  # Bo's and Omar's
    async with org.db.transaction() as session:
        await session.execute(sa.delete(OutboxMessage).where(OutboxMessage.replaces_id.is_not(None)))
    at = datetime(2027, 3, 8, 10, 5, tzinfo=UTC)
    assert (await run_round(org.db, at)).redrawn == 0  # nothing changed since
    await org.say("ravi@example.com", "checkin G-6 blocked by the vendor; G-7 off track no time")  # Ravi answers late
    tally = await run_round(org.db, at + timedelta(seconds=10))
    # Bo's (sent: updated in place) and Omar's, who is above him (not sent yet: rewritten).
    assert tally.redrawn == 2 and "2 digests redrawn" in tally.details()

    async def updates() -> list[OutboxMessage]:
        async with org.db.transaction(write=False) as session:
            return list((await session.execute(select(OutboxMessage).where(
                OutboxMessage.replaces_id == bo_digest.id).order_by(OutboxMessage.id))).scalars())

    (update,) = await updates()
    assert update.kind == "update" and update.person_id == bo_digest.person_id
    assert "Checked in             100% (2 of 2)" in render(reply_from_dict(update.body))
    # Another change within the minute waits for the next round after it; then one more redraw.
    await org.say("ana@example.com", "goals progress G-5 20")
    assert (await run_round(org.db, at + timedelta(seconds=40))).redrawn == 0
    assert (await run_round(org.db, at + timedelta(seconds=75))).redrawn == 2
    assert len(await updates()) == 2
    # A digest not sent yet is rewritten, not updated: Omar's still waits in the outbox.
    omar = (await digests(org.db, "2027-03-08"))["omar"]
    shown = render(reply_from_dict(omar.body))
    assert omar.state == "pending" and "Checked in             100% (2 of 2)" in shown, shown


async def test_a_digest_for_200_reports_fits_slack_and_teams_with_the_most_urgent_first(db):
    """A manager of 200 people with a thousand goals: the digest fits one Slack message (under 50 blocks,
    each section under 3,000 characters) and one Teams card without being cut, and says how to see the rest."""
    import json

    from adapters.slack.render import blocks as slack_blocks
    from adapters.teams import cards
    from benchmarks.digest import MONDAY as BENCH_MONDAY, build as build_org
    from bot import digest
    from bot.messages import Actor
    from bot.people import find_viewer

    await build_org(db, 2_000)
    async with db.transaction(write=False) as session:
        viewer = await find_viewer(session, Actor("slack", "U000111", email="p111@org.example"))
        found = await digest.digest(session, viewer, now=BENCH_MONDAY)
    assert found.figures.asked >= 200 and len(found.figures.at_risk) > 100
    reply = digest.render(found)
    slack = slack_blocks(reply)
    assert len(slack) < 50 and not any("do not fit here" in json.dumps(block) for block in slack)
    assert all(len(block.get("text", {}).get("text", "")) <= 3000 for block in slack)
    card = cards.render(reply)
    assert cards.size(card) <= cards.MAX_CARD_CHARS and "do not fit here" not in json.dumps(card)
    shown = render(reply)
    assert shown.index("Waiting for your decision (") < shown.index("Blocked (") < shown.index("At risk and off track (")
    assert "more: goals digest at-risk" in shown and "more: goals digest blocked" in shown
    full = render(digest.render(found, "at-risk"))
    assert full.count("\nG-") + full.startswith("G-") >= len(found.figures.at_risk) - 1


async def test_a_digest_setting_that_is_wrong_says_so_in_the_digests_words(org):
    reply = await org.say("bo@example.com", "goals settings digest funday 16:00")
    assert "I don't understand `funday`; give a weekday, a time like 09:00." in reply and "biweekly;" not in reply
    assert "Nobody below you has been asked to check in this period yet." in await org.say(
        "bo@example.com", "goals digest missing")
