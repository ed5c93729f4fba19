"""Errors a person can cause. Each carries the one line they will read."""


class UserError(Exception):
    """Something the person asked for cannot be done; nothing was changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ParseError(UserError):
    """The command is malformed. The message says what was wrong and shows the right form."""


class NotFound(UserError):
    """A goal, key result or person that does not exist (or that the actor may not see)."""


class Forbidden(UserError):
    """The actor may not do this; the message says who may."""
