"""The neutral message model: what adapters hand the core, and what it hands back.

Every string in a reply is plain text. Renderers escape all of it for their
platform; structure (headers, fields, progress bars, buttons) is carried by the
block kinds, never by markup inside strings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from storage.vocabulary import Health


class Do(StrEnum):
    """The actions buttons and forms name, shared by the core, its views and every adapter."""

    ADD_GOAL = "goal.add"
    APPROVE = "goal.approve"
    RETURN = "goal.return"
    OPEN_CHECKIN = "checkin.open"
    ANSWER_CHECKIN = "checkin.answer"
    SET_HEALTH = "checkin.health"  # a prompt's one-click health button: value "G-12 at_risk"
    PICK_GOAL = "checkin.pick"  # "which goal is that about?": value "G-12"
    SHOW = "goal.show"  # open a goal: value "G-12"
    NUDGE = "person.nudge"  # ask a report to check in: value their email (the presser must be their manager)
    EDIT = "goal.edit"  # open a goal's edit form, and submit it: value "G-12" (the presser must be allowed to change it)
    LINK = "goal.link"  # link a goal to a suggested parent: value "G-12 G-3" (the presser must be allowed to change G-12)


@dataclass(frozen=True)
class Actor:
    """The verified person behind a message, as the platform knows them."""

    platform: str  # "console", "slack", "teams"
    user_id: str  # the platform's id for the user (for the console: the email)
    tenant: str = "default"  # the goalbot tenant key
    email: str | None = None
    name: str | None = None
    timezone: str | None = None
    aliases: tuple[str, ...] = ()  # other addresses the platform knows them by (a user principal name, say)


@dataclass(frozen=True)
class Address:
    """Where a message goes, or where one came from: a person's direct message, or a channel.

    `channel` is the platform's id for a channel (None for a direct message); `user` is the
    platform's id for the person a direct message is with.
    """

    platform: str
    channel: str | None = None
    user: str | None = None

    @classmethod
    def direct(cls, platform: str, user: str) -> Address:
        return cls(platform, user=user)

    @classmethod
    def in_channel(cls, platform: str, channel: str) -> Address:
        return cls(platform, channel=channel)

    @property
    def is_channel(self) -> bool:
        return self.channel is not None


@dataclass(frozen=True)
class ChannelMention:
    """A channel named in a message, as the adapter found it on its platform.

    `text` is how it stands in the message's text (`#C0123`); `channel` the platform's id for it,
    None when the platform knows no such channel goalbot may see; `present` whether goalbot is in it.
    """

    text: str
    channel: str | None
    name: str
    present: bool = True


@dataclass(frozen=True)
class IncomingMessage:
    """A line of text a person sent to the bot, with the channels it names that the adapter looked up."""

    actor: Actor
    text: str
    address: Address
    channels: tuple[ChannelMention, ...] = ()


@dataclass(frozen=True)
class Action:
    """A button press or form submission. `value` is a hint; authorization uses `actor`."""

    actor: Actor
    name: str
    value: str
    address: Address
    form: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Dashboard:
    """A person opened their dashboard (the Slack Home tab): read like a command, changing nothing."""

    actor: Actor


Inbound = IncomingMessage | Action | Dashboard


# Reply blocks -----------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Context:
    """Small print: hints, timestamps, counts."""

    text: str


@dataclass(frozen=True)
class Fields:
    pairs: tuple[tuple[str, str], ...]


BAR_WIDTH = 10


@dataclass(frozen=True)
class Usage:
    """A command that would work, shown after a refusal."""

    command: str


@dataclass(frozen=True)
class ProgressLine:
    """A goal or key result with a progress bar.

    `ref` is the goal or key result reference; `depth` indents tree rows.
    """

    ref: str
    label: str
    percent: float
    detail: str = ""
    health: str | None = None
    depth: int = 0

    def bar(self, full: str = "█", empty: str = "░", width: int = BAR_WIDTH) -> str:
        """The progress as a bar of `width` cells, rounded half up (25 % of 10 cells is 3)."""
        filled = max(0, min(width, int(max(0.0, min(100.0, self.percent)) / 100 * width + 0.5)))
        return full * filled + empty * (width - filled)

    @property
    def rounded(self) -> str:
        """The percentage as shown: `62.5`, `60`."""
        return f"{round(self.percent, 1):g}"

    def parts(self, bar: str, marks: dict[str, str], escape: Callable[[str], str]) -> list[str]:
        """The status line's parts as a renderer shows them: its `bar` and the percentage, the health (its
        platform mark and words), the detail. Strings from people go through the renderer's `escape`."""
        parts = [f"{bar} {self.rounded}%"]
        if self.health:
            parts.append(f"{marks[self.health]} {Health.words_of(self.health)}" if self.health in marks
                         else escape(self.health))
        if self.detail:
            parts.append(escape(self.detail))
        return parts


