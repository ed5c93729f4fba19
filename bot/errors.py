"""Errors a person can cause. Each carries what was wrong and, when it helps, the form that works."""

from __future__ import annotations


class UserError(Exception):
    """Something the person asked for cannot be done; nothing was changed.

    `problem` is the one line they read; `usage` (optional) is a command that would work,
    which each renderer shows its own way.
    """

    def __init__(self, problem: str, usage: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.usage = usage

    @property
    def message(self) -> str:
        """Problem and usage as one sentence, for surfaces with a single line (a form field, a log)."""
        if not self.usage:
            return self.problem
        stop = "" if self.problem.endswith((".", "?", "!")) else "."
        return f"{self.problem}{stop} Try: {self.usage}"


class ParseError(UserError):
    """The command is malformed: `problem` says what was wrong, `usage` shows the right form."""


class NotFound(UserError):
    """A goal, key result or person that does not exist (or that the actor may not see)."""


class Forbidden(UserError):
    """The actor may not do this; the message says who may."""
