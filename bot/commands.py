"""The command language: text in, a typed command out (or a ParseError saying why not)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time

from bot import values
from bot.errors import ParseError
from storage.vocabulary import Category, Health, Level
from bot.values import BadValue, quote

LEVEL_WORDS = {
    **{level.value: level for level in Level},
    "dept": Level.DEPARTMENT,
    "personal": Level.INDIVIDUAL,
}
# Each health as people type it: "at-risk", "at_risk", "atrisk".
HEALTH_WORDS = {
    spelling: health
    for health in Health
    for spelling in (health.value, health.value.replace("_", "-"), health.value.replace("_", ""))
} | {"green": Health.ON_TRACK, "amber": Health.AT_RISK, "yellow": Health.AT_RISK, "red": Health.OFF_TRACK,
     "unblocked": Health.ON_TRACK}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
CATEGORIES = tuple(category.value for category in Category)

# One line per command: the right form, shown in help and after a malformed command.
USAGE: dict[str, str] = {
    "help": "goals help [command]",
    "add": "goals add <title> [parent:G-3] [due:2027-03-31] [level:team] [owner:@ana] [category:development] [private]",
    "list": "goals list [mine|team|company|pending|@person|unit:<name>] [all] [page:2]",
    "show": "goals show G-12",
    "edit": 'goals edit G-12 [title:"..."] [due:2027-06-30|none] [start:2027-01-04] [category:development] '
            '[level:team] [private|public] [description:"..."]   (goals edit G-12 alone opens the form)',
    "tree": "goals tree [G-1]",
    "link": "goals link G-12 G-3   (G-12 now supports G-3)",
    "unlink": "goals unlink G-12",
    "approve": "goals approve G-12",
    "return": "goals return G-12 <reason>",
    "assign": "goals assign <title> owner:@ana [parent:G-3] [due:2027-03-31]",
    "progress": "goals progress G-12 60 [on-track|at-risk|off-track|blocked] [note]   or   goals progress G-12 note: <note>"
                "   (green = on track, amber or yellow = at risk, red = off track)",
    "kr": "goals kr add G-12 <metric> <start>-><target> [unit]   or   goals kr G-12.1 <current> (or 50%: half the way)"
          "   or   goals kr edit G-12.1 [metric] [<start>-><target>] [unit]   or   goals kr remove G-12.1",
    "milestone": "goals milestone add G-12 <title> [due:2027-03-31]   or   goals milestone done|remove G-12 <n>",
    "done": "goals done G-12   (goals done G-12 anyway, when its key results are short of their targets)",
    "archive": "goals archive G-12",
    "resubmit": "goals resubmit G-12 [what changed]   (a returned goal, asked again)",
    "reopen": "goals reopen G-12   (an achieved, missed or archived goal, open again)",
    "withdraw": "goals withdraw G-12   (a proposal you no longer want)",
    "kudos": "goals kudos @ana [G-12] <message>",
    "settings": "goals settings checkin <weekday> <HH:MM> [weekly|biweekly] | off | on | default   or   "
                "goals settings digest <weekday> <HH:MM> | off | on   or   goals settings nudges off | on   or   "
                "goals settings timezone Europe/Paris",
    "away": "goals away until 2027-01-05   or   goals back",
    "digest": "goals digest   or   goals digest pending|blocked|at-risk|missing|stale|unaligned|overdue|duplicates",
    "nudge": "goals nudge @ana",
    "map": "goals map [G-12|mine|team|<unit>]   (a link to the goal map, for you only)   or   goals map revoke   "
           "(every map link you were given stops working)",
    "checkin": "checkin G-12 60% at-risk waiting on legal; G-14 done",
    "admin": "goals admin checkin default <weekday> <HH:MM> [weekly|biweekly] [unit:<name>]   or   goals admin checkin reminder 4h|off"
             "   or   goals admin holiday add|list|remove 2027-12-25 [name]   or   goals admin outbox [retry <id>]"
             "   or   goals admin alignment [unit]   or   goals admin summary add #channel <unit|company> weekly|biweekly "
             "<weekday> <HH:MM> | list | remove S-1 (a unit's lead may too, for their unit)",
}
ADMIN_USAGE = {
    "default": "goals admin checkin default <weekday> <HH:MM> [weekly|biweekly] [unit:<name>]",
    "reminder": "goals admin checkin reminder 4h|90m|off",
    "holiday": "goals admin holiday add 2027-12-25 [name]   or   goals admin holiday list   or   goals admin holiday remove 2027-12-25",
    "outbox": "goals admin outbox   or   goals admin outbox retry <id>",
    "alignment": "goals admin alignment   or   goals admin alignment <unit>",
    "summary": "goals admin summary add #channel <unit|company> weekly|biweekly <weekday> <HH:MM>   or   "
               "goals admin summary list   or   goals admin summary remove S-1",
    "person": "goals admin person export <email>   or   goals admin person erase <email> [confirm]",
}
SUMMARY: dict[str, str] = {
    "help": "this list, or the details of one command",
    "add": "propose a goal; your manager approves it",
    "list": "goals: yours, your team's, the company's, someone's, or those waiting for you (pending)",
    "show": "one goal with its key results, milestones and history",
    "edit": "change a goal's title, dates, category, level, privacy or description",
    "tree": "how goals align, from the company down",
    "link": "make a goal support a parent goal",
    "unlink": "detach a goal from its parent",
    "approve": "approve a proposed goal (or accept one assigned to you)",
    "return": "send a proposed goal back with a reason",
    "assign": "cascade a goal to someone who reports to you",
    "progress": "update progress, health and a note",
    "kr": "add, update, change or remove a key result",
    "milestone": "add a milestone, tick it off or remove it",
    "done": "mark a goal achieved",
    "archive": "archive a goal",
    "resubmit": "send a returned goal again, once changed",
    "reopen": "bring back an achieved, missed or archived goal",
    "withdraw": "take back a proposal (anything older is archived)",
    "kudos": "thank someone, for a goal or in general",
    "settings": "your check-in day, time and cadence, your digest, nudges and time zone",
    "away": "skip check-ins while you are away",
    "digest": "managers: where your team's alignment stands, now (all of one part: goals digest at-risk)",
    "nudge": "managers: ask someone who reports to you to check in",
    "map": "a link to the goal map in your browser: the whole tree, a goal's, a unit's or yours",
    "checkin": "answer your check-in in one message (say `checkin` alone to see your goals)",
    "admin": "admins: check-in defaults, reminders, holidays, the outbox, alignment by department; channel summaries (a unit's lead too)",
}

# `goals help`: the commands by what a person wants to do, each in its short form.
HELP_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Set goals", ("add", "assign", "edit", "link", "unlink", "kr", "milestone")),
    ("Keep them moving", ("checkin", "progress", "done", "reopen", "archive")),
    ("Decide on proposals", ("approve", "return", "resubmit", "withdraw")),
    ("See where things stand", ("list", "show", "tree", "map", "digest")),
    ("People and your settings", ("kudos", "nudge", "away", "settings")),
    ("Run the organisation, and this help", ("admin", "help")),
)
SHORT_USAGE = {
    "add": "goals add <title> [parent:G-3] [due:...]",
    "assign": "goals assign <title> owner:@ana",
    "edit": 'goals edit G-12 title:"..." due:...',
    "link": "goals link G-12 G-3",
    "unlink": "goals unlink G-12",
    "kr": "goals kr add|edit|remove ...",
    "milestone": "goals milestone add|done|remove ...",
    "checkin": "checkin G-12 60% at-risk <note>",
    "progress": "goals progress G-12 60 [health] [note]",
    "done": "goals done G-12",
    "reopen": "goals reopen G-12",
    "archive": "goals archive G-12",
    "approve": "goals approve G-12",
    "return": "goals return G-12 <reason>",
    "resubmit": "goals resubmit G-12 [note]",
    "withdraw": "goals withdraw G-12",
    "list": "goals list [mine|team|pending|...]",
    "show": "goals show G-12",
    "tree": "goals tree [G-1]",
    "map": "goals map [G-12|mine|team|<unit>]",
    "digest": "goals digest",
    "kudos": "goals kudos @ana [G-12] <message>",
    "nudge": "goals nudge @ana",
    "away": "goals away until <date>",
    "settings": "goals settings [checkin|digest|nudges|timezone ...]",
    "admin": "goals admin ...",
    "help": "goals help [command]",
}

GOAL_REF = re.compile(r"^g-?([0-9]{1,9})$", re.IGNORECASE | re.ASCII)
KR_REF = re.compile(r"^g-?([0-9]{1,9})\.([0-9]{1,4})$", re.IGNORECASE | re.ASCII)
# A number as the key result form reads it; values.number decides whether it is one.
NUMBER = r"[-+]?[0-9]+(?:[.,][0-9]+)*"
KR_SPEC = re.compile(
    rf"^(?P<metric>.+?)\s+(?P<start>{NUMBER})(?P<u1>[^\s0-9.,+-]*)\s*(?:->|→|\bto\b)\s*"
    rf"(?P<target>{NUMBER})(?P<u2>[^\s0-9]*)\s*(?P<unit>.*)$",
    re.IGNORECASE,
)
MENTION = re.compile(r"^(?:<@([A-Za-z0-9._-]+)(?:\|[^>]*)?>|@(\S+))$")
MAX_TITLE = 200
MAX_NOTE = 1000
MAX_PAGE = 10_000
MULTIPLIERS = ("k", "m", "b", "bn", "mn")  # 28k: 28 thousand, or 28 of a unit called k? Never guessed.


# The commands ---------------------------------------------------------------


@dataclass(frozen=True)
class Help:
    topic: str | None = None
    writes = False


@dataclass(frozen=True)
class GoalDraft:
    """What `add` and `assign` carry: a goal to create."""

    title: str
    parent: int | None = None
    due: date | None = None
    start: date | None = None
    level: str | None = None
    owner: str | None = None
    category: str | None = None
    private: bool = False
    description: str = ""


@dataclass(frozen=True)
class Add:
    draft: GoalDraft
    writes = True


@dataclass(frozen=True)
class Assign:
    draft: GoalDraft
    writes = True


@dataclass(frozen=True)
class ListGoals:
    scope: str = "mine"  # mine | team | company | person | unit
    person: str | None = None  # the person's mention, or the unit's name
    include_all: bool = False
    page: int = 1
    writes = False


@dataclass(frozen=True)
class Show:
    goal: int
    writes = False


@dataclass(frozen=True)
class Edit:
    """`goals edit G-12 title:"..." due:...`: the fields to change, each (name, new value); a due date of
    None clears it. All of them or none."""

    goal: int
    changes: tuple[tuple[str, object], ...]
    writes = True


@dataclass(frozen=True)
class EditForm:
    """`goals edit G-12` alone: the goal's edit form, filled in."""

    goal: int
    writes = False


