"""Editing a goal: `goals edit G-12 title:"..." due:... level:... private|public ...`, all of it or none,
by whoever may change the goal, each change kept in the goal's history with what it was before."""

from __future__ import annotations

from sqlmodel import select

from storage.models import Goal, GoalEvent, OutboxMessage


async def goal(db, number: int) -> Goal:
    async with db.transaction(write=False) as session:
        return (await session.execute(select(Goal).where(Goal.number == number))).scalar_one()


async def history(db, number: int) -> list[GoalEvent]:
    async with db.transaction(write=False) as session:
        found = await goal(db, number)
        return list((await session.execute(
            select(GoalEvent).where(GoalEvent.goal_id == found.id).order_by(GoalEvent.id))).scalars())


async def test_an_owner_changes_title_dates_category_and_description_at_once(org):
    await org.say("ana@example.com", "goals add Cut churn to 3% due:2027-06-30")
    said = await org.say("ana@example.com", 'goals edit G-1 title:"Cut churn to 2%" due:2027-09-30 start:2027-01-04 '
                                            'cat:development description:"What we lose each month"')
    assert said.startswith("Changed G-1: title “Cut churn to 3%” → “Cut churn to 2%”; start "), said
    assert "→ 2027-01-04; due 2027-06-30 → 2027-09-30; category business → development; description none → “What we lose" \
        in said, said
    edited = await goal(org.db, 1)
    assert (edited.title, str(edited.due_date), str(edited.start_date), edited.category, edited.description) == (
        "Cut churn to 2%", "2027-09-30", "2027-01-04", "development", "What we lose each month")
    last = (await history(org.db, 1))[-1]
    assert last.action == "edited"
    assert last.before["title"] == "Cut churn to 3%" and last.after["title"] == "Cut churn to 2%"
    assert last.before["due_date"] == "2027-06-30" and last.after["due_date"] == "2027-09-30"
    shown = await org.say("ana@example.com", "goals show G-1")
    assert "Ana Silva: edited title, start, due, category, description" in shown, shown
    # Unquoted, a title runs to the next field; due:none clears the due date.
    said = await org.say("ana@example.com", "goals edit G-1 title:Cut churn to 1.5% due:none")
    assert (await goal(org.db, 1)).title == "Cut churn to 1.5%" and (await goal(org.db, 1)).due_date is None, said


async def test_the_request_waiting_on_the_manager_says_what_the_goal_is_now(org):
    await org.say("ana@example.com", "goals add Cut churn to 3%")
    await org.say("ana@example.com", 'goals edit G-1 title:"Cut churn to 2%"')
    async with org.db.transaction(write=False) as session:
        requests = (await session.execute(select(OutboxMessage).where(OutboxMessage.kind == "approval"))).scalars().all()
    assert len(requests) == 1 and "Cut churn to 2%" in str(requests[0].body)


async def test_bad_edits_are_one_line_and_change_nothing(org):
    await org.say("ana@example.com", "goals add Launch the beta due:2027-06-30")
    refusals = {
        "goals edit G-1 title:Launch the beta public": 'Say title:"Launch the beta public" for the one, or '
                                                       'title:"Launch the beta" public for the other',
        "goals edit G-1 private public": "Say private or public, not both",
        "goals edit G-1 sparkle": "`sparkle` is not something goals edit changes",
        "goals edit G-1 due:2027-01-01 start:2027-02-01": "The due date 2027-01-01 is before the start date 2027-02-01",
        "goals edit G-1 start:2027-07-01": "The due date 2027-06-30 would be before the start date 2027-07-01",
        'goals edit G-1 title:"Launch': "The quote before",
        "goals edit G-1 title:": "`title:` needs a value",
        "goals edit G-1 due:soonish": "due",
        "goals edit G-1 level:galaxy": "Level must be company, department, team or individual",
        "goals edit G-1 title:A title:B": "`title:` is given twice",
        "goals edit G-1 title:Launch the beta": "G-1 says that already; nothing changed",
        "goals edit G-99 title:X": "No goal G-99",
        "goals edit": "Say which goal to change",
    }
    for line, expected in refusals.items():
        said = await org.say("ana@example.com", line)
        assert expected in said, (line, said)
    assert (await org.say("ravi@example.com", "goals edit G-1 title:Mine now")).startswith(
        "Only Ana Silva, their managers and admins can edit G-1")
    unchanged = await goal(org.db, 1)
    assert (unchanged.title, str(unchanged.due_date)) == ("Launch the beta", "2027-06-30")
    assert [event.action for event in await history(org.db, 1)] == ["proposed"]


