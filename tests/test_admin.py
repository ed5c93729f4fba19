"""What admins set for everyone: check-in defaults, reminders, holidays; and the outbox they watch."""

from __future__ import annotations

from sqlmodel import select

from storage.models import CheckinDefault, Holiday, OutboxMessage, Tenant

from tests.test_clock import on_slack


async def test_holidays_are_added_listed_and_removed_by_admins_only(org):
    assert "Added the holiday 2027-12-25" in await org.say("maya@example.com", "goals admin holiday add 2027-12-25 Christmas Day")
    await org.say("maya@example.com", "goals admin holiday add 2027-12-26")
    assert "2027-12-26 is a holiday already (no name)" in await org.say("maya@example.com",
                                                                         "goals admin holiday add 2027-12-26")
    assert "2027-12-26 was a holiday already; it is now called Boxing Day" in await org.say(
        "maya@example.com", "goals admin holiday add 2027-12-26 Boxing Day")
    listed = await org.say("ana@example.com", "goals admin holiday list")  # anyone may see them
    assert "2027-12-25" in listed and "Christmas Day" in listed and "Boxing Day" in listed
    refused = await org.say("ana@example.com", "goals admin holiday add 2027-12-31 New Year's Eve")
    assert refused.startswith("Only admins can change holidays")
    assert "2027-12-26 is no longer a holiday" in await org.say("maya@example.com", "goals admin holiday remove 2027-12-26")
    assert "2027-12-26 is not a holiday" in await org.say("maya@example.com", "goals admin holiday remove 2027-12-26")
    async with org.db.transaction(write=False) as session:
        assert [(h.day.isoformat(), h.name) for h in (await session.execute(select(Holiday))).scalars()] == [
            ("2027-12-25", "Christmas Day")]


async def test_bad_admin_input_is_one_line_with_the_right_form_and_changes_nothing(org):
    cases = {
        "goals admin checkin default funday 10:00": "goals admin checkin default <weekday> <HH:MM>",
        "goals admin checkin default monday 25:00": "is not a time of day",
        "goals admin checkin default monday": "needs a weekday and a time",
        "goals admin checkin default monday 09:00 unit:Nowhere": "There is no unit called `Nowhere`",
        "goals admin checkin reminder soon": "write it like 4h, 90m or 1h30m",
        "goals admin checkin reminder 100h": "1 minute to 72 hours",
        "goals admin holiday add 2027-02-30": "must be a day on the calendar",
        "goals admin outbox retry x": "goals admin outbox retry <id>",
        "goals admin lunch": "There is no admin command `lunch`",
    }
    for line, expected in cases.items():
        reply = await org.say("maya@example.com", line)
        assert expected in reply, (line, reply)
        problem, *usage = reply.splitlines()  # the problem in one line, then the form that works
        assert usage == [] or (len(usage) == 1 and usage[0].startswith("  Try: goals admin")), (line, reply)
    async with org.db.transaction(write=False) as session:
        assert (await session.execute(select(CheckinDefault))).first() is None
        assert (await session.execute(select(Holiday))).first() is None
        assert (await session.execute(select(Tenant.reminder_minutes))).scalar() == 240


async def test_admin_alone_answers_with_the_admin_help(org):
    reply = await org.say("ana@example.com", "goals admin")
    assert "goals admin checkin default" in reply and "goals admin holiday" in reply


async def test_the_outbox_shows_counts_and_failures_and_a_failed_message_is_retried(org):
    await on_slack(org.db, {"bo@example.com": "Europe/Copenhagen"})
    await org.say("ana@example.com", "goals add Cut churn")  # Bo is owed an approval request
    async with org.db.transaction() as session:
        row = (await session.execute(select(OutboxMessage))).scalar_one()
        row.state, row.last_error = "failed", "channel_not_found"
    report = await org.say("maya@example.com", "goals admin outbox")
    assert "approval failed" in report and "1" in report
    assert f"#{row.id} approval to bo@example.com, failed: channel_not_found" in report
    assert (await org.say("bo@example.com", "goals admin outbox")).startswith("Only admins can see the outbox")
    assert "will be sent again now" in await org.say("maya@example.com", f"goals admin outbox retry {row.id}")
    async with org.db.transaction(write=False) as session:
        again = await session.get(OutboxMessage, row.id)
        assert (again.state, again.attempts) == ("pending", 0)
    assert "only failed, uncertain or dropped" in await org.say("maya@example.com", f"goals admin outbox retry {row.id}")
    assert "There is no message 999" in await org.say("maya@example.com", "goals admin outbox retry 999")
    async with org.db.transaction() as session:
        (await session.get(OutboxMessage, row.id)).last_error = "unreachable: waiting for them to open goalbot in Teams"
    report = await org.say("maya@example.com", "goals admin outbox")
    assert "Waiting for someone to open goalbot" in report
    assert f"#{row.id} approval to bo@example.com: waiting for them to open goalbot in Teams" in report


async def test_reminder_delay_is_set_by_admins(org):
    assert "1 h 30 min after their prompt" in await org.say("maya@example.com", "goals admin checkin reminder 90m")
    async with org.db.transaction(write=False) as session:
        assert (await session.execute(select(Tenant.reminder_minutes))).scalar() == 90
    assert "4 h after" in await org.say("maya@example.com", "goals admin checkin reminder 4h")
    assert "No more check-in reminders" in await org.say("maya@example.com", "goals admin checkin reminder off")
    assert (await org.say("ana@example.com", "goals admin checkin reminder 2h")).startswith("Only admins")