@dataclass(frozen=True)
class PersonData:
    """`goals admin person export|erase <email>`: what goalbot holds about someone, or their erasure."""

    action: str  # export | erase
    email: str
    confirmed: bool = False
    writes = True


@dataclass(frozen=True)
class Tree:
    goal: int | None = None
    writes = False


@dataclass(frozen=True)
class Link:
    goal: int
    parent: int
    writes = True


@dataclass(frozen=True)
class MapOpen:
    """`goals map [G-n|mine|team|<unit>]`: a link to the goal map, the whole of it or one part."""

    goal: int | None = None
    unit: str | None = None
    part: str = "all"  # all | mine | team
    writes = False


@dataclass(frozen=True)
class MapRevoke:
    """`goals map revoke`: every map link the person was given stops working."""

    writes = True


@dataclass(frozen=True)
class Unlink:
    goal: int
    writes = True


@dataclass(frozen=True)
class Approve:
    goal: int
    writes = True


@dataclass(frozen=True)
class Return:
    goal: int
    reason: str
    writes = True


@dataclass(frozen=True)
class Progress:
    goal: int
    percent: float | None = None
    health: str | None = None
    note: str = ""
    writes = True


@dataclass(frozen=True)
class KeyResultAdd:
    goal: int
    metric: str
    start: float
    target: float
    unit: str = ""
    writes = True


@dataclass(frozen=True)
class KeyResultUpdate:
    goal: int
    position: int
    current: float
    of_the_way: bool = False  # `50%`: the share of the way from start to target, not a value
    writes = True


@dataclass(frozen=True)
class KeyResultEdit:
    goal: int
    position: int
    metric: str | None = None
    start: float | None = None
    target: float | None = None
    unit: str | None = None
    writes = True


@dataclass(frozen=True)
class KeyResultRemove:
    goal: int
    position: int
    writes = True


@dataclass(frozen=True)
class MilestoneChange:
    goal: int
    position: int
    done: bool  # else removed
    writes = True


@dataclass(frozen=True)
class MilestoneAdd:
    goal: int
    title: str
    due: date | None = None
    writes = True


@dataclass(frozen=True)
class Done:
    goal: int
    anyway: bool = False  # achieved though its key results are short of their targets
    writes = True


@dataclass(frozen=True)
class Resubmit:
    goal: int
    note: str = ""
    writes = True


@dataclass(frozen=True)
class Reopen:
    goal: int
    writes = True


@dataclass(frozen=True)
class Withdraw:
    goal: int
    writes = True


@dataclass(frozen=True)
class Archive:
    goal: int
    writes = True


@dataclass(frozen=True)
class GiveKudos:
    person: str
    message: str
    goal: int | None = None
    writes = True


@dataclass(frozen=True)
class CheckinSettings:
    """All None: show the current settings. `switch`: "off", "on" or "default" (the unit's or tenant's)."""

    weekday: int | None = None
    at: time | None = None
    cadence: str | None = None
    switch: str | None = None
    writes = True


@dataclass(frozen=True)
class CheckinDefault:
    """An admin sets the check-in schedule of the tenant, or of one org unit (`unit`)."""

    weekday: int
    at: time
    cadence: str
    unit: str | None = None
    writes = True


@dataclass(frozen=True)
class ReminderSetting:
    minutes: int  # 0: no reminders
    writes = True


@dataclass(frozen=True)
class HolidayCommand:
    """`add`, `remove` (with a date) or `list`."""

    op: str
    day: date | None = None
    name: str = ""

    @property
    def writes(self) -> bool:  # type: ignore[override]
        return self.op != "list"


@dataclass(frozen=True)
class OutboxCommand:
    """The outbox's state for admins; with `retry`, one failed or uncertain message sent again."""

    retry: int | None = None

    @property
    def writes(self) -> bool:  # type: ignore[override]
        return self.retry is not None


@dataclass(frozen=True)
class TimezoneSetting:
    timezone: str
    writes = True


@dataclass(frozen=True)
class AlignmentReport:
    unit: str | None = None  # a unit's name: its teams (or the units inside it); None: the departments
    writes = False


@dataclass(frozen=True)
class SummaryAdd:
    """A channel's periodic summary of a unit's goals (`unit` None: the company's)."""

    channel: str  # as typed, without its `#`: a name, or a platform's id the adapter put there
    unit: str | None
    cadence: str
    weekday: int
    at: time
    known: tuple = ()  # the channels the message named, as the adapter found them (ChannelMention)
    writes = True


@dataclass(frozen=True)
class SummaryList:
    writes = False


@dataclass(frozen=True)
class SummaryRemove:
    number: int
    writes = True


@dataclass(frozen=True)
class DigestSettings:
    """A manager's digest: weekday and time (each optional, the other kept), or `switch` "off"/"on"."""

    weekday: int | None = None
    at: time | None = None
    switch: str | None = None
    writes = True


@dataclass(frozen=True)
class NudgeSettings:
    """Whether the person takes nudges about their own unaligned or stale goals."""

    on: bool
    writes = True


@dataclass(frozen=True)
class Digest:
    part: str | None = None  # one part of the digest in full (DIGEST_PARTS), or None for the digest
    writes = False


@dataclass(frozen=True)
class Nudge:
    person: str  # a mention: the report to ask to check in
    writes = True


DIGEST_PARTS = ("pending", "blocked", "at-risk", "missing", "stale", "unaligned", "overdue", "duplicates")


@dataclass(frozen=True)
class Away:
    until: date | None  # None: back now
    writes = True


@dataclass(frozen=True)
class AddFromForm:
    """The add form: a goal with a description and its first key results, all in one go."""

    draft: GoalDraft
    key_results: tuple[KeyResultAdd, ...] = ()
    writes = True


