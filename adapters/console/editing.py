"""The interactive console's line editing (prompt_toolkit): history kept across sessions, and completion of
commands and of the goal references the person may see."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import Completer, Completion
from prompt_toolkit.history import FileHistory, InMemoryHistory
from prompt_toolkit.patch_stdout import patch_stdout

from bot.commands import USAGE

CONSOLE_WORDS = (":as", ":tick", ":quit")
FIRST_WORDS = ("goals", "checkin", *CONSOLE_WORDS)
REF_TYPED = re.compile(r"^g-?[0-9]*$", re.IGNORECASE)
HISTORY = Path.home() / ".goalbot_history"


class CommandCompleter(Completer):
    """Completes the first word, a `goals` command's verb, and goal references (with their titles)."""

    def __init__(self) -> None:
        self.goals: list[tuple[str, str]] = []  # (G-12, title) the person may see, refreshed after each line

    def get_completions(self, document, complete_event) -> Iterable[Completion]:
        before = document.text_before_cursor
        word = document.get_word_before_cursor(WORD=True)
        words = before.split()
        done = len(words) - (0 if before.endswith(" ") or not words else 1)  # words before the one being typed
        if done == 0:
            yield from self._matching(word, FIRST_WORDS)
        elif done == 1 and words[0].lower() == "goals":
            yield from self._matching(word, sorted(USAGE))
        if REF_TYPED.match(word) and done >= 1:
            typed = word.upper().replace("G", "G-", 1).replace("G--", "G-")
            for ref, title in self.goals:
                if ref.startswith(typed):
                    yield Completion(ref, start_position=-len(word), display_meta=title[:60])

    @staticmethod
    def _matching(word: str, options: Iterable[str]) -> Iterable[Completion]:
        for option in options:
            if option.startswith(word.lower()):
                yield Completion(option, start_position=-len(word))


def session(completer: CommandCompleter, history: Path | None = HISTORY) -> PromptSession:
    """A prompt with history (kept in ~/.goalbot_history when it can be written) and completion on Tab."""
    try:
        kept = FileHistory(str(history)) if history is not None else InMemoryHistory()
    except OSError:
        kept = InMemoryHistory()
    return PromptSession(history=kept, completer=completer, complete_while_typing=False)


async def prompted_lines(prompt: PromptSession, text: str) -> AsyncIterator[str]:
    """Lines typed at the prompt, until end of input (Ctrl-D); what the bot prints meanwhile goes above it."""
    while True:
        try:
            with patch_stdout(raw=True):
                line = await prompt.prompt_async(text)
        except EOFError:
            return
        except KeyboardInterrupt:
            continue  # Ctrl-C clears the line, as in a shell
        yield line
