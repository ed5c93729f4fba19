"""The clock's round, at injected instants: prompts at each person's local time, once; skipped, missed,
reminded; over SQLite and PostgreSQL, and with two processes ticking at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlmodel import select

from bot.clock import run_round
from bot.messages import reply_from_dict
from bot.schedule import zone_of
from storage.database import Database
from storage.models import CheckinPeriod, Identity, OutboxMessage, Person, as_utc

PEOPLE = {
    "ana@example.com": "America/New_York",
    "ravi@example.com": "Asia/Kolkata",
    "nina@example.com": "Europe/Berlin",
    "bo@example.com": "Pacific/Auckland",
    "lena@example.com": "Australia/Lord_Howe",
}


async def on_slack(db: Database, zones: dict[str, str] = PEOPLE) -> dict[str, int]:
    """Give the people Slack accounts and these zones; returns their ids."""
    ids = {}
    async with db.transaction() as session:
        for email, zone in zones.items():
            person = (await session.execute(select(Person).where(Person.email == email))).scalar_one()
            person.timezone = zone
            session.add(Identity(tenant_id=person.tenant_id, person_id=person.id, platform="slack",
                                 external_id="U" + email.split("@")[0].upper()))
            ids[email] = person.id
    return ids


async def prompts(db: Database, kind: str = "checkin") -> list[OutboxMessage]:
    async with db.transaction(write=False) as session:
        return list((await session.execute(
            select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id))).scalars())


async def periods(db: Database, people: dict[str, int]) -> list[CheckinPeriod]:
    """The periods of these people (everyone else in the org has no chat account: theirs are dropped)."""
    async with db.transaction(write=False) as session:
        return list((await session.execute(
            select(CheckinPeriod).where(CheckinPeriod.person_id.in_(people.values())).order_by(CheckinPeriod.id)
        )).scalars())


async def next_prompts(db: Database, ids: dict[str, int]) -> dict[str, datetime]:
    async with db.transaction(write=False) as session:
        return {email: as_utc((await session.get(Person, pid)).next_prompt_at) for email, pid in ids.items()}


def text_of(message: OutboxMessage) -> str:
    reply = reply_from_dict(message.body)
    return " ".join(getattr(b, "text", "") or getattr(b, "label", "") or getattr(b, "ref", "") for b in reply.blocks)


async def test_prompts_come_at_nine_local_in_every_zone_on_both_sides_of_each_change(org):
    ids = await on_slack(org.db)
    start = datetime(2027, 3, 1, tzinfo=UTC)
    await run_round(org.db, start)  # schedules everyone
    seen: dict[str, list[datetime]] = {email: [] for email in ids}
    # Ten weeks over March and April: the US, Europe, Auckland and Lord Howe all change clocks in them.
    for _ in range(10):
        due = await next_prompts(org.db, ids)
        for email, at in sorted(due.items(), key=lambda item: item[1]):
            key = f"prompt:{ids[email]}:{at.astimezone(zone_of(PEOPLE[email])).date()}"
            await run_round(org.db, at - timedelta(minutes=1), tenant="default")
            assert key not in {m.dedupe_key for m in await prompts(org.db)}, f"{email} was prompted early"
            await run_round(org.db, at)
            assert key in {m.dedupe_key for m in await prompts(org.db)}, f"{email} was not prompted at {at}"
            seen[email].append(at)
    for email, instants in seen.items():
        zone = zone_of(PEOPLE[email])
        locals_ = [instant.astimezone(zone) for instant in instants]
        assert all(local.time() == time(9, 0) and local.weekday() == 0 for local in locals_), email
        assert [b.date() - a.date() for a, b in zip(locals_, locals_[1:])] == [timedelta(days=7)] * 9
        if email != "ravi@example.com":
            assert len({local.utcoffset() for local in locals_}) == 2, f"{email}'s prompts crossed a change"
    sent = await prompts(org.db)
    assert len(sent) == 50 and len({m.dedupe_key for m in sent}) == 50


async def test_a_round_is_idempotent_and_queues_nothing_before_its_time(org):
    ids = await on_slack(org.db, {"ana@example.com": "Europe/Lisbon"})
    await org.say("ana@example.com", "goals add Cut churn")
    await org.say("bo@example.com", "goals approve G-1")
    await org.say("bo@example.com", "goals settings checkin off")  # he talks in the console: he would be prompted there
    monday = datetime(2027, 3, 8, 9, tzinfo=UTC)  # 09:00 in Lisbon (WET, UTC+0)
    await run_round(org.db, monday - timedelta(days=1))
    assert (await run_round(org.db, monday - timedelta(minutes=1))).prompts == 0
    assert (await run_round(org.db, monday)).prompts == 1
    assert (await run_round(org.db, monday)).prompts == 0
    assert (await run_round(org.db, monday + timedelta(minutes=5))).prompts == 0
    (prompt,) = await prompts(org.db)
    assert prompt.person_id == ids["ana@example.com"] and prompt.platform == "slack"
    # Deliverable at once, whatever instant the round was given; dropped if not sent by the end of that local day.
    assert as_utc(prompt.next_attempt_at) <= datetime.now(UTC)
    assert timedelta(hours=14, minutes=59) < as_utc(prompt.expires_at) - as_utc(prompt.created_at) <= timedelta(hours=15)
    (period,) = await periods(org.db, ids)
    assert (period.period, period.state, as_utc(period.remind_at)) == (date(2027, 3, 8), "prompted", monday + timedelta(hours=4))
    assert (await next_prompts(org.db, ids))["ana@example.com"] == monday + timedelta(days=7)


async def test_the_prompt_lists_active_goals_with_buttons_and_the_hint(org):
    ids = await on_slack(org.db, {"ana@example.com": "Europe/Lisbon", "ravi@example.com": "Europe/Lisbon"})
    await org.say("ana@example.com", "goals add Cut churn to 3% due:2027-06-30")
    await org.say("bo@example.com", "goals approve G-1")
    await org.say("ana@example.com", "goals kr add G-1 Churn 5->3 %")
    await org.say("ana@example.com", "goals progress G-1 on-track first cohort looks good")
    await org.say("bo@example.com", "goals add Platform goal level:team")
    await org.say("bo@example.com", "goals settings checkin off")  # he talks in the console: he would be prompted there
    monday = datetime(2027, 3, 8, 9, tzinfo=UTC)
    await run_round(org.db, monday - timedelta(days=1))
    assert (await run_round(org.db, monday)).prompts == 2
    by_person = {m.person_id: m for m in await prompts(org.db)}
    ana, ravi = by_person[ids["ana@example.com"]], by_person[ids["ravi@example.com"]]
    reply = reply_from_dict(ana.body)
    text = text_of(ana)
    assert "Check-in for the week of 2027-03-08" in text and "G-1" in text and "G-1.1" in text
    assert "last note: first cohort looks good" in str(reply.blocks)
    actions = [button for block in reply.blocks for button in getattr(block, "buttons", ())]
    assert [b.value for b in actions[:4]] == ["G-1 on_track", "G-1 at_risk", "G-1 off_track", "G-1 blocked"]
    assert actions[-1].action == "checkin.open"
    assert "Reply in one message, e.g. G-1.1 5; G-1 at risk waiting on legal" in text
    # Ravi has no active goal: he is invited to propose one, and is not reminded.
    assert "no active goals" in text_of(ravi)
    state = {p.person_id: p.remind_at for p in await periods(org.db, ids)}
    assert state[ravi.person_id] is None and state[ana.person_id] is not None


async def test_away_and_holidays_skip_and_a_stopped_clock_misses_rather_than_floods(org):
    ids = await on_slack(org.db, {"ana@example.com": "Europe/Berlin", "ravi@example.com": "Europe/Berlin",
                                  "nina@example.com": "Europe/Berlin"})
    await org.say("ana@example.com", "goals away until 2027-03-08")
    await org.say("maya@example.com", "goals admin holiday add 2027-03-15 Spring day")
    await org.say("maya@example.com", "goals settings checkin off")  # she talks in the console: she would be prompted there
    first = datetime(2027, 3, 8, 8, tzinfo=UTC)  # Monday 09:00 in Berlin
    await run_round(org.db, first - timedelta(days=1))
    tally = await run_round(org.db, first)
    assert (tally.prompts, tally.skipped) == (2, 1)
    tally = await run_round(org.db, first + timedelta(days=7))
    assert tally.prompts == 0, "the holiday skips everyone"
    assert {(p.state, p.reason) for p in await periods(org.db, ids) if p.period == date(2027, 3, 15)} == {("skipped", "holiday")}
    # The clock stops for three weeks; at restart two weeks' prompts are past their day (missed), and the
    # restart's own day is still on (prompted once).
    tally = await run_round(org.db, first + timedelta(days=28, hours=5))
    assert tally.prompts == 3
    assert sum(1 for p in await periods(org.db, ids) if p.state == "missed") == 6
    by_state: dict[str, int] = {}
    for period in await periods(org.db, ids):
        by_state[period.state] = by_state.get(period.state, 0) + 1
    assert by_state == {"skipped": 4, "prompted": 5, "missed": 6}
    # 09:00 in Berlin again, in summer time since 28 March: 07:00 UTC.
    assert (await next_prompts(org.db, ids))["ana@example.com"] == datetime(2027, 4, 12, 7, tzinfo=UTC)


async def test_one_reminder_to_those_who_have_not_answered(org):
    await on_slack(org.db, {"ana@example.com": "Europe/Lisbon", "ravi@example.com": "Europe/Lisbon"})
    for email in ("ana@example.com", "ravi@example.com"):
        await org.say(email, f"goals add Goal of {email}")
    await org.say("bo@example.com", "goals approve G-1")
    await org.say("bo@example.com", "goals approve G-2")
    monday = datetime(2027, 3, 8, 9, tzinfo=UTC)
    await run_round(org.db, monday - timedelta(days=1))
    await run_round(org.db, monday)
    await org.say("ana@example.com", "checkin G-1 40%")
    assert (await run_round(org.db, monday + timedelta(hours=3, minutes=59))).reminders == 0
    assert (await run_round(org.db, monday + timedelta(hours=4))).reminders == 1
    assert (await run_round(org.db, monday + timedelta(hours=5))).reminders == 0
    (reminder,) = await prompts(org.db, "reminder")
    async with org.db.transaction(write=False) as session:
        ravi = (await session.execute(select(Person).where(Person.email == "ravi@example.com"))).scalar_one()
    assert reminder.person_id == ravi.id and text_of(reminder).startswith("Reminder: Check-in for the week of 2027-03-08")


async def test_a_prompt_sent_late_is_reminded_of_after_the_delay_from_when_it_went_out(org):
    ids = await on_slack(org.db, {"ana@example.com": "Europe/Lisbon"})
    await org.say("ana@example.com", "goals add Cut churn")
    await org.say("bo@example.com", "goals approve G-1")
    monday = datetime(2027, 3, 8, 9, tzinfo=UTC)  # 09:00 in Lisbon; the reminder would be at 13:00
    await run_round(org.db, monday - timedelta(days=1))
    tally = await run_round(org.db, monday + timedelta(hours=5))  # the clock was stopped until 14:00
    assert tally.prompts >= 1 and tally.reminders == 0
    (period,) = [p for p in await periods(org.db, ids) if p.state == "prompted"]
    assert as_utc(period.remind_at) == monday + timedelta(hours=9)  # four hours after it went out: 18:00
    assert (await run_round(org.db, monday + timedelta(hours=9))).reminders == 1


async def test_reminders_off_and_late_ones_move_to_the_next_morning(org):
    ids = await on_slack(org.db, {"ana@example.com": "Europe/Lisbon"})
    await org.say("ana@example.com", "goals add Cut churn")
    await org.say("bo@example.com", "goals approve G-1")
    await org.say("ana@example.com", "goals settings checkin monday 18:00")
    monday = datetime(2027, 3, 8, 18, tzinfo=UTC)
    await run_round(org.db, monday - timedelta(days=1))
    await run_round(org.db, monday)
    (period,) = [p for p in await periods(org.db, ids) if p.state == "prompted"]
    assert as_utc(period.remind_at) == datetime(2027, 3, 9, 9, tzinfo=UTC)
    assert "admin" in await org.say("ana@example.com", "goals admin checkin reminder off")
    await org.say("maya@example.com", "goals admin checkin reminder off")
    await run_round(org.db, monday + timedelta(days=7))
    assert [p.remind_at for p in await periods(org.db, ids) if p.state == "prompted"][1] is None


async def test_a_changed_schedule_takes_effect_next_time_and_does_not_prompt_again(org):
    ids = await on_slack(org.db, {"ana@example.com": "Europe/Lisbon"})
    monday = datetime(2027, 3, 8, 9, tzinfo=UTC)
    await run_round(org.db, monday - timedelta(days=1))
    await run_round(org.db, monday)
    answer = await org.say("ana@example.com", "goals settings checkin monday 11:00")
    assert "Monday 2027-03-15 11:00 Europe/Lisbon" in answer
    assert (await run_round(org.db, monday + timedelta(hours=2))).prompts == 0
    assert (await next_prompts(org.db, ids))["ana@example.com"] == monday + timedelta(days=7, hours=2)
    assert "off" in await org.say("ana@example.com", "goals settings checkin off")
    assert (await run_round(org.db, monday + timedelta(days=7, hours=2))).prompts == 0
    await org.say("ana@example.com", "goals settings checkin on")
    assert (await next_prompts(org.db, ids))["ana@example.com"] is not None


async def test_unit_and_tenant_defaults_apply_to_those_without_their_own(org):
    ids = await on_slack(org.db, {"ana@example.com": "Europe/Lisbon", "nina@example.com": "Europe/Lisbon"})
    reply = await org.say("maya@example.com", "goals admin checkin default thursday 10:00 unit:Platform")
    assert "Platform" in reply and "Thursday 10:00" in reply
    await org.say("maya@example.com", "goals admin checkin default tuesday 08:30 biweekly")
    await run_round(org.db, datetime(2027, 3, 8, tzinfo=UTC))
    due = await next_prompts(org.db, ids)
    assert due["ana@example.com"].astimezone(zone_of("Europe/Lisbon")).strftime("%A %H:%M") == "Thursday 10:00"
    assert due["nina@example.com"].astimezone(zone_of("Europe/Lisbon")).strftime("%A %H:%M") == "Tuesday 08:30"
    assert "admins" in (await org.say("ana@example.com", "goals admin checkin default friday 10:00")).lower()


async def test_two_processes_ticking_at_once_queue_each_prompt_once(db, org):
    await on_slack(org.db, {email: "Europe/Berlin" for email in PEOPLE})
    await run_round(org.db, datetime(2027, 3, 1, tzinfo=UTC))
    other = org.db.another()
    try:
        monday = datetime(2027, 3, 8, 10, tzinfo=UTC)  # 11:00 in Berlin
        results = await asyncio.gather(*(run_round(database, monday) for database in (org.db, other, org.db, other)))
    finally:
        await other.dispose()
    # The inserts leave out keys already there, so a second process queueing the same prompt would
    # still count it: the counts match the rows only when each prompt was queued by one round.
    sent = await prompts(org.db)
    assert len(sent) == len(PEOPLE) and sum(r.prompts for r in results) == len(sent)
    async with org.db.transaction(write=False) as session:
        prompted = (await session.execute(sa.select(sa.func.count()).where(CheckinPeriod.state == "prompted"))).scalar()
    assert prompted == len(sent)


async def test_tick_refuses_an_unknown_tenant(org):
    try:
        await run_round(org.db, datetime(2027, 3, 1, tzinfo=UTC), tenant="nope")
    except LookupError as error:
        assert "nope" in str(error)
    else:
        raise AssertionError("an unknown tenant was accepted")


async def test_settings_show_the_next_prompt_that_will_really_come(org):
    await org.say("ana@example.com", "goals settings checkin monday 09:00")
    before = await org.say("ana@example.com", "goals settings")
    shown = before.split("Next prompt")[1].split()[1]  # the date after the weekday
    first = date.fromisoformat(shown)
    await org.say("maya@example.com", f"goals admin holiday add {first.isoformat()}")
    after_holiday = await org.say("ana@example.com", "goals settings")
    assert f"Monday {(first + timedelta(days=7)).isoformat()} 09:00" in after_holiday
    await org.say("ana@example.com", f"goals away until {(first + timedelta(days=7)).isoformat()}")
    assert f"Monday {(first + timedelta(days=14)).isoformat()} 09:00" in await org.say("ana@example.com", "goals settings")


async def test_stopping_the_clock_lets_the_round_under_way_end_and_give_back_its_connection(org):
    from bot.clock import Clock

    clock = Clock(org.db, lambda: None)
    clock.start()
    for _ in range(1000):  # the first round starts as soon as the loop runs it
        await asyncio.sleep(0)
        if clock.busy:
            break
    assert clock.busy
    await clock.stop()
    assert not clock.busy and org.db.engine.pool.checkedout() == 0