@dataclass(frozen=True)
class CheckInItem:
    """One part of a check-in answer: a goal's progress, health and note (or done), or, with
    `key_result`, that key result's new value."""

    goal: int
    percent: float | None = None
    health: str | None = None
    note: str = ""
    done: bool = False
    key_result: int | None = None
    value: float | None = None

    @property
    def ref(self) -> str:
        return f"G-{self.goal}" + (f".{self.key_result}" if self.key_result is not None else "")


@dataclass(frozen=True)
class CheckIn:
    """`checkin` alone shows what to answer; with items it records the answer. `pick` is a goal named
    alone, the answer to "which goal is that about?"; `loose` is a reply to a prompt that names no goal."""

    items: tuple[CheckInItem, ...] = ()
    text: str = ""
    pick: int | None = None
    loose: str = ""

    @property
    def writes(self) -> bool:  # type: ignore[override]
        return bool(self.items) or self.pick is not None or bool(self.loose)


Command = (
    AddFromForm | CheckIn | Help | Add | Assign | ListGoals | Show | Edit | EditForm | Tree | Link | Unlink | Approve | Return | Progress
    | KeyResultAdd | KeyResultUpdate | KeyResultEdit | KeyResultRemove | MilestoneAdd | MilestoneChange | Done | Archive | Resubmit | Reopen | Withdraw | GiveKudos
    | CheckinSettings | TimezoneSetting | Away | CheckinDefault | ReminderSetting | HolidayCommand | OutboxCommand
    | SummaryAdd | SummaryList | SummaryRemove | NudgeSettings | PersonData | MapOpen | MapRevoke
)


# Parsing ----------------------------------------------------------------------


def fail(command: str, problem: str) -> ParseError:
    """A malformed `command`: what was wrong, as a sentence, and the command's usage."""
    stop = "" if problem.endswith((".", "?", "!")) else "."
    return ParseError(problem[:1].upper() + problem[1:] + stop, USAGE[command])


CHECKIN_ANSWER = re.compile(r"^\s*g-?[0-9]+\b", re.IGNORECASE)


def loose_answer(text: str) -> str | None:
    """The words of a line that could be a reply to a check-in prompt naming no goal (`waiting on legal`,
    or `checkin waiting on legal`); None for a command, an answer that names a goal, or a mistyped command."""
    words = text.split()
    if not words or len(text) > 4 * MAX_NOTE or not values.visible(text):
        return None
    first = words[0].lower().lstrip("/")
    if first in ("checkin", "check-in") and len(words) > 1:
        rest = text.split(None, 1)[1].strip()
        return None if CHECKIN_ANSWER.match(rest) else rest
    if CHECKIN_ANSWER.match(text) or first in ("goals", "goal", "checkin", "check-in"):
        return None  # an answer or a command, refused as such
    return text.strip() if _closest_verb(first) is None else None


def loose_part(ref: str, text: str) -> CheckIn:
    """A reply to a check-in prompt that named no goal, once its goal is known: progress and health when it
    starts with them (`60% at risk ...`, `done`), else all of it is the note."""
    first = text.split(None, 1)[0].lower().rstrip(",.!") if text.split() else ""
    if values.looks_numeric(first) or first in HEALTH_WORDS or first in ("done", "achieved") or \
            _health_word(text.split()) is not None or first.startswith("note:"):
        return parse_checkin(f"{ref} {text}")
    return parse_checkin(f"{ref} note: {text}")


def chat_line(text: str) -> str:
    """A line typed to the bot in a one-to-one chat: one that starts with a goal reference answers the check-in."""
    text = text.strip()
    return "checkin " + text if CHECKIN_ANSWER.match(text) else text


def parse(text: str) -> Command:
    """Turn one line (with or without the leading `goals` or `/goals`) into a command."""
    words = text.split()
    if words and words[0].lower() in ("goals", "/goals", "goal", "/goal"):
        words = words[1:]
        text = text.strip().split(None, 1)[1] if words else ""
    if words and words[0].lower() in ("checkin", "/checkin", "check-in"):
        # The answer as typed, new lines and all: they separate its parts.
        return parse_checkin(text.strip().split(None, 1)[1] if len(words) > 1 else "")
    if not words:
        return Help()
    verb, rest = words[0].lower(), words[1:]
    parser = _PARSERS.get(verb)
    if parser is None:
        suggestion = _closest_verb(verb)
        hint = f" Did you mean `goals {suggestion}`?" if suggestion else ""
        raise ParseError(f"I don't know the command {quote(words[0])}.{hint} Say `goals help` for the list.")
    return parser(rest)


def _closest_verb(verb: str) -> str | None:
    from rapidfuzz import process

    match = process.extractOne(verb, list(USAGE), score_cutoff=70)
    return match[0] if match else None


def goal_ref(token: str, command: str, what: str = "goal") -> int:
    """The number in a goal reference (`G-12`, `g12`); a ParseError with `command`'s usage otherwise."""
    match = GOAL_REF.match(token)
    if not match:
        raise fail(command, f"{quote(token)} is not a {what} reference like G-12")
    return int(match.group(1))


def parse_date(value: str, command: str, what: str) -> date:
    """A calendar date (YYYY-MM-DD); a ParseError naming `what` otherwise."""
    try:
        return values.calendar_date(value)
    except BadValue as error:
        raise fail(command, f"{what} {error.problem}") from None


def parse_number(value: str, command: str, what: str, **limits) -> float:
    """A number read the way people mean it (see `values.number`); a ParseError naming `what` otherwise."""
    try:
        return values.number(value, **limits)
    except BadValue as error:
        raise fail(command, f"{what}: {error.problem}") from None


def _require_text(text: str, command: str, what: str, limit: int) -> str:
    text = text.strip()
    if not values.visible(text):
        raise fail(command, f"{what} is missing")
    if len(text) > limit:
        raise fail(command, f"{what} is {len(text)} characters; the limit is {limit}")
    return text


def _date_words(first: str, words: list[str], index: int) -> tuple[str, int]:
    """A date option's value: `first` and as many of the words after it (up to four, none an option) as
    still read as one date (`due:31 Dec 2027`, `due:next friday`); and the index of the next word."""
    value, taken = first, index
    for end in range(index + 1, min(index + 4, len(words)) + 1):
        if any(":" in word for word in words[index:end]):
            break
        longer = " ".join([first, *words[index:end]])
        try:
            values.calendar_date(longer)
        except BadValue:
            continue
        value, taken = longer, end
    return value, taken


def _parse_draft(words: list[str], command: str) -> GoalDraft:
    title_words: list[str] = []
    options: dict[str, str] = {}
    known = {"parent", "due", "start", "level", "owner", "category", "cat"}
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        key, sep, value = word.partition(":")
        key = key.lower()
        if sep and key in known:
            if not value:
                raise fail(command, f"`{values.excerpt(key)}:` needs a value")
            if key in options or (key == "cat" and "category" in options):
                raise fail(command, f"`{values.excerpt(key)}:` is given twice")
            if key in ("due", "start"):
                value, index = _date_words(value, words, index)
            options["category" if key == "cat" else key] = value
        else:
            title_words.append(word)
    private = False
    # `private` counts as a flag only at the end, so "Launch private beta" keeps its title.
    if title_words and title_words[-1].lower() == "private":
        private = True
        title_words.pop()
    title = _require_text(" ".join(title_words), command, "The title", MAX_TITLE)
    level = None
    if "level" in options:
        level = LEVEL_WORDS.get(options["level"].lower())
        if level is None:
            raise fail(command, f"level must be company, department, team or individual, not {quote(options['level'])}")
    category = None
    if "category" in options:
        category = options["category"].lower()
        if category not in CATEGORIES:
            raise fail(command, f"category must be one of {', '.join(CATEGORIES)}, not {quote(options['category'])}")
    due = parse_date(options["due"], command, "due") if "due" in options else None
    start = parse_date(options["start"], command, "start") if "start" in options else None
    if due and start and due < start:
        raise fail(command, f"the due date {due} is before the start date {start}")
    owner = options.get("owner")
    if owner is not None and not MENTION.match(owner) and "@" not in owner:
        owner = "@" + owner
    return GoalDraft(
        title=title,
        parent=goal_ref(options["parent"], command, "parent goal") if "parent" in options else None,
        due=due,
        start=start,
        level=level,
        owner=owner,
        category=category,
        private=private,
    )


HELP_ALIASES = {"summary": "admin", "summaries": "admin", "alignment": "admin", "holiday": "admin", "person": "admin",
                "accept": "approve", "decline": "return", "propose": "add", "ls": "list",
                "nudges": "settings", "timezone": "settings"}