@dataclass(frozen=True)
class Button:
    """A button; `command` is the text that does the same, for surfaces without buttons."""

    label: str
    action: str
    value: str
    command: str
    style: str = "default"  # "primary", "danger"


@dataclass(frozen=True)
class Buttons:
    buttons: tuple[Button, ...]


@dataclass(frozen=True)
class Divider:
    pass


@dataclass(frozen=True)
class Link:
    """A link to open in a browser; `tab` is what the platform's own tab opens with instead, when it has
    one (the Teams app's map tab takes the link's token), so the page opens inside the chat app."""

    label: str
    url: str
    tab: str = ""


Block = Header | Paragraph | Context | Fields | ProgressLine | Buttons | Divider | Usage | Link


@dataclass(frozen=True)
class Reply:
    """What the bot answers. `shared` replies are meant for everyone in the conversation."""

    blocks: tuple[Block, ...] = ()
    shared: bool = False
    error: bool = False
    more: int = 0  # rows left out of a long list

    @classmethod
    def text(cls, text: str, *, shared: bool = False) -> Reply:
        return cls(blocks=(Paragraph(text),), shared=shared)

    @classmethod
    def failure(cls, text: str, usage: str = "") -> Reply:
        """A refusal: what was wrong and, when given, the command that would work."""
        return cls(blocks=(Paragraph(text), *((Usage(usage),) if usage else ())), error=True)

    @classmethod
    def refusal(cls, error) -> Reply:
        """The reply to a UserError: its problem and usage."""
        return cls.failure(error.problem, error.usage)

    @property
    def summary(self) -> str:
        """A one-line fallback, for notifications and platforms that need plain text."""
        for block in self.blocks:
            if isinstance(block, Header | Paragraph):
                return block.text
        return ""


@dataclass
class ReplyBuilder:
    """Collects blocks for a Reply."""

    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> ReplyBuilder:
        self.blocks.extend(blocks)
        return self

    def build(self, *, shared: bool = False, more: int = 0) -> Reply:
        return Reply(blocks=tuple(self.blocks), shared=shared, more=more)


# Keeping replies in the outbox ------------------------------------------------------

_BLOCK_KINDS: dict[str, type] = {
    "header": Header, "paragraph": Paragraph, "context": Context, "fields": Fields,
    "progress": ProgressLine, "buttons": Buttons, "divider": Divider, "usage": Usage, "link": Link,
}
_KIND_OF = {kind: name for name, kind in _BLOCK_KINDS.items()}


def reply_to_dict(reply: Reply) -> dict:
    """A JSON-ready form of a reply, for the outbox."""
    blocks = []
    for block in reply.blocks:
        data = dict(block.__dict__)
        if isinstance(block, Fields):
            data["pairs"] = [list(pair) for pair in block.pairs]
        elif isinstance(block, Buttons):
            data["buttons"] = [dict(button.__dict__) for button in block.buttons]
        blocks.append({"kind": _KIND_OF[type(block)], **data})
    return {"blocks": blocks, "shared": reply.shared, "error": reply.error, "more": reply.more}


def reply_from_dict(data: dict) -> Reply:
    """A reply kept in the outbox, back as a Reply (the inverse of `reply_to_dict`)."""
    blocks: list[Block] = []
    for raw in data.get("blocks", []):
        fields = {key: value for key, value in raw.items() if key != "kind"}
        kind = _BLOCK_KINDS[raw["kind"]]
        if kind is Fields:
            fields["pairs"] = tuple(tuple(pair) for pair in fields["pairs"])
        elif kind is Buttons:
            fields["buttons"] = tuple(Button(**button) for button in fields["buttons"])
        blocks.append(kind(**fields))
    return Reply(blocks=tuple(blocks), shared=data.get("shared", False), error=data.get("error", False), more=data.get("more", 0))