async def test_a_goal_moves_up_a_level_to_its_owners_unit_and_never_down(org):
    said = await org.say("omar@example.com", "goals add Platform reliability level:department")
    assert said.startswith("Proposed G-1"), said  # Engineering's, whose lead Omar is
    await org.say("maya@example.com", "goals approve G-1")
    said = await org.say("ana@example.com", "goals add Tune the alerts parent:G-1")
    assert said.startswith("Proposed G-2"), said  # Ana's own
    said = await org.say("ana@example.com", "goals edit G-2 level:team")
    assert "Only the lead of Platform" in said, said  # a team goal is its lead's to set
    said = await org.say("bo@example.com", "goals edit G-2 level:team")
    assert said.startswith("Changed G-2: level individual → team"), said
    moved = await goal(org.db, 2)
    assert moved.owner_person_id is None and moved.owner_unit_id is not None
    said = await org.say("bo@example.com", "goals edit G-2 level:company")
    assert "G-2 supports G-1, a department goal; a company goal can only support" in said, said
    said = await org.say("omar@example.com", "goals edit G-1 level:team")
    assert "goals assign <title> owner:@name parent:G-1" in said, said
    assert (await goal(org.db, 1)).level == "department" and (await goal(org.db, 2)).level == "team"


async def test_a_goal_others_support_stays_public_while_they_could_not_see_it(org):
    await org.say("bo@example.com", "goals add Platform reliability level:team")  # G-1, Platform's
    await org.say("omar@example.com", "goals approve G-1")
    await org.say("nina@example.com", "goals add Sell the reliability story parent:G-1")  # G-2, Sales
    said = await org.say("bo@example.com", "goals edit G-1 private")
    assert "G-1 stays public: G-2 (Nina Kowalski) supports it" in said, said
    assert not (await goal(org.db, 1)).private
    await org.say("nina@example.com", "goals unlink G-2")
    said = await org.say("bo@example.com", "goals edit G-1 private")
    assert said.startswith("Changed G-1: privacy public → private"), said
    assert "No goal G-1" in await org.say("nina@example.com", "goals show G-1")


async def test_edit_alone_shows_the_goal_as_an_edit_to_start_from(org):
    await org.say("ana@example.com", "goals add Cut churn to 3% due:2027-06-30 private")
    said = await org.say("ana@example.com", "goals edit G-1")
    assert 'goals edit G-1 title:"Cut churn to 3%" due:2027-06-30' in said and "private" in said, said
    assert await org.say("nina@example.com", "goals edit G-1") == "No goal G-1."  # private, and not hers to see
    await org.say("ana@example.com", "goals edit G-1 public")
    assert (await org.say("nina@example.com", "goals edit G-1")).startswith("Only Ana Silva, their managers and admins")


async def test_a_goal_put_away_is_reopened_before_it_is_edited(org):
    await org.say("ana@example.com", "goals add Cut churn to 3%")
    await org.say("ana@example.com", "goals archive G-1")
    said = await org.say("ana@example.com", "goals edit G-1 title:Cut churn to 2%")
    assert "G-1 is archived" in said and (await goal(org.db, 1)).title == "Cut churn to 3%", said