def _parse_help(words: list[str]) -> Help:
    if not words:
        return Help()
    topic = words[0].lower().lstrip("/")
    if topic in ("goals", "goal"):
        if len(words) == 1:
            return Help()  # `help goals`: the whole list
        topic = words[1].lower()
    topic = HELP_ALIASES.get(topic, topic)
    if topic not in USAGE:
        raise ParseError(f"There is no command {quote(words[0])}. Say `goals help` for the list.")
    return Help(topic)


def _parse_add(words: list[str]) -> Add:
    return Add(_parse_draft(words, "add"))


def _parse_assign(words: list[str]) -> Assign:
    draft = _parse_draft(words, "assign")
    if draft.owner is None:
        raise fail("assign", "say who the goal is for with owner:@name")
    return Assign(draft)


def _parse_list(words: list[str]) -> ListGoals:
    scope, person, include_all, page = "mine", None, False, 1
    seen_scope = False
    for index, word in enumerate(words):
        lowered = word.lower()
        if lowered == "all":
            include_all = True
        elif lowered.startswith("page:"):
            try:
                page = values.whole_number(word[5:], low=1, high=MAX_PAGE, what="page")
            except BadValue as error:
                raise fail("list", error.problem) from None
        elif not seen_scope and lowered in ("pending", "waiting") and len(words) == 1:
            return ListGoals(scope="pending")
        elif not seen_scope and lowered in ("mine", "team", "company"):
            scope, seen_scope = lowered, True
        elif not seen_scope and (MENTION.match(word) or "@" in word):
            scope, person, seen_scope = "person", word, True
        elif not seen_scope and lowered.startswith("unit:"):
            # A unit's name may have spaces: it runs to the end, but for `all` and `page:` after it.
            rest = [word[5:], *words[index + 1:]]
            while rest and (rest[-1].lower() == "all" or rest[-1].lower().startswith("page:")):
                tail = _parse_list([rest.pop()])
                include_all, page = include_all or tail.include_all, tail.page if tail.page != 1 else page
            name = _unquote(" ".join(rest))
            if not name:
                raise fail("list", "Name the unit after unit:, like unit:Platform")
            return ListGoals(scope="unit", person=name, include_all=include_all, page=page)
        else:
            raise fail("list", f"I don't understand {quote(word)} here")
    return ListGoals(scope=scope, person=person, include_all=include_all, page=page)


def _unquote(text: str) -> str:
    """A name as typed, without the straight or curly quotes around it."""
    return text.strip().strip('"\'\u201c\u201d\u2018\u2019').strip()


def _single_goal(command: str):
    def parse_one(words: list[str]):
        if len(words) != 1:
            raise fail(command, "name exactly one goal" if words else "which goal?")
        return goal_ref(words[0], command)

    return parse_one


def _parse_show(words: list[str]) -> Show:
    return Show(_single_goal("show")(words))


EDIT_FIELD = re.compile(r"(?:^|(?<=\s))(title|due|start|category|cat|level|description|desc):", re.IGNORECASE)
EDIT_NAMES = {"cat": "category", "desc": "description"}
PRIVACY_WORDS = {"private": True, "public": False}
QUOTES = {'"': '"', "“": "”", "'": "'", "‘": "’"}


def _quoted(value: str) -> tuple[str, str] | None:
    """A value in quotes: (what is inside, what follows the closing quote); None when it is not quoted."""
    if not value or value[0] not in QUOTES:
        return None
    end = value.find(QUOTES[value[0]], 1)
    if end < 0:
        raise fail("edit", f"the quote before {quote(value[:30])} is never closed")
    return value[1:end], value[end + 1:]


def _parse_edit(words: list[str]) -> Edit | EditForm:
    if not words:
        raise fail("edit", "say which goal to change")
    number = goal_ref(words[0], "edit")
    rest = " ".join(words[1:])
    if not rest:
        return EditForm(number)
    marks = list(EDIT_FIELD.finditer(rest))
    flags = rest[:marks[0].start() if marks else len(rest)].split()
    given: dict[str, str] = {}
    for index, mark in enumerate(marks):
        name = EDIT_NAMES.get(mark.group(1).lower(), mark.group(1).lower())
        value = rest[mark.end():marks[index + 1].start() if index + 1 < len(marks) else len(rest)].strip()
        if name in given:
            raise fail("edit", f"`{name}:` is given twice")
        quoted = _quoted(value)
        if quoted is not None:
            value, after = quoted
            flags += after.split()
        else:
            parts = value.split()
            trailing = []
            while parts and parts[-1].lower() in PRIVACY_WORDS:
                trailing.insert(0, parts.pop())
            if trailing and name in ("title", "description") and parts:
                both = " ".join(parts + trailing)
                raise fail("edit", f"is {quote(trailing[-1])} part of the {name} or a setting? Say "
                                   f'{name}:"{both}" for the one, or {name}:"{" ".join(parts)}" {trailing[-1]} for the other')
            flags += trailing
            value = " ".join(parts)
            if not value:
                raise fail("edit", f"`{name}:` needs a value")
        given[name] = value
    changes: dict[str, object] = {}
    for flag in flags:
        if flag.lower() not in PRIVACY_WORDS:
            raise fail("edit", f"{quote(flag)} is not something goals edit changes; name the field, like title:\"...\"")
        privacy = PRIVACY_WORDS[flag.lower()]
        if changes.get("private", privacy) != privacy:
            raise fail("edit", "say private or public, not both")
        changes["private"] = privacy
    for name, value in given.items():
        if name == "title":
            changes["title"] = _require_text(value, "edit", "The title", MAX_TITLE)
        elif name == "description":
            changes["description"] = value.strip()
            if len(value.strip()) > MAX_DESCRIPTION:
                raise fail("edit", f"the description is over {MAX_DESCRIPTION} characters")
        elif name in ("due", "start"):
            if name == "due" and value.lower() in ("none", "never", "-"):
                changes["due"] = None
            else:
                changes[name] = parse_date(value, "edit", name)
        elif name == "level":
            level = LEVEL_WORDS.get(value.lower())
            if level is None:
                raise fail("edit", f"level must be company, department, team or individual, not {quote(value)}")
            changes["level"] = level
        else:
            if value.lower() not in CATEGORIES:
                raise fail("edit", f"category must be one of {', '.join(CATEGORIES)}, not {quote(value)}")
            changes["category"] = value.lower()
    if isinstance(changes.get("due"), date) and isinstance(changes.get("start"), date) and changes["due"] < changes["start"]:
        raise fail("edit", f"the due date {changes['due']} is before the start date {changes['start']}")
    return Edit(number, tuple(changes.items()))


def _parse_tree(words: list[str]) -> Tree:
    if not words:
        return Tree()
    return Tree(_single_goal("tree")(words))


def _parse_map(words: list[str]) -> MapOpen | MapRevoke:
    if not words:
        return MapOpen()
    first = words[0].lower()
    if len(words) == 1 and first == "revoke":
        return MapRevoke()
    if len(words) == 1 and first in ("mine", "me", "my"):
        return MapOpen(part="mine")
    if len(words) == 1 and first == "team":
        return MapOpen(part="team")
    if len(words) == 1 and first in ("help", "?"):
        return Help("map")
    if len(words) == 1 and GOAL_REF.match(words[0]):
        return MapOpen(goal=goal_ref(words[0], "map"))
    if KR_REF.match(words[0]):
        raise fail("map", f"{words[0].upper()} is a key result; name its goal, {words[0].upper().split('.')[0]}")
    if GOAL_REF.match(words[0]):
        raise fail("map", "name one goal, or one unit")
    name = _unquote(" ".join(words))
    if name.lower().startswith("unit:"):
        name = _unquote(name[5:])
    if not name:
        raise fail("map", "Name the unit after unit:, like unit:Platform")
    return MapOpen(unit=name)


def _parse_link(words: list[str]) -> Link:
    if len(words) != 2:
        raise fail("link", "name the goal, then the parent it supports")
    goal, parent = goal_ref(words[0], "link"), goal_ref(words[1], "link", "parent goal")
    if goal == parent:
        raise fail("link", f"G-{goal} cannot support itself")
    return Link(goal, parent)


def _parse_unlink(words: list[str]) -> Unlink:
    return Unlink(_single_goal("unlink")(words))


