"""The interactive console's line editing: completion of commands and of the goals the person may see,
history across sessions, and a whole conversation typed through prompt_toolkit (a pipe for a keyboard)."""

from __future__ import annotations

import io

from prompt_toolkit.application import create_app_session
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from adapters.console.chat import ConsoleChat, converse
from adapters.console.editing import CommandCompleter, session


def completions(completer: CommandCompleter, typed: str) -> list[str]:
    return [c.text for c in completer.get_completions(Document(typed), CompleteEvent(completion_requested=True))]


def test_commands_and_goal_references_complete():
    completer = CommandCompleter()
    completer.goals = [("G-1", "Grow revenue"), ("G-12", "Cut churn"), ("G-2", "Ship v2")]
    assert completions(completer, "go") == ["goals"]
    assert completions(completer, ":") == [":as", ":tick", ":quit"]
    assert "edit" in completions(completer, "goals ed") and "resubmit" in completions(completer, "goals re")
    assert completions(completer, "goals show G-1") == ["G-1", "G-12"]
    assert completions(completer, "goals show g1") == ["G-1", "G-12"]
    assert completions(completer, "checkin G-2") == ["G-2"]
    assert completions(completer, "G-1") == []  # the first word is a command, not a reference


def test_history_is_kept_across_sessions(tmp_path):
    kept = tmp_path / "history"
    for line in ("goals list mine", "goals show G-1"):
        with create_pipe_input() as keys:
            keys.send_text(line + "\r")
            with create_app_session(input=keys, output=DummyOutput()):
                assert session(CommandCompleter(), kept).prompt() == line
    with create_pipe_input() as keys:
        keys.send_text("\x1b[A\r")  # the up arrow brings back the last line
        with create_app_session(input=keys, output=DummyOutput()):
            assert session(CommandCompleter(), kept).prompt() == "goals show G-1"


async def test_a_conversation_typed_at_the_prompt(org, tmp_path, monkeypatch):
    monkeypatch.setattr("adapters.console.editing.HISTORY", tmp_path / "history")
    await org.say("ana@example.com", "goals add Cut churn")
    out = io.StringIO()
    with create_pipe_input() as keys:
        keys.send_text("goals list mine\r")
        keys.send_text("goals show G-1\r")
        keys.send_text(":quit\r")
        with create_app_session(input=keys, output=DummyOutput()):
            failed = await converse(ConsoleChat(org.bot, "ana@example.com"), interactive=True, out=out, clock=False,
                                    editing=True)
    shown = out.getvalue()
    assert failed == 0 and "Your goals" in shown and "G-1 Cut churn" in shown and "Status    proposed" in shown, shown
