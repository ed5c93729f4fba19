"""`goalbot tick` as an operator runs it from cron: one round at an instant, one fixed line."""

import sqlite3

from tests.test_console_cli import goalbot, imported  # noqa: F401 - the fixture


def give_slack_account(tmp_path, email: str, user: str) -> None:
    with sqlite3.connect(tmp_path / "goalbot.db") as connection:
        person, tenant = connection.execute("SELECT id, tenant_id FROM person WHERE email = ?", (email,)).fetchone()
        connection.execute("INSERT INTO identity (tenant_id, person_id, platform, external_id, created_at) "
                           "VALUES (?, ?, 'slack', ?, '2026-12-01 00:00:00')", (tenant, person, user))


def test_tick_queues_what_is_due_once_and_says_so_in_one_line(imported):  # noqa: F811
    give_slack_account(imported, "ana@example.com", "UANA")
    first = goalbot(imported, "tick", "--now", "2027-03-08T14:00:00Z")
    assert first.returncode == 0, first.stderr
    assert first.stdout == "queued 0 check-in prompts, 0 reminders, 0 escalations, 0 digests, 0 summaries, 0 nudges\n"
    # Monday 09:00 in Lisbon is 09:00 UTC in March.
    due = goalbot(imported, "tick", "--now", "2027-03-15T09:00:00Z", "--tenant", "default")
    assert due.stdout == "queued 1 check-in prompt, 0 reminders, 0 escalations, 0 digests, 0 summaries, 0 nudges\n"
    # Why the others were not: on standard error, so the line above stays one fixed line.
    assert "5 not reachable in chat" in due.stderr  # those due then (Kolkata to Lisbon), all but Ana
    again = goalbot(imported, "tick", "--now", "2027-03-15T09:00:00+00:00")
    assert again.stdout.startswith("queued 0 check-in prompts, 0 reminders"), again.stdout
    reminded = goalbot(imported, "tick", "--now", "2027-03-15T13:00:00Z")
    assert reminded.stdout.startswith("queued 0 check-in prompts, 0 reminders"), "no goal, no reminder"


def test_tick_refuses_an_instant_without_a_zone_and_an_unknown_tenant(imported):  # noqa: F811
    naive = goalbot(imported, "tick", "--now", "2027-03-08T14:00")
    assert naive.returncode == 2 and "has no zone; add Z for UTC" in naive.stderr
    garbage = goalbot(imported, "tick", "--now", "next monday")
    assert garbage.returncode == 2 and "is not an instant" in garbage.stderr
    unknown = goalbot(imported, "tick", "--tenant", "nope")
    assert unknown.returncode == 1 and "There is no tenant 'nope'." in unknown.stderr