def _parse_approve(words: list[str]) -> Approve:
    return Approve(_single_goal("approve")(words))


def _parse_return(words: list[str]) -> Return:
    if not words:
        raise fail("return", "which goal?")
    goal = goal_ref(words[0], "return")
    reason = " ".join(words[1:]).strip()
    if not reason:
        raise fail("return", "say why, so the owner knows what to change")
    return Return(goal, _require_text(reason, "return", "The reason", MAX_NOTE))


def _parse_progress(words: list[str]) -> Progress:
    if not words:
        raise fail("progress", "which goal?")
    goal = goal_ref(words[0], "progress")
    rest = words[1:]
    percent = None
    if rest and rest[0].lower().startswith("note:"):
        # `note:` says the rest is a note, even when it starts with a number.
        rest = [rest[0][5:], *rest[1:]]
        return _progress_with_note(goal, None, None, rest)
    if rest and values.looks_numeric(rest[0]):
        # A word meant as a number is one, or the command is refused: it never becomes a note.
        try:
            percent = values.number(rest[0], low=0, high=100, percent=True)
        except BadValue as error:
            if error.out_of_range:
                raise fail("progress", f"progress is a percentage from 0 to 100, not {values.excerpt(rest[0])}") from None
            raise fail("progress", f"progress is a percentage from 0 to 100: {error.problem}"
                                   f" (for a note that starts with it, write note: first)") from None
        rest = rest[1:]
        if rest and rest[0] == "%":  # `60 %`
            rest = rest[1:]
        if rest and values.looks_numeric(rest[0]):
            # `1 000`: one number written with a space, or a number and a note? Neither is guessed.
            said = values.excerpt(f"{words[1]} {rest[0]}")
            raise fail("progress", f"`{said}` could be one number or a number and a note; write the number"
                                   f" without spaces, and put a note after note:")
    health = None
    if rest:
        # `on track,` or `at risk.`: the health word, then the note.
        one = rest[0].lower().rstrip(",.!")
        two = "-".join(w.lower().rstrip(",.!") for w in rest[:2])
        if two in HEALTH_WORDS and len(rest) >= 2:
            health, said, rest = HEALTH_WORDS[two], " ".join(rest[:2]), rest[2:]
        elif one in HEALTH_WORDS:
            health, said, rest = HEALTH_WORDS[one], rest[0], rest[1:]
        if health is not None and rest:
            # `amber red`: which one? Neither is guessed, and the second does not become a note.
            again = _health_word(rest)
            if again is not None:
                raise fail("progress", f"{quote(said.rstrip(',.!'))} and {quote(again)} are both a health; give one"
                                       f" (for a note that starts with {quote(again)}, write note: first)")
        if health == Health.BLOCKED and len(rest) > 1 and rest[0].lower() == "by":
            rest = rest[1:]  # "blocked by the vendor": the note is what blocks it
        if percent is None and health is None and not rest[0].lower().startswith("note:") \
                and not (GOAL_REF.match(rest[0]) or KR_REF.match(rest[0])):  # another goal: see _refuse_run_on
            # `sixty`, `6o%`, `waiting on legal`: a mistyped number must not become a note.
            raise fail("progress", f"after G-{goal} comes a percentage, a health or both, then a note; "
                                   f"{quote(values.excerpt(rest[0], 20))} is neither. A note alone is written "
                                   f"note: first, like G-{goal} note: {values.excerpt(' '.join(rest), 30)}")
    return _progress_with_note(goal, percent, health, rest)


def _health_word(words: list[str]) -> str | None:
    """The health word (one word or two) these words start with, as typed; None when they start with none."""
    two = "-".join(w.lower().rstrip(",.!") for w in words[:2])
    if len(words) >= 2 and two in HEALTH_WORDS:
        return " ".join(words[:2]).rstrip(",.!")
    return words[0].rstrip(",.!") if words[0].lower().rstrip(",.!") in HEALTH_WORDS else None


def _progress_with_note(goal: int, percent: float | None, health: str | None, rest: list[str]) -> Progress:
    if rest and rest[0].lower().startswith("note:"):
        rest = [rest[0][5:], *rest[1:]]
    note = " ".join(rest).strip()
    if not values.visible(note):
        note = ""
    if percent is None and health is None and not note:
        raise fail("progress", "give a percentage, a health or a note")
    if len(note) > MAX_NOTE:
        raise fail("progress", f"the note is {len(note)} characters; the limit is {MAX_NOTE}")
    return Progress(goal, percent, health, note)


KR_RANGE = re.compile(rf"(?:^|\s)(?P<start>{NUMBER})(?P<u1>[^\s0-9.,+-]*)\s*(?:->|→|\bto\b)\s*"
                      rf"(?P<target>{NUMBER})(?P<u2>[^\s0-9]*)(?:\s+|$)", re.IGNORECASE)


def _kr_ref(token: str) -> tuple[int, int]:
    match = KR_REF.match(token)
    if not match:
        raise fail("kr", f"{quote(token)} is not a key result reference like G-12.1")
    return int(match.group(1)), int(match.group(2))


def _parse_kr_edit(words: list[str]) -> KeyResultEdit:
    if not words:
        raise fail("kr", "which key result? Like goals kr edit G-12.1 Weekly churn 5->2 %")
    goal, position = _kr_ref(words[0])
    rest = " ".join(words[1:]).strip()
    if not rest:
        raise fail("kr", f"say what changes: goals kr edit {words[0]} <metric> <start>-><target> <unit>")
    found = KR_RANGE.search(rest)
    if found is None:
        return KeyResultEdit(goal, position, metric=_require_text(rest, "kr", "The metric", MAX_TITLE))
    for suffix in (found["u1"], found["u2"]):
        if suffix.lower() in MULTIPLIERS:
            raise fail("kr", f"`{suffix}` after a number could be read more than one way; write the whole number, like 28000")
    start = parse_number(found["start"], "kr", "the start")
    target = parse_number(found["target"], "kr", "the target")
    if start == target:
        raise fail("kr", f"start and target are both {found['start']}; a key result must move")
    metric = rest[:found.start()].strip() or None
    unit = (rest[found.end():].strip() or found["u2"] or found["u1"] or None)
    if unit is not None and len(unit) > 40:
        raise fail("kr", "the unit is longer than 40 characters")
    if metric is not None:
        metric = _require_text(metric, "kr", "The metric", MAX_TITLE)
    return KeyResultEdit(goal, position, metric, start, target, unit)


def _parse_kr(words: list[str]) -> KeyResultAdd | KeyResultUpdate | KeyResultEdit | KeyResultRemove:
    if not words:
        raise fail("kr", "say `add` or name a key result")
    if words[0].lower() == "edit":
        return _parse_kr_edit(words[1:])
    if words[0].lower() in ("remove", "delete"):
        if len(words) != 2:
            raise fail("kr", "name one key result to remove, like goals kr remove G-12.1")
        return KeyResultRemove(*_kr_ref(words[1]))
    if words[0].lower() == "add":
        if len(words) < 2:
            raise fail("kr", "which goal?")
        goal = goal_ref(words[1], "kr")
        match = KR_SPEC.match(" ".join(words[2:]))
        if not match:
            raise fail("kr", "give a metric, then where it starts and its target, like `Monthly churn 5->3 %`")
        for suffix in (match["u1"], match["u2"]):
            if suffix.lower() in MULTIPLIERS:
                raise fail("kr", f"`{suffix}` after a number could be read more than one way;"
                                 f" write the whole number, like 28000")
        start = parse_number(match["start"], "kr", "the start")
        target = parse_number(match["target"], "kr", "the target")
        if start == target:
            raise fail("kr", f"start and target are both {match['start']}; a key result must move")
        metric = _require_text(match["metric"], "kr", "The metric", MAX_TITLE)
        unit = (match["unit"] or match["u2"] or match["u1"] or "").strip()
        if len(unit) > 40:
            raise fail("kr", "the unit is longer than 40 characters")
        return KeyResultAdd(goal, metric, start, target, unit)
    match = KR_REF.match(words[0])
    if not match:
        raise fail("kr", f"{quote(words[0])} is not a key result reference like G-12.1")
    if len(words) < 2:
        raise fail("kr", f"give the current value of {words[0]}")
    value = re.fullmatch(rf"({NUMBER})([^\s0-9.,+-]*)", words[1], re.ASCII)
    if not value or len(words) > 3:
        raise fail("kr", f"the current value must be a number, not {quote(' '.join(words[1:]))}")
    if len(words) == 3 and values.looks_numeric(words[2]) and words[2] != "%":
        said = values.excerpt(" ".join(words[1:]))
        raise fail("kr", f"`{said}` could be one number or two; write the number without spaces")
    if value.group(2).lower() in (*MULTIPLIERS, "e"):
        raise fail("kr", f"{quote(words[1])} could be read more than one way; write the whole number, like 28000")
    of_the_way = value.group(2) == "%" or (len(words) == 3 and words[2] == "%")
    current = parse_number(value.group(1), "kr", "the current value")
    if of_the_way and not 0 <= current <= 100:
        raise fail("kr", f"{values.excerpt(words[1])} of the way must be from 0% to 100%")
    return KeyResultUpdate(int(match.group(1)), int(match.group(2)), current, of_the_way)


