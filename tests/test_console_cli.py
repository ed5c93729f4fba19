"""The `goalbot` command as a newcomer runs it: a scripted console conversation on an imported org."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ORG_CSV

GOALBOT = [sys.executable, "-m", "adapters.cli"]


def goalbot(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "GOALBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'goalbot.db'}"}
    return subprocess.run(
        [*GOALBOT, *args], input=stdin, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
        check=False,
    )


def session(tmp_path: Path, email: str, *lines: str) -> list[str]:
    """Everything a scripted console printed, block by block: replies, and what the bot sent people."""
    result = goalbot(tmp_path, "console", "--as", email, stdin="\n".join(lines) + "\n")
    # A refused line makes the script's exit status 1, and says so; anything else is a failure.
    assert result.returncode == 0 or (result.returncode == 1 and result.stderr.endswith("refused or failed.\n")), \
        result.stderr
    return result.stdout.rstrip("\n").split("\n\n")


def converse(tmp_path: Path, email: str, *lines: str) -> list[str]:
    """The replies to the lines (not the messages the bot sent people meanwhile)."""
    return [block for block in session(tmp_path, email, *lines) if not block.startswith("--- goalbot ")]


@pytest.fixture
def imported(tmp_path):
    (tmp_path / "people.csv").write_text(ORG_CSV)
    result = goalbot(tmp_path, "org", "import", "people.csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "7 people added, 0 updated, 0 unchanged; 5 org units created."
    return tmp_path


def test_scripted_conversation_on_an_imported_org(imported):
    converse(imported, "maya@example.com", "goals add Ship a product customers love level:company due:2027-12-31")
    converse(imported, "omar@example.com", "goals add Make the platform reliable level:department parent:G-1")
    converse(imported, "maya@example.com", "goals approve G-2")
    converse(imported, "bo@example.com", "goals add Halve paging incidents level:team parent:G-2", "goals add Keep CI fast level:team parent:G-2")
    converse(imported, "omar@example.com", "goals approve G-3", "goals approve G-4")

    replies = converse(imported, "ana@example.com", "goals add Tune alerting parent:G-3", "goals list mine")
    assert replies[0].startswith("Proposed G-5 Tune alerting. It waits for Bo Larsen to approve it.")
    assert "Not SMART yet: no measure" in replies[0] and "no due date" in replies[0]
    assert "G-5 [----------]   0%  Tune alerting (Ana Silva · proposed)" in replies[1]

    assert converse(imported, "bo@example.com", "goals approve G-5") == ["Approved G-5 Tune alerting. It is active."]
    replies = converse(imported, "ana@example.com", "goals kr add G-5 Noisy alerts 40->20", "goals kr G-5.1 30")
    assert replies[0].startswith("Added key result G-5.1 to G-5. G-5 is now at 0%.")
    assert replies[1].startswith("Updated G-5.1. G-5 is now at 50%.")

    tree = converse(imported, "ana@example.com", "goals tree G-1")[0]
    assert "G-2 [###-------]  25%  Make the platform reliable" in tree  # G-3 at 50%, G-4 at 0%
    assert "    G-5 [#####-----]  50%  Tune alerting (Ana Silva)" in tree
    assert tree.startswith("G-1 Ship a product customers love\nG-1 [###-------]  25%")

    # A loop is refused and shown; the tree is unchanged.
    assert converse(imported, "bo@example.com", "goals link G-4 G-3", "goals link G-3 G-4") == [
        "G-4 Keep CI fast now supports G-3 Halve paging incidents. (It supported G-2 before.)",
        "That would make a loop: G-3 → G-4 → G-3 (→ means supports). G-3 stays where it is.",
    ]
    # A private goal: hidden from a peer, shown to the manager.
    converse(imported, "ana@example.com", "goals add Find a mentor private")
    assert converse(imported, "ravi@example.com", "goals show G-6") == ["No goal G-6."]
    assert "Find a mentor" in converse(imported, "bo@example.com", "goals show G-6")[0]
    # Editing someone else's goal is refused.
    assert converse(imported, "ravi@example.com", "goals progress G-5 90") == [
        "Only Ana Silva, their managers and admins can update G-5."
    ]


def test_switching_people_inside_one_console(imported):
    shown = session(imported, "ana@example.com", "goals add Learn Rust", ":as bo@example.com", "goals approve G-1")
    assert shown[0].startswith("Proposed G-1 Learn Rust")
    # What the bot owes others is shown right after the reply that caused it, under whom it is for.
    assert shown[1].startswith("--- goalbot to bo@example.com (message 1) ---\nA goal to approve\n"
                               "Ana Silva proposed G-1 Learn Rust")
    assert "Approve: goals approve G-1   Return: goals return G-1 <reason>" in shown[1]
    # Bo arrives to what waits for him.
    assert shown[2].startswith("You are now bo@example.com.\nWaiting for you\nTo decide (1):") and "G-1" in shown[2]
    assert shown[3] == "Approved G-1 Learn Rust. It is active."
    assert shown[4].startswith("--- goalbot updated message 1 to bo@example.com ---")
    assert shown[5].startswith("--- goalbot to ana@example.com (message 2) ---")
    assert "Bo Larsen approved G-1 Learn Rust. It is active." in shown[5]


def test_a_check_in_comes_and_is_answered_in_the_console(imported):
    """`:tick` runs the clock at an instant: the prompt is printed, answered in one line, and a reminder
    goes only to who has not answered."""
    converse(imported, "ana@example.com", "goals add Cut churn", "goals add Write the runbook")
    converse(imported, "bo@example.com", "goals approve G-1", "goals approve G-2", "goals add Keep CI fast")
    converse(imported, "omar@example.com", "goals approve G-3")
    shown = session(imported, "ana@example.com", ":tick 2027-03-07T12:00:00Z", ":tick 2027-03-08T09:00:00Z",
                    "G-1 60% at risk waiting on legal; G-2 done", ":tick 2027-03-08T13:00:00Z")
    ticked = [block for block in shown if block.startswith("queued ")]
    # Ana (09:00 in Lisbon) and Bo (09:00 in Copenhagen, an hour before); Omar's 09:00 in Berlin too.
    assert ticked[1].startswith("queued 3 check-in prompts, 0 reminders")
    prompt = next(block for block in shown if block.startswith("--- goalbot to ana@example.com")
                  and "Check-in for the week of 2027-03-08" in block)
    assert "G-1 [----------]   0%  Cut churn" in prompt
    assert "Reply in one message, e.g. G-1 60% at risk waiting on legal; G-2 done" in prompt
    answer = next(block for block in shown if block.startswith("Thanks, your check-in"))
    assert "G-1 [######----]  60%  Cut churn (note: waiting on legal, at risk)" in answer
    # Four hours on, Bo is reminded: not Ana, who answered, nor Omar, who has no goal of his own.
    assert ticked[2].startswith("queued 0 check-in prompts, 1 reminder,")
    (reminder,) = [block for block in shown if "Reminder" in block]
    assert reminder.startswith("--- goalbot to bo@example.com") and "G-3" in reminder
    assert "'2027-03-08T09:00:00' has no zone; add Z for UTC" in converse(imported, "ana@example.com", ":tick 2027-03-08T09:00:00")[0]


def test_user_text_cannot_drive_the_terminal(imported):
    replies = converse(imported, "ana@example.com", "goals add Evil \x1b[2J\x1b]0;pwned\x07 title \u202eexe.txt")
    assert "\x1b" not in replies[0] and "\u202e" not in replies[0]
    # Control characters never get in (the core drops them); a bidi override is shown escaped.
    assert "Evil [2J]0;pwned title \\u202eexe.txt" in replies[0]


def test_demo_loads_once_and_answers(tmp_path):
    result = goalbot(tmp_path, "console", "--demo", stdin="goals list mine\ngoals list team\n")
    assert result.returncode == 0, result.stderr
    assert "Loaded the demo organisation" in result.stderr
    assert "Tune alerting to cut noise by half (Ana Silva, on track)" in result.stdout
    again = goalbot(tmp_path, "console", "--demo", "--as", "maya@example.com", stdin="goals list company\n")
    assert "Loaded" not in again.stderr
    assert "Grow ARR to $12M" in again.stdout


def test_bad_import_file_changes_nothing_and_names_the_line(imported):
    bad = ORG_CSV + "zed@example.com,Zed,ghost@example.com,,,member,UTC\n"
    (imported / "bad.csv").write_text(bad.replace("Europe/Lisbon", "Europe/Atlantis"))
    result = goalbot(imported, "org", "import", "bad.csv")
    assert result.returncode == 1
    assert "bad.csv line 5: `Europe/Atlantis` is not a time zone" in result.stderr
    assert "bad.csv line 9: the manager ghost@example.com is not in the file or the org" in result.stderr
    assert "Nothing was imported" in result.stderr
    again = goalbot(imported, "org", "import", "people.csv")
    assert again.stdout.strip() == "0 people added, 0 updated, 7 unchanged; 0 org units created."


def test_console_needs_to_know_who_you_are(tmp_path):
    result = goalbot(tmp_path, "console")
    assert result.returncode == 2
    assert "Say who you are: goalbot console --as you@example.com" in result.stderr


def test_db_upgrade_and_current(tmp_path):
    first = goalbot(tmp_path, "db", "upgrade")
    assert first.returncode == 0 and first.stdout.startswith("Upgraded the database from empty to ")
    assert goalbot(tmp_path, "db", "upgrade").stdout.startswith("The database is up to date")
    current = goalbot(tmp_path, "db", "current").stdout
    revision = current.split(";")[0].split(": ")[1]
    assert current.strip() == f"database: {revision}; goalbot needs: {revision}"


def test_switching_person_is_checked_and_shows_what_waits_for_them(imported):
    blocks = [block for block in goalbot(imported, "console", "--as", "ana@example.com", stdin="\n".join([
        "goals add Cut churn", ":as", ":as bo@exmple.com", ":as bo@example.com"]) + "\n").stdout.split("\n\n")
        if not block.startswith("--- goalbot ")]
    assert blocks[1].startswith("Say who: :as EMAIL switches to someone in the organisation")
    assert blocks[2] == "Nobody here has the email bo@exmple.com. Did you mean bo@example.com?"
    assert blocks[3].startswith("You are now bo@example.com.\nWaiting for you\nTo decide (1):") and "G-1" in blocks[3]


def test_a_script_with_a_refused_command_exits_non_zero(imported):
    done = goalbot(imported, "console", "--as", "ana@example.com", stdin="goals list mine\ngoals show G-99\n")
    assert done.returncode == 1 and "1 command refused or failed." in done.stderr
    assert goalbot(imported, "console", "--as", "ana@example.com", stdin="goals list mine\n").returncode == 0


def test_an_unknown_person_is_refused_unless_added_on_purpose(imported):
    refused = goalbot(imported, "console", "--as", "an@example.com", stdin="goals list mine\n")
    assert refused.returncode == 2 and "Nobody here has the email an@example.com. Did you mean ana@example.com?" in \
        refused.stderr
    added = goalbot(imported, "console", "--as", "newcomer@example.com", "--new", stdin="goals list mine\n")
    assert added.returncode == 0 and "You have no goals yet" in added.stdout


def test_the_demo_starts_again_with_reset(tmp_path):
    first = goalbot(tmp_path, "console", "--demo", stdin="goals add Something new\n")
    assert first.returncode == 0 and "Proposed G-33" in first.stdout
    again = goalbot(tmp_path, "console", "--demo", "--reset", stdin="goals add Something new\n")
    assert again.returncode == 0 and "Loaded the demo organisation" in again.stderr and "Proposed G-33" in again.stdout
    assert goalbot(tmp_path, "console", "--reset", "--as", "ana@example.com").returncode == 2


def test_two_spaces_and_a_hash_start_a_comment_in_the_console(imported):
    replies = converse(imported, "ana@example.com", "goals add Cut churn   # the first goal",
                       "goals add Fix PR #12 soon", "goals list mine  # mine only")
    assert replies[0].startswith("Proposed G-1 Cut churn.") and replies[1].startswith("Proposed G-2 Fix PR #12 soon.")
    assert "# mine only" not in replies[2] and "G-1" in replies[2]