def _parse_milestone(words: list[str]) -> MilestoneAdd | MilestoneChange:
    if words and words[0].lower() in ("done", "remove", "delete"):
        if len(words) != 3 or not words[2].isdigit():
            raise fail("milestone", f"name the goal and the milestone's number, like goals milestone {words[0].lower()} G-12 2")
        return MilestoneChange(goal_ref(words[1], "milestone"), int(words[2]), done=words[0].lower() == "done")
    if not words or words[0].lower() != "add":
        raise fail("milestone", "say `milestone add`, `milestone done` or `milestone remove`")
    if len(words) < 2:
        raise fail("milestone", "which goal?")
    goal = goal_ref(words[1], "milestone")
    due = None
    title_words = []
    rest, index = words[2:], 0
    while index < len(rest):
        word = rest[index]
        index += 1
        if word.lower().startswith("due:"):
            if due is not None:
                raise fail("milestone", "`due:` is given twice")
            text, index = _date_words(word[4:], rest, index)  # due:31 Dec 2027, due:in 2 weeks
            due = parse_date(text, "milestone", "due")
        else:
            title_words.append(word)
    return MilestoneAdd(goal, _require_text(" ".join(title_words), "milestone", "The title", MAX_TITLE), due)


def _parse_done(words: list[str]) -> Done:
    anyway = len(words) == 2 and words[1].lower() == "anyway"
    return Done(_single_goal("done")(words[:1] if anyway else words), anyway=anyway)


def _parse_resubmit(words: list[str]) -> Resubmit:
    if not words:
        raise fail("resubmit", "which goal?")
    number = goal_ref(words[0], "resubmit")
    note = " ".join(words[1:]).strip()
    if len(note) > MAX_NOTE:
        raise fail("resubmit", f"the note is {len(note)} characters; the limit is {MAX_NOTE}")
    return Resubmit(number, note)


def _parse_archive(words: list[str]) -> Archive:
    return Archive(_single_goal("archive")(words))


def _parse_kudos(words: list[str]) -> GiveKudos:
    if not words or not (MENTION.match(words[0]) or "@" in words[0]):
        raise fail("kudos", "start with the person, like @ana")
    person, rest = words[0], words[1:]
    goal = None
    if rest and GOAL_REF.match(rest[0]):
        goal, rest = goal_ref(rest[0], "kudos"), rest[1:]
    message = _require_text(" ".join(rest), "kudos", "The message", MAX_NOTE)
    return GiveKudos(person, message, goal)


def _parse_settings(words: list[str]) -> CheckinSettings | DigestSettings | TimezoneSetting | NudgeSettings:
    if not words:
        return CheckinSettings()
    topic, rest = words[0].lower(), words[1:]
    if topic in ("timezone", "tz"):
        if len(rest) != 1:
            raise fail("settings", "give one time zone name, like Europe/Paris")
        name = values.zone(rest[0])
        if name is None:
            raise fail("settings", f"{quote(rest[0])} is not a time zone I know; use a region name like Europe/Paris")
        return TimezoneSetting(name)
    if topic == "digest":
        if len(rest) == 1 and rest[0].lower() in ("off", "on"):
            return DigestSettings(switch=rest[0].lower())
        try:
            weekday, at, cadence = _parse_schedule(rest, "settings")
        except ParseError as error:
            problem = error.problem.replace(" and weekly or biweekly", "")  # the digest comes weekly
            raise fail("settings", problem) from None
        if cadence is not None:
            raise fail("settings", "the digest comes weekly; give its weekday and time, like monday 09:30")
        return DigestSettings(weekday, at)
    if topic in ("nudges", "nudge", "digest") and not rest:
        return CheckinSettings()  # the settings as they are, these among them
    if topic in ("nudges", "nudge"):
        if len(rest) != 1 or rest[0].lower() not in ("off", "on"):
            raise fail("settings", "Say nudges off or nudges on")
        return NudgeSettings(rest[0].lower() == "on")
    if topic != "checkin":
        raise fail("settings", f"there is no setting {quote(words[0])}")
    if not rest:
        return CheckinSettings()
    if len(rest) == 1 and rest[0].lower() in ("off", "on", "default"):
        return CheckinSettings(switch=rest[0].lower())
    return CheckinSettings(*_parse_schedule(rest, "settings"))


def _parse_schedule(words: list[str], command: str) -> tuple[int | None, time | None, str | None]:
    """`thursday 10:00 biweekly`, any of them, in any order."""
    weekday = at = cadence = None
    for word in words:
        lowered = word.lower()
        days = [i for i, day in enumerate(WEEKDAYS) if len(lowered) >= 3 and day.startswith(lowered)]
        if len(days) == 1 and weekday is None:
            weekday = days[0]
        elif re.fullmatch(r"[0-9]{1,2}:[0-9]{2}", word, re.ASCII) and at is None:
            hours, minutes = (int(part) for part in word.split(":"))
            if hours > 23 or minutes > 59:
                raise fail(command, f"{quote(word)} is not a time of day")
            at = time(hours, minutes)
        elif lowered in ("weekly", "biweekly") and cadence is None:
            cadence = lowered
        else:
            raise fail(command, f"I don't understand {quote(word)}; give a weekday, a time like 09:00 and weekly or biweekly")
    return weekday, at, cadence


REMINDER_DELAY = re.compile(r"^(?:([0-9]{1,3})h)?(?:([0-9]{1,3})m(?:in)?)?$", re.ASCII)
MAX_REMINDER_MINUTES = 72 * 60


def _admin_fail(part: str, problem: str) -> ParseError:
    problem = problem[0].upper() + problem[1:]
    return ParseError(problem + ("" if problem.endswith((".", "?", "!")) else "."), ADMIN_USAGE[part])


def _parse_admin(words: list[str]) -> Help | CheckinDefault | ReminderSetting | HolidayCommand | OutboxCommand | AlignmentReport:
    if not words:
        return Help("admin")
    topic, rest = words[0].lower(), words[1:]
    if topic == "checkin" and rest and rest[0].lower() == "default":
        unit = None
        for index, word in enumerate(rest):
            if word.lower().startswith("unit:"):
                unit = " ".join([word[5:], *rest[index + 1:]]).strip().strip('"')
                rest = rest[:index]
                if not unit:
                    raise _admin_fail("default", "name the unit after unit:, like unit:Platform")
                break
        try:
            weekday, at, cadence = _parse_schedule(rest[1:], "admin")
        except ParseError as error:
            raise _admin_fail("default", error.problem) from None
        if weekday is None or at is None:
            raise _admin_fail("default", "a default needs a weekday and a time, like thursday 10:00")
        return CheckinDefault(weekday, at, cadence or "weekly", unit)
    if topic == "checkin" and rest and rest[0].lower() == "reminder":
        if len(rest) != 2:
            raise _admin_fail("reminder", "say how long after the prompt, like 4h or 90m, or off")
        said = rest[1].lower()
        if said in ("off", "none", "0"):
            return ReminderSetting(0)
        match = REMINDER_DELAY.match(said)
        if not match or not any(match.groups()):
            raise _admin_fail("reminder", f"{quote(rest[1])} is not a delay; write it like 4h, 90m or 1h30m")
        minutes = int(match.group(1) or 0) * 60 + int(match.group(2) or 0)
        if not 1 <= minutes <= MAX_REMINDER_MINUTES:
            raise _admin_fail("reminder", f"a reminder comes 1 minute to {MAX_REMINDER_MINUTES // 60} hours after the prompt, not {quote(rest[1])}")
        return ReminderSetting(minutes)
    if topic in ("holiday", "holidays"):
        op = rest[0].lower() if rest else "list"
        if op == "list" and len(rest) <= 1:
            return HolidayCommand("list")
        if op in ("add", "remove", "delete") and len(rest) >= 2:
            try:
                day = parse_date(rest[1], "admin", "the holiday's date")
            except ParseError as error:
                raise _admin_fail("holiday", error.problem) from None
            name = " ".join(rest[2:]).strip()
            if op != "add" and name:
                raise _admin_fail("holiday", "a holiday is removed by its date alone")
            if len(name) > 200:
                raise _admin_fail("holiday", f"the holiday's name is {len(name)} characters; the limit is 200")
            return HolidayCommand("add" if op == "add" else "remove", day, name)
        raise _admin_fail("holiday", "say holiday add 2027-12-25 [name], holiday list or holiday remove 2027-12-25")
    if topic == "alignment":
        name = " ".join(rest).strip()
        if name.lower().startswith("unit:"):
            name = name[5:].strip()
        return AlignmentReport(name.strip('"') or None)
    if topic in ("summary", "summaries"):
        return _parse_summary(rest)
    if topic == "person":
        if len(rest) < 2 or rest[0].lower() not in ("export", "erase") or len(rest) > 3 or \
                (len(rest) == 3 and (rest[0].lower() != "erase" or rest[2].lower() != "confirm")):
            raise _admin_fail("person", "say person export <email>, or person erase <email> (then confirm)")
        email = MENTION.match(rest[1])
        address = (email.group(1) or email.group(2)) if email else rest[1]
        return PersonData(rest[0].lower(), address.strip("<>").lower(), confirmed=len(rest) == 3)
    if topic == "outbox":
        if not rest:
            return OutboxCommand()
        if len(rest) == 2 and rest[0].lower() == "retry" and rest[1].isascii() and rest[1].isdigit() and len(rest[1]) < 12:
            return OutboxCommand(int(rest[1]))
        raise _admin_fail("outbox", "say outbox, or outbox retry <id> with the message's number")
    raise fail("admin", f"there is no admin command {quote(words[0])}")


SUMMARY_REF = re.compile(r"^(?:s-?)?([0-9]{1,9})$", re.IGNORECASE | re.ASCII)


OTHER_CADENCES = ("daily", "fortnightly", "monthly", "quarterly", "weekdays", "every")
OPENING, CLOSING = '"\u201c\u201e', '"\u201d\u201c'


def _channel_words(words: list[str]) -> tuple[str, list[str]]:
    """The channel at the head of `words` (`#general`, `#"Release planning"`, `#Sales/General`) and the rest."""
    first = words[0][1:]
    if not first or first[0] not in OPENING:
        return first, words[1:]
    for index, word in enumerate(words):
        if word[-1] in CLOSING and (index > 0 or len(word) > 2):
            name = " ".join([first[1:], *words[1:index + 1]])[:-1]
            return name.strip(), words[index + 1:]
    raise _admin_fail("summary", 'the channel\'s name has no closing quote; write it like #"Release planning"')


def _parse_summary(words: list[str]) -> SummaryAdd | SummaryList | SummaryRemove:
    op = words[0].lower() if words else "list"
    rest = words[1:]
    if op == "list" and not rest:
        return SummaryList()
    if op in ("remove", "delete") and len(rest) == 1:
        match = SUMMARY_REF.match(rest[0])
        if not match:
            raise _admin_fail("summary", f"{quote(rest[0])} is not a summary; name it as goals admin summary list shows it, like S-1")
        return SummaryRemove(int(match.group(1)))
    if op != "add":
        raise _admin_fail("summary", "say summary add, summary list or summary remove S-1")
    if not rest or not rest[0].startswith("#") or len(rest[0]) < 2:
        raise _admin_fail("summary", "name the channel first, like #general")
    channel, rest = _channel_words(rest)
    if not channel:
        raise _admin_fail("summary", "name the channel first, like #general")
    # The schedule is at the end (weekday, time, cadence in any order); what comes before it is the unit.
    tail = 0
    while tail < min(3, len(rest)) and _schedule_word(rest[-1 - tail]):
        tail += 1
    try:
        weekday, at, cadence = _parse_schedule(rest[len(rest) - tail:], "admin")
    except ParseError as error:
        raise _admin_fail("summary", error.problem) from None
    unit = _unquote(" ".join(rest[:len(rest) - tail]))
    if unit.lower().startswith("unit:"):
        unit = _unquote(unit[5:])
    culprit = rest[len(rest) - tail - 1] if len(rest) > tail else ""
    if culprit.lower() in OTHER_CADENCES:
        raise _admin_fail("summary", f"{quote(culprit)} is not a cadence goalbot has: a summary comes weekly or biweekly")
    if weekday is None or at is None:
        ends = "a summary ends with weekly or biweekly, a weekday and a time, like weekly monday 09:00"
        if not culprit:
            raise _admin_fail("summary", ends)
        what = "a time like 09:00" if re.search(r"[0-9]", culprit) or weekday is not None else "a weekday"
        raise _admin_fail("summary", f"{quote(culprit)} is not {what}; {ends}")
    if not unit:
        raise _admin_fail("summary", "say which unit's goals it is about (a unit's name, or company)")
    return SummaryAdd(channel, None if unit.lower() in ("company", "the company") else unit, cadence or "weekly",
                      weekday, at)


def _schedule_word(word: str) -> bool:
    lowered = word.lower()
    return (lowered in ("weekly", "biweekly") or re.fullmatch(r"[0-9]{1,2}:[0-9]{2}", word, re.ASCII) is not None
            or sum(1 for day in WEEKDAYS if len(lowered) >= 3 and day.startswith(lowered)) == 1)


def _parse_digest(words: list[str]) -> Digest:
    if not words:
        return Digest()
    part = "-".join(word.lower() for word in words)
    aliases = {"at-risk": "at-risk", "risk": "at-risk", "blockers": "blocked", "approvals": "pending",
               "not-checked-in": "missing", "stale": "stale", "unaligned": "unaligned", "overdue": "overdue",
               "likely-duplicates": "duplicates", "look-alikes": "duplicates"}
    part = aliases.get(part, part)
    if part not in DIGEST_PARTS:
        raise fail("digest", f"{quote(' '.join(words))} is not a part of the digest")
    return Digest(part)


def _parse_nudge(words: list[str]) -> Nudge:
    if len(words) != 1 or not (MENTION.match(words[0]) or "@" in words[0]):
        raise fail("nudge", "name the person, like @ana")
    return Nudge(words[0])


def _parse_away(words: list[str]) -> Away:
    if len(words) == 1 and words[0].lower() in ("off", "back", "none"):
        return Away(None)
    if len(words) < 2 or words[0].lower() != "until":
        raise fail("away", "say until when")
    return Away(parse_date(" ".join(words[1:]), "away", "the date"))  # until 2027-01-05, until next friday


class FormError(ParseError):
    """A form field is wrong; `field` names it so the form can show the message next to it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


MAX_DESCRIPTION = 3000
FORM_KEY_RESULTS = 5


def _form_field(name: str, parse):
    """A form field's value, read by `parse`; a ParseError becomes a FormError shown next to the field."""
    try:
        return parse()
    except ParseError as error:
        raise FormError(name, error.problem) from None


def parse_goal_form(form: dict[str, str]) -> AddFromForm:
    """The add form's fields (title, description, parent, level, due, key_results, private) as a command."""

    title = _form_field("title", lambda: _require_text(form.get("title", ""), "add", "The title", MAX_TITLE))
    description = form.get("description", "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise FormError("description", f"The description is {len(description)} characters; the limit is {MAX_DESCRIPTION}.")
    parent_text = form.get("parent", "").strip()
    parent = _form_field("parent", lambda: goal_ref(parent_text, "add", "parent goal")) if parent_text else None
    level_text = form.get("level", "").strip().lower()
    level = LEVEL_WORDS.get(level_text) if level_text else None
    if level_text and level is None:
        raise FormError("level", f"Level must be company, department, team or individual, not {quote(level_text)}.")
    due_text = form.get("due", "").strip()
    due = _form_field("due", lambda: parse_date(due_text, "add", "due")) if due_text else None
    key_results = []
    lines = [line for line in form.get("key_results", "").splitlines() if line.strip()]
    if len(lines) > FORM_KEY_RESULTS:
        raise FormError("key_results", f"Up to {FORM_KEY_RESULTS} key results here; add more later with goals kr add.")
    for line in lines:
        parsed = _form_field("key_results", lambda line=line: _parse_kr(["add", "G-1", *line.split()]))
        assert isinstance(parsed, KeyResultAdd)
        key_results.append(parsed)
    draft = GoalDraft(
        title=title, parent=parent, due=due, level=level,
        private=form.get("private", "").lower() in ("true", "yes", "private", "1"), description=description,
    )
    return AddFromForm(draft, tuple(key_results))


EDIT_FORM_FIELDS = ("title", "due", "start", "category", "level", "private", "description")


def parse_edit_form(value: str, form: dict[str, str]) -> Edit:
    """The edit form (every field, as filled in) as an edit of goal `value`; what did not change stays."""

    number = goal_ref(value, "edit")
    changes: dict[str, object] = {
        "title": _form_field("title", lambda: _require_text(form.get("title", ""), "edit", "The title", MAX_TITLE))}
    description = form.get("description", "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise FormError("description", f"The description is {len(description)} characters; the limit is {MAX_DESCRIPTION}.")
    changes["description"] = description
    for name in ("start", "due"):
        text = form.get(name, "").strip()
        if text or name == "due":
            changes[name] = _form_field(name, lambda text=text, name=name: parse_date(text, "edit", name)) if text else None
    if isinstance(changes.get("due"), date) and isinstance(changes.get("start"), date) and changes["due"] < changes["start"]:
        raise FormError("due", f"The due date {changes['due']} is before the start date {changes['start']}.")
    level = LEVEL_WORDS.get(form.get("level", "").strip().lower())
    if form.get("level", "").strip() and level is None:
        raise FormError("level", "Level must be company, department, team or individual.")
    if level is not None:
        changes["level"] = level
    category = form.get("category", "").strip().lower()
    if category and category not in CATEGORIES:
        raise FormError("category", f"Category must be one of {', '.join(CATEGORIES)}.")
    if category:
        changes["category"] = category
    changes["private"] = form.get("private", "").lower() in ("true", "yes", "private", "1")
    return Edit(number, tuple(changes.items()))


def parse_health_button(value: str) -> CheckIn:
    """A prompt's one-click health button (`G-12 at_risk`): that goal's health, as a check-in answer."""
    words = value.split()
    if len(words) != 2 or words[1] not in {health.value for health in Health}:
        raise ParseError(f"The button {quote(value)} names no goal and health.")
    number = goal_ref(words[0], "checkin")
    return CheckIn((CheckInItem(number, health=words[1]),), f"G-{number} {Health(words[1]).words}")


# Parts of an answer: split at `;`, a new line, or a comma followed by a goal or key result reference.
PART_BREAK = re.compile(r"[;\n]+|,(?=\s*g-?[0-9]+(?:\.[0-9]+)?(?![0-9A-Za-z]))", re.IGNORECASE | re.ASCII)


def parse_checkin(answer: str) -> CheckIn:
    """`G-12 60% at risk waiting on legal; G-14 done; G-15 blocked by the vendor; G-18.1 28`: one part per
    goal or key result. A refused part refuses the whole answer, saying which part to fix."""
    answer = answer.strip()
    if not answer:
        return CheckIn()
    if len(answer) > 4 * MAX_NOTE:
        raise fail("checkin", f"the answer is {len(answer)} characters; the limit is {4 * MAX_NOTE}")
    words = answer.split()
    if len(words) == 1 and GOAL_REF.match(words[0]):
        return CheckIn(pick=goal_ref(words[0], "checkin"), text=answer)
    items: list[CheckInItem] = []
    seen: set[str] = set()
    parts = [part.strip() for part in PART_BREAK.split(answer) if part.strip()]
    for part in parts:
        item = _answer_part(part, len(parts) > 1)
        if item.ref in seen:
            raise _part_fail(part, f"{item.ref} appears twice", len(parts) > 1)
        seen.add(item.ref)
        items.append(item)
    if not items:
        raise fail("checkin", "the answer names no goal")
    return CheckIn(tuple(items), answer)


def _part_fail(part: str, problem: str, several: bool) -> ParseError:
    problem = problem[0].upper() + problem[1:]
    where = f"Nothing was saved: fix {values.quote(values.excerpt(part, 40))}. " if several else ""
    return fail("checkin", where + problem)


def _answer_part(part: str, several: bool) -> CheckInItem:
    words = part.split()
    kr = KR_REF.match(words[0])
    if kr:
        goal, position = int(kr.group(1)), int(kr.group(2))
        if len(words) != 2:
            raise _part_fail(part, f"G-{goal}.{position} takes its new value alone, like G-{goal}.{position} 28; "
                                   f"a note goes on the goal: G-{goal} <note>", several)
        try:
            value = parse_number(words[1], "checkin", f"G-{goal}.{position}'s value")
        except ParseError as error:
            raise _part_fail(part, error.problem, several) from None
        return CheckInItem(goal, key_result=position, value=value)
    if not GOAL_REF.match(words[0]):
        raise _part_fail(part, f"each part starts with a goal like G-12; {values.quote(values.excerpt(part, 40))} does not",
                         several)
    number = goal_ref(words[0], "checkin")
    if len(words) >= 2 and words[1].lower().rstrip(",.:;!") in ("done", "achieved"):
        note = " ".join(words[2:]).strip()
        if note.lower().startswith("note:"):
            note = note[5:].strip()
        else:
            _refuse_run_on(number, note, part, several, done=True)
        if words[2:] and values.looks_numeric(words[2]):
            raise _part_fail(part, f"G-{number}: done takes no number; say G-{number} done, or G-{number} <percent>", several)
        if len(note) > MAX_NOTE:
            raise _part_fail(part, f"the note is {len(note)} characters; the limit is {MAX_NOTE}", several)
        return CheckInItem(number, done=True, note=note)
    try:
        progress = _parse_progress(words)
    except ParseError as error:
        raise _part_fail(part, f"G-{number}: {error.problem[0].lower()}{error.problem[1:]}", several) from None
    note = progress.note
    if not any(word.lower().startswith("note:") for word in words[1:5]) and not (progress.health == Health.BLOCKED and BLOCKED_BY.search(part)):
        _refuse_run_on(number, note, part, several)  # `note:` says it is a note; `blocked by G-1` names a goal
    return CheckInItem(number, progress.percent, progress.health, note)


BLOCKED_BY = re.compile(r"\bblocked\s+by\s", re.IGNORECASE)


def _refuse_run_on(number: int, note: str, part: str, several: bool, *, done: bool = False) -> None:
    """`G-2 G-1 60%` could be a note about G-1 or two answers run together: refused, both readings shown."""
    first = note.split(None, 1)[0] if note else ""
    if GOAL_REF.match(first) or KR_REF.match(first):
        other = first.upper()
        raise _part_fail(part, f"after G-{number} comes {other}: for two answers write `G-{number} ...; {other} ...`, "
                               f"for a note about {other} write `G-{number} {'done ' if done else ''}note: {values.excerpt(note, 40)}`",
                         several)


_PARSERS = {
    "help": _parse_help,
    "add": _parse_add,
    "propose": _parse_add,
    "assign": _parse_assign,
    "list": _parse_list,
    "ls": _parse_list,
    "show": _parse_show,
    "edit": _parse_edit,
    "tree": _parse_tree,
    "map": _parse_map,
    "link": _parse_link,
    "unlink": _parse_unlink,
    "approve": _parse_approve,
    "accept": _parse_approve,
    "return": _parse_return,
    "decline": _parse_return,
    "progress": _parse_progress,
    "kr": _parse_kr,
    "milestone": _parse_milestone,
    "done": _parse_done,
    "resubmit": _parse_resubmit,
    "reopen": lambda words: Reopen(_single_goal("reopen")(words)),
    "withdraw": lambda words: Withdraw(_single_goal("withdraw")(words)),
    "archive": _parse_archive,
    "kudos": _parse_kudos,
    "settings": _parse_settings,
    "away": _parse_away,
    "digest": _parse_digest,
    "nudge": _parse_nudge,
    "admin": _parse_admin,
    "back": lambda words: Away(None),
    "checkin": lambda words: parse_checkin(" ".join(words)),
}
