"""Fuzzing the command language: what people might type, and what must hold whatever they type.

Shared by tests/test_command_fuzz.py (through Hypothesis) and benchmarks/fuzz_commands.py (through a
seeded random.Random). One grammar serves both: it asks a `Choices` for every decision, and each
backend answers from its own source, so a failing Hypothesis example shrinks towards plain commands
and a benchmark run is reproducible from its seed.

    judge(line, reply)        what is wrong with one reply (an internal error, a long or multi-line error,
                              a command accepted that must be refused)
    check_invariants(db)      what is wrong with everything stored
"""

from __future__ import annotations

import logging
import math
import random
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from hypothesis import strategies as st

from bot.commands import USAGE, _PARSERS
from bot.messages import Reply
from storage.vocabulary import Level
from storage.models import (
    CheckIn, CheckinDefault, CheckinPeriod, Goal, GoalEvent, KeyResult, Kudos, Milestone, Holiday, OrgUnit, OutboxMessage, Person, Tenant,
)

T = TypeVar("T")

# The test org's people (tests/conftest.py ORG_CSV).
EMAILS = (
    "maya@example.com", "omar@example.com", "bo@example.com", "ana@example.com",
    "ravi@example.com", "lena@example.com", "nina@example.com",
)

# The vocabulary ------------------------------------------------------------------------------

LONG = "A" * 10_000
HUGE = "9" * 400

# Pieces that should never crash the bot or end up stored as they are.
HOSTILE = (
    HUGE, "-" + HUGE, "1e309", "-1e309", "1e3", "NaN", "nan", "-nan", "inf", "-inf", "Infinity", "-0", "+0", "-0.0",
    "٣", "٣٠", "２", "１００", "²", "①", "߃",
    "\x00", "a\x00b", "\x07", "\x08", "\x1b[31m", "\x7f", "\x85", "\x9b", "\r", "\x0b", "\x0c",
    "\u200b", "\u2060", "\ufeff", "\u200b\u2060\ufeff", "\u3164", "\u115f", "\u034f", "\u00ad",
    "\u202e", "\u202etxt.exe", "\u2066", "\u2028", "\u2029",
    "\ud800", "x\udfffy",
    LONG, "é" * 300, "🎯" * 100,
    "../etc", "../../etc/passwd", "%s%n", "{0}", "<!channel>", "<@U123>", "*bold*", "`code`",
    "' OR 1=1 --", "e\u0301", "🎯",
)
TITLE_WORDS = (
    "Cut", "churn", "Launch", "private", "beta", "runbook", "alerts", "by", "half", "Q3", "ship", "the",
    "onboarding", "Tune", "noise", "50%", "2x", "v2", "G-3", "@ana", "due", "level", "über", "café", "数据",
)
GOAL_REFS = tuple(f"G-{n}" for n in range(1, 13)) + (
    "g-3", "G3", "G-0", "G-01", "G-999999999", "G-1234567890", "G-" + HUGE, "G--1", "G-1e3", "G-",
    "G-٣", "G-٥", "G-２", "G-１２", "G-²", "G-①", "Ｇ-1", "G-1\u200b", "G\u2011 1", "G-\x001",
)
KR_REFS = ("G-5.1", "G-5.2", "G-1.1", "G-5.0", "G-5.99999", "G-٥.١", "G-5.١", "G-5.1.1", "G-5.")
NUMBERS = (
    "0", "40", "60%", "100", "101", "-5", "3.5", "3,5", "99.999", "0.0001", "50 %", "12abc",
) + (HUGE, "1e309", "-1e309", "1e3", "NaN", "inf", "-inf", "Infinity", "-0", "٣", "٣٠%", "１００", "²", "①")
DATES = (
    "2027-03-31", "2027-02-28", "2028-02-29", "2027-02-30", "2027-13-01", "2027-00-10", "99999-01-01",
    "0001-01-01", "9999-12-31", "1970-01-01", "20270101", "2027-W01-1", "tomorrow", "２０２７-01-01", "2027-1-5",
)
ZONES = (
    "Europe/Paris", "UTC", "Asia/Kolkata", "America/New_York", "Etc/GMT+5", "EST5EDT",
    "localtime", "Factory", "posix/Europe/Paris", "right/UTC", "posixrules", "Europe", "zone.tab", "tzdata.zi",
    "x" * 300, "Europe/" + "A" * 293, "../etc/passwd", "/etc/localtime", "europe/paris", "Europe/Paris\u200b",
    "Europe/Paris\x00", "US/Pacific-New", "Mars/Olympus",
)
MENTIONS = (
    "@ana", "@bo", "@ravi", "@omar", "@lena", "@nina", "@maya", "@maya@example.com", "ana@example.com",
    "@ana@example.com", "<@U123|ana>", "@nobody", "@", "@@", "@ana\u200b", "@ＡＮＡ", "@" + "a" * 300,
)
LEVEL_VALUES = ("company", "department", "dept", "team", "individual", "personal", "Team", "galaxy", "")
CATEGORY_VALUES = ("business", "development", "customer", "operational", "personal", "DEVELOPMENT", "fun")
HEALTH_VALUES = ("on-track", "at-risk", "off-track", "on track", "at risk", "off_track", "atrisk", "fine")
WEEKDAY_VALUES = ("monday", "fri", "friday", "sun", "mo", "funday", "FRIDAY")
TIME_VALUES = ("16:00", "9:00", "09:30", "23:59", "24:00", "12:60", "7:5", "٣:00", "²:00", "16:٣٠", "-1:00")
CADENCE_VALUES = ("weekly", "biweekly", "monthly")
PAGE_VALUES = ("1", "2", "0", "-1", "٣", "²", "①", HUGE, "1e3", "")
SEPARATORS = (" ", " ", " ", " ", "  ", "\t", "\u3000", "\u00a0", "\n")
PREFIXES = ("goals ", "goals ", "goals ", "/goals ", "goal ", "", "GOALS ")


# Where the choices come from -------------------------------------------------------------------


class Choices:
    """Every decision the grammar makes. The first option of a pick is the plainest (what shrinking aims for)."""

    def pick(self, options: Sequence[T]) -> T:
        raise NotImplementedError

    def number(self, low: int, high: int) -> int:
        raise NotImplementedError

    def chance(self, p: float) -> bool:
        raise NotImplementedError

    def free_text(self) -> str:
        raise NotImplementedError


class RandomChoices(Choices):
    """Choices from a seeded random.Random: reproducible and fast, for long runs."""

    # Code points for free text: mostly letters, some of anything (but surrogates, which come from HOSTILE).
    _RANGES = ((0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x600, 0x6FF), (0x4E00, 0x4FFF), (0x1F300, 0x1F6FF))

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def pick(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def number(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def free_text(self) -> str:
        chars = []
        for _ in range(self.rng.randint(1, 12)):
            roll = self.rng.random()
            if roll < 0.6:
                chars.append(self.rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
            elif roll < 0.9:
                low, high = self.rng.choice(self._RANGES)
                chars.append(chr(self.rng.randint(low, high)))
            else:
                point = self.rng.randint(0, 0x10FFFF)
                chars.append(chr(point) if not 0xD800 <= point <= 0xDFFF else "?")
        return "".join(chars)


class DrawChoices(Choices):
    """Choices drawn by Hypothesis, so a failing example shrinks to the plainest command that fails."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
        self.draw = draw

    def pick(self, options: Sequence[T]) -> T:
        return self.draw(st.sampled_from(options))

    def number(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))

    def chance(self, p: float) -> bool:
        # Shrinks to False (0), which is the plain choice.
        return self.draw(st.integers(0, 999)) >= 1000 - round(p * 1000)

    def free_text(self) -> str:
        return self.draw(st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12))


# The grammar ---------------------------------------------------------------------------------------


def _maybe_hostile(c: Choices, options: Sequence[str], p: float = 0.15) -> str:
    return c.pick(HOSTILE) if c.chance(p) else c.pick(options)


def _ref(c: Choices) -> str:
    return c.pick(GOAL_REFS[:12]) if c.chance(0.8) else c.pick(GOAL_REFS)


def _words(c: Choices, low: int = 1, high: int = 5) -> list[str]:
    words = []
    for _ in range(c.number(low, high)):
        roll = c.number(0, 9)
        if roll < 7:
            words.append(c.pick(TITLE_WORDS))
        elif roll < 9:
            words.append(c.free_text())
        else:
            words.append(c.pick(HOSTILE))
    if c.chance(0.05):  # just over or at the 200-character limit
        words = ["x" * c.pick((199, 200, 201, 300))]
    return words


def _draft(c: Choices, *, owner: bool) -> list[str]:
    words = _words(c)
    options = []
    if c.chance(0.4):
        options.append("parent:" + _ref(c))
    if c.chance(0.25):
        options.append("due:" + c.pick(DATES))
    if c.chance(0.1):
        options.append("start:" + c.pick(DATES))
    if c.chance(0.3):
        options.append("level:" + c.pick(LEVEL_VALUES))
    if owner or c.chance(0.1):
        options.append("owner:" + c.pick(MENTIONS).lstrip("@" if c.chance(0.3) else ""))
    if c.chance(0.15):
        options.append(c.pick(("category:", "cat:")) + c.pick(CATEGORY_VALUES))
    if c.chance(0.05) and options:
        options.append(options[0])  # an option given twice
    for option in options:
        words.insert(c.number(0, len(words)), option)
    if c.chance(0.15):
        words.append("private")
    return words


def _gen_help(c: Choices) -> list[str]:
    words = ["help"]
    if c.chance(0.6):
        words.append(c.pick(list(USAGE) + ["propose", "nope", "goals"]) if c.chance(0.85) else c.pick(HOSTILE))
    return words


def _gen_add(c: Choices) -> list[str]:
    return [c.pick(("add", "propose"))] + _draft(c, owner=False)


def _gen_assign(c: Choices) -> list[str]:
    return ["assign"] + _draft(c, owner=c.chance(0.9))


def _gen_list(c: Choices) -> list[str]:
    words = [c.pick(("list", "ls"))]
    if c.chance(0.6):
        words.append(c.pick(("mine", "team", "company")) if c.chance(0.6) else c.pick(MENTIONS))
    if c.chance(0.3):
        words.append("all")
    if c.chance(0.25):
        words.append("page:" + c.pick(PAGE_VALUES))
    return words


def _gen_single(c: Choices) -> list[str]:
    verb = c.pick(("show", "tree", "unlink", "approve", "accept", "done", "archive", "reopen", "withdraw"))
    words = [verb]
    if verb != "tree" or c.chance(0.7):
        words.append(_ref(c))
    if c.chance(0.05):
        words.append(_ref(c))
    return words


def _gen_edit(c: Choices) -> list[str]:
    words = ["edit", _ref(c)]
    fields = []
    if c.chance(0.5):
        title = " ".join(_words(c))
        fields.append(f'title:"{title}"' if c.chance(0.5) else "title:" + title)
    if c.chance(0.3):
        fields.append("due:" + (c.pick(DATES) if c.chance(0.8) else "none"))
    if c.chance(0.15):
        fields.append("start:" + c.pick(DATES))
    if c.chance(0.2):
        fields.append("level:" + c.pick(LEVEL_VALUES))
    if c.chance(0.15):
        fields.append(c.pick(("category:", "cat:")) + c.pick(CATEGORY_VALUES))
    if c.chance(0.15):
        fields.append('description:"' + " ".join(_words(c)) + '"')
    if c.chance(0.2):
        fields.append(c.pick(("private", "public")))
    if c.chance(0.05) and fields:
        fields.append(fields[0])  # a field given twice
    return words + fields


def _gen_link(c: Choices) -> list[str]:
    return ["link", _ref(c), _ref(c)]


def _gen_return(c: Choices) -> list[str]:
    return [c.pick(("return", "decline")), _ref(c)] + (_words(c) if c.chance(0.9) else [])


def _gen_resubmit(c: Choices) -> list[str]:
    return ["resubmit", _ref(c)] + (_words(c) if c.chance(0.5) else [])


def _gen_progress(c: Choices) -> list[str]:
    words = ["progress", _ref(c)]
    if c.chance(0.8):
        words.append(c.pick(NUMBERS))
    if c.chance(0.4):
        words += c.pick(HEALTH_VALUES).split()
    if c.chance(0.4):
        words += _words(c)
    return words


def _gen_kr_add(c: Choices) -> list[str]:
    words = ["kr", "add", _ref(c)] + _words(c, 1, 3)
    start, target = c.pick(NUMBERS), c.pick(NUMBERS)
    form = c.number(0, 3)
    if form == 0:
        words.append(f"{start}->{target}")
    elif form == 1:
        words += [start, "->", target]
    elif form == 2:
        words += [start, "to", target]
    else:
        words.append(f"{start}→{target}")
    if c.chance(0.4):
        words.append(_maybe_hostile(c, ("%", "ms", "users", "€", "pages/week"), 0.2))
    return words


def _gen_kr_update(c: Choices) -> list[str]:
    ref = c.pick(KR_REFS[:3]) if c.chance(0.7) else c.pick(KR_REFS)
    roll = c.number(0, 9)
    if roll == 0:
        return ["kr", c.pick(("remove", "delete")), ref]
    if roll == 1:
        words = ["kr", "edit", ref]
        if c.chance(0.6):
            words += _words(c)
        if c.chance(0.6):
            words.append(f"{c.pick(NUMBERS)}->{c.pick(NUMBERS)}")
        return words
    return ["kr", ref, c.pick(NUMBERS) + ("%" if c.chance(0.2) else "")]


def _gen_milestone(c: Choices) -> list[str]:
    if c.chance(0.25):
        return ["milestone", c.pick(("done", "remove")), _ref(c), c.pick(("1", "2", "9", "x", "-1"))]
    words = ["milestone", "add", _ref(c)] + _words(c)
    if c.chance(0.3):
        words.insert(c.number(3, len(words)), "due:" + c.pick(DATES))
    return words


def _gen_kudos(c: Choices) -> list[str]:
    words = ["kudos", c.pick(MENTIONS)]
    if c.chance(0.4):
        words.append(_ref(c))
    return words + _words(c)


def _gen_settings(c: Choices) -> list[str]:
    roll = c.number(0, 9)
    if roll < 4:
        return ["settings", c.pick(("timezone", "tz")), c.pick(ZONES)]
    if roll < 9:
        words = ["settings", "checkin"]
        for values, p in ((WEEKDAY_VALUES, 0.7), (TIME_VALUES, 0.6), (CADENCE_VALUES, 0.4)):
            if c.chance(p):
                words.append(c.pick(values))
        return words
    if c.chance(0.5):
        return ["settings", "checkin", c.pick(("off", "on", "default"))]
    return ["settings"] + ([c.pick(("colour", "timezone", "tz"))] if c.chance(0.5) else [])


def _gen_admin(c: Choices) -> list[str]:
    roll = c.number(0, 10)
    if roll == 10:
        return ["admin", "alignment", *([c.pick(("Platform", "unit:Sales", "Nowhere", '"Engineering"'))]
                                         if c.chance(0.6) else [])]
    if roll < 3:
        words = ["admin", "checkin", "default"]
        for values, p in ((WEEKDAY_VALUES, 0.9), (TIME_VALUES, 0.9), (CADENCE_VALUES, 0.4)):
            if c.chance(p):
                words.append(c.pick(values))
        if c.chance(0.4):
            words.append("unit:" + c.pick(("Platform", "Engineering", "Sales", "EMEA", "Nowhere", "platform")))
        return words
    if roll < 5:
        return ["admin", "checkin", "reminder", c.pick(("4h", "90m", "1h30m", "off", "0", "5x", "100h", "0m", "-1h"))]
    if roll < 8:
        op = c.pick(("add", "remove", "list", "delete", "move"))
        return ["admin", "holiday", op] + ([c.pick(DATES)] if op != "list" or c.chance(0.2) else []) + (
            _words(c, 0, 3) if op == "add" else [])
    if roll < 9:
        return ["admin", "outbox"] + ([c.pick(("retry",)), c.pick(("1", "999999", "x", "-1"))] if c.chance(0.5) else [])
    return ["admin"] + ([c.pick(("colour", "checkin", "holiday"))] if c.chance(0.5) else [])


def _gen_away(c: Choices) -> list[str]:
    roll = c.number(0, 3)
    if roll == 0:
        return [c.pick(("back",))]
    if roll == 1:
        return ["away", c.pick(("off", "back", "none", "later"))]
    return ["away", "until", c.pick(DATES)]


def _gen_digest(c: Choices) -> list[str]:
    """`goals digest [part]` (read-only) and `goals nudge @person`."""
    if c.chance(0.5):
        return ["nudge", *([c.pick(MENTIONS)] if c.chance(0.9) else []), *_words(c, 0, 1)]
    parts = ("pending", "blocked", "at-risk", "at", "risk", "missing", "stale", "unaligned", "overdue", "all")
    return ["digest", *([c.pick(parts)] if c.chance(0.6) else [])]


def _gen_map(c: Choices) -> list[str]:
    """`goals map [G-n|mine|team|<unit>|revoke]`: a link, or the end of every link given so far."""
    roll = c.number(0, 5)
    if roll == 0:
        return ["map"]
    if roll == 1:
        return ["map", c.pick(("mine", "team", "revoke", "my", "me"))]
    if roll == 2:
        return ["map", _ref(c)]
    if roll == 3:
        return ["map", c.pick(("Platform", "Engineering", "unit:Sales", '"EMEA"', "Nowhere"))]
    return ["map", *_words(c, 1, 3)]


def _checkin_parts(c: Choices) -> list[str]:
    words: list[str] = []
    for i in range(c.number(1, 3)):
        if i:
            words.append(c.pick((";", ";", "\n", ";;")))
        words.append(_ref(c))
        if c.chance(0.25):
            words.append(c.pick(("done", "achieved")))
            continue
        if c.chance(0.7):
            words.append(c.pick(NUMBERS))
        if c.chance(0.4):
            words += c.pick(HEALTH_VALUES).split()
        if c.chance(0.4):
            words += _words(c, 1, 4)
    return words


def _gen_garbage(c: Choices) -> list[str]:
    roll = c.number(0, 3)
    if roll == 0:
        return [c.free_text() for _ in range(c.number(1, 4))]
    if roll == 1:
        return [c.pick(("ad", "lst", "shwo", "progres", "kudo", "halp")), *_words(c, 0, 2)]
    if roll == 2:
        return [c.pick(HOSTILE)]
    return [c.pick(("kr", "milestone", "kudos", "link", "return", "progress", "assign", "add", "away", "settings"))]


GENERATORS: tuple[Callable[[Choices], list[str]], ...] = (
    _gen_add, _gen_add, _gen_assign, _gen_list, _gen_single, _gen_single, _gen_link, _gen_return,
    _gen_progress, _gen_progress, _gen_kr_add, _gen_kr_update, _gen_milestone, _gen_kudos, _gen_settings,
    _gen_away, _gen_admin, _gen_help, _gen_digest, _gen_edit, _gen_resubmit, _gen_map, _gen_garbage,
)


# The verbs the grammar above says (`checkin` also as `goals checkin`); test_command_fuzz checks it covers the parser's.
VERBS = frozenset({
    "add", "propose", "assign", "list", "ls", "show", "tree", "unlink", "approve", "accept", "done", "archive",
    "link", "return", "decline", "progress", "kr", "milestone", "kudos", "settings", "away", "back", "help", "checkin",
    "admin", "digest", "nudge", "edit", "resubmit", "reopen", "withdraw", "map",
})


def uncovered_verbs() -> set[str]:
    """Verbs the command parser knows (and help lists) that the grammar never says."""
    return (set(_PARSERS) | set(USAGE)) - VERBS


def _mutate(c: Choices, words: list[str]) -> list[str]:
    """Mix a hostile piece in: as a word of its own, in place of a word, or glued to one."""
    words = list(words)
    for _ in range(c.number(1, 2)):
        piece = c.pick(HOSTILE)
        how = c.number(0, 3)
        at = c.number(0, len(words))
        if how == 0 or not words:
            words.insert(at, piece)
        elif how == 1:
            words[min(at, len(words) - 1)] = piece
        elif how == 2:
            words[min(at, len(words) - 1)] += piece
        else:
            words[min(at, len(words) - 1)] = piece + words[min(at, len(words) - 1)]
    return words


def command_line(c: Choices) -> str:
    """One line someone might type to the bot, well-formed or not."""
    if c.chance(0.18):
        prefix = c.pick(("checkin ", "checkin ", "/checkin ", "check-in ", "goals checkin "))
        words = _checkin_parts(c) if c.chance(0.95) else []
    else:
        prefix = c.pick(PREFIXES)
        words = c.pick(GENERATORS)(c)
    if c.chance(0.3):
        words = _mutate(c, words)
    separator = c.pick(SEPARATORS) if c.chance(0.15) else " "
    line = prefix + separator.join(words)
    if c.chance(0.05):
        line = c.pick(("  ", "\t", "\u200b", "\ufeff", "\n")) + line + c.pick(("", " ", "\n", "\x00"))
    return line


@st.composite
def command_lines(draw) -> str:
    """A Hypothesis strategy: a command line, well-formed or broken."""
    return command_line(DrawChoices(draw))


@st.composite
def conversations(draw, max_size: int = 4) -> list[tuple[str, str]]:
    """A Hypothesis strategy: a few (who, line) pairs, said in turn by people of the test org."""
    size = draw(st.integers(1, max_size))
    return [(draw(st.sampled_from(EMAILS)), draw(command_lines())) for _ in range(size)]


def random_conversation_line(rng: random.Random) -> tuple[str, str]:
    """One (who, line) from a seeded random.Random, for long runs."""
    choices = RandomChoices(rng)
    return choices.pick(EMAILS), command_line(choices)


# Commands that must be refused ---------------------------------------------------------------------

_REF_SHAPE = re.compile(r"^g-?\d+(?:\.\d+)?$", re.IGNORECASE)  # \d: any script's digits
_NUMBER_SHAPE = re.compile(r"^[+-]?\d+(?:[.,]\d+)?(?:e[+-]?\d+)?%?$", re.IGNORECASE)
_NOT_A_NUMBER = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
# A key result's `<start>-><target>` (or `→`, `to`), with any script's digits.
_KR_RANGE = re.compile(r"(?:^|\s)([-+]?\d+(?:[.,]\d+)?)\S*?\s*(?:->|→|\bto\b)\s*([-+]?\d+(?:[.,]\d+)?)", re.IGNORECASE)
_SINGLE_REF_VERBS = {"show", "tree", "unlink", "approve", "accept", "done", "archive", "return", "decline", "progress",
                     "reopen", "withdraw", "resubmit", "edit"}


def _non_ascii_ref(token: str) -> bool:
    return bool(_REF_SHAPE.match(token)) and not token.isascii()


def _unusable_number(token: str) -> str | None:
    """Why a number typed where progress or a value goes cannot be taken, or None when it can (or is no number)."""
    lowered = token.lower().rstrip("%")
    if lowered in _NOT_A_NUMBER:
        return f"`{token}` is not a number"
    if not _NUMBER_SHAPE.match(token):
        return None
    if not token.isascii():
        return f"`{token[:20]}` has digits other than ASCII ones"
    if "e" in lowered:
        return f"`{token[:20]}` is in exponent form"
    if not math.isfinite(float(lowered.replace(",", "."))):
        return f"`{token[:20]}...` is too large to be a number"
    return None


def _checkin_refusal(answer: str) -> str | None:
    for part in re.split(r"[;\n]+", answer):
        words = part.split()
        if not words:
            continue
        if _non_ascii_ref(words[0]):
            return f"the goal reference {words[0]!r} has non-ASCII digits"
        if len(words) >= 2 and words[1].lower() not in ("done", "achieved"):
            if problem := _unusable_number(words[1]):
                return problem
    return None


def must_refuse(line: str) -> str | None:
    """Why this command must get an error reply whoever sends it, or None when it may be accepted.

    Deliberately narrow: a goal or key result reference written with digits other than ASCII ones
    (G-٣ is not G-3), and where progress or a key result's value goes, a number that is not one
    (NaN, inf), in exponent form (1e309), too large (400 digits) or in other digits (٣, ３); such a
    thing is not a note either.
    """
    words = line.split()
    if not words:
        return None
    if words[0].lower() in ("goals", "/goals", "goal", "/goal"):
        words = words[1:]
    if not words:
        return None
    verb, args = words[0].lower(), words[1:]
    if verb in ("checkin", "/checkin", "check-in"):
        skip = len(line.split()) - len(words) + 1  # the words before the answer
        parts = line.split(None, skip)
        return _checkin_refusal(parts[skip] if len(parts) > skip else "")
    refs: list[str] = []
    if verb in _SINGLE_REF_VERBS:
        refs = args[:1]
    elif verb == "link":
        refs = args[:2]
    elif verb == "kr":
        refs = args[1:2] if args[:1] and args[0].lower() == "add" else args[:1]
    elif verb == "milestone" and args[:1] and args[0].lower() == "add":
        refs = args[1:2]
    elif verb in ("add", "propose", "assign"):
        refs = [arg.partition(":")[2] for arg in args if arg.lower().startswith("parent:")]
    for ref in refs:
        if _non_ascii_ref(ref):
            return f"the goal reference {ref!r} has non-ASCII digits"
    if verb == "progress" and len(args) >= 2:
        return _unusable_number(args[1])
    if verb == "kr" and args and args[0].lower() != "add" and len(args) >= 2:
        return _unusable_number(args[1])
    if verb == "kr" and args[:1] and args[0].lower() == "add":
        match = _KR_RANGE.search(" ".join(args[2:]))
        if match and not (match[1].isascii() and match[2].isascii()):
            return f"the key result's numbers {match[1]!r} -> {match[2]!r} have non-ASCII digits"
    return None


# Judging replies ---------------------------------------------------------------------------------------

INTERNAL_ERROR = "Something went wrong on our side"
MAX_ERROR = 600


def reply_text(reply: Reply) -> str:
    """The words of a reply, block by block, as the core wrote them (before any platform escapes them)."""
    return "\n".join(text for block in reply.blocks if isinstance(text := getattr(block, "text", None), str))


def judge_reply(text: str, is_error: bool) -> list[str]:
    """What is wrong with a reply's text: an internal error, or an error that is not one short line."""
    problems = []
    if INTERNAL_ERROR in text:
        problems.append(f"internal error: {text[:200]!r}")
    elif is_error:
        if len(text.splitlines()) > 1:
            problems.append(f"error reply is {len(text.splitlines())} lines: {_show(text, 120)}")
        if len(text) > MAX_ERROR:
            problems.append(f"error reply is {len(text):,} characters (limit {MAX_ERROR}): {_show(text, 80)}")
    return problems


def judge(line: str, reply: Reply) -> list[str]:
    """What is wrong with the reply to this line, including a command accepted that must be refused."""
    problems = judge_reply(reply_text(reply), reply.error)
    if not reply.error and (why := must_refuse(line)):
        problems.append(f"accepted though {why}: got {_show(reply_text(reply), 100)}")
    return problems


class CrashLog(logging.Handler):
    """Keeps the last exception the core logged with an incident, to say what an internal error was."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            cause = getattr(error, "orig", None) or error
            self.last = f"{type(cause).__name__}: {str(cause).splitlines()[0][:200] if str(cause) else ''}"

    def take(self) -> str | None:
        last, self.last = self.last, None
        return last

    @classmethod
    def install(cls, logger: str = "goalbot.core") -> CrashLog:
        target = logging.getLogger(logger)
        for handler in target.handlers:
            if isinstance(handler, cls):
                return handler
        handler = cls()
        target.addHandler(handler)
        return handler


async def send_and_judge(send: Callable[[str, str], Any], email: str, line: str, crashes: CrashLog | None = None) -> list[str]:
    """Send one line as someone, and judge the reply; an exception out of the core is an internal error too."""
    if crashes:
        crashes.take()
    try:
        reply = await send(email, line)
    except Exception as error:  # noqa: BLE001 - what escapes the core is the finding
        return [f"internal error: {type(error).__name__} escaped the core: {str(error)[:200]}"]
    problems = judge(line, reply)
    cause = crashes.take() if crashes else None
    if cause:
        problems = [f"{p} ({cause})" if p.startswith("internal error") else p for p in problems]
    return problems


# What is stored ----------------------------------------------------------------------------------------------

# Text people type, by table: none of it may hold NUL, control characters (but newline and tab) or lone surrogates.
TYPED_TEXT = {
    "tenant": ("name",),
    "org_unit": ("name",),
    "person": ("name", "timezone"),
    "goal": ("title", "description", "note", "return_reason"),
    "key_result": ("metric", "unit"),
    "milestone": ("title",),
    "kudos": ("message",),
    "check_in": ("answer",),
}
# ... and of these, something visible must be left.
VISIBLE_TEXT = {"goal": ("title",), "key_result": ("metric",), "milestone": ("title",), "kudos": ("message",), "person": ("name",)}
BAD_ZONES = re.compile(r"^(?:localtime|Factory|posixrules|posix/.*|right/.*)$")
TABLES = (Tenant, OrgUnit, Person, Goal, KeyResult, Milestone, Kudos, GoalEvent, CheckIn, OutboxMessage)


@dataclass(frozen=True)
class Violation:
    """One thing wrong with what is stored. `value` is the offending value, to find the command that stored it."""

    message: str
    table: str = ""
    column: str = ""
    value: Any = None

    def __str__(self) -> str:
        return self.message


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(value):,} chars)" if isinstance(value, str) else text[:limit] + "..."


def _is_invisible(char: str) -> bool:
    """Whitespace, or a character that shows nothing (Unicode's Default_Ignorable_Code_Point and the like)."""
    if char.isspace():
        return True
    if unicodedata.category(char) in ("Cf", "Cc", "Cs", "Zs", "Zl", "Zp"):
        return True
    point = ord(char)
    return (point in (0x034F, 0x115F, 0x1160, 0x3164, 0xFFA0, 0x17B4, 0x17B5)
            or 0x180B <= point <= 0x180F or 0xFE00 <= point <= 0xFE0F or 0xE0000 <= point <= 0xE0FFF)


def text_problem(value: str) -> str | None:
    """Why a piece of typed text must not be stored, or None."""
    for char in value:
        point = ord(char)
        if point == 0:
            return "holds a NUL"
        if 0xD800 <= point <= 0xDFFF:
            return f"holds a lone surrogate U+{point:04X}"
        if (point < 0x20 and char not in "\n\t") or 0x7F <= point <= 0x9F:
            return f"holds the control character U+{point:04X}"
    return None


def _string_problem(value: str) -> str | None:
    """What no stored string of any kind may hold (a database could not keep it faithfully)."""
    if "\x00" in value:
        return "holds a NUL"
    if any(0xD800 <= ord(char) <= 0xDFFF for char in value):
        return "holds a lone surrogate"
    return None


def _json_problems(value: Any, where: str, *, texts: bool) -> list[tuple[str, Any]]:
    """(problem, value) for non-finite numbers anywhere in a JSON value, and with `texts` strings that break text_problem."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [(f"{where} is {value!r}", value)]
    if isinstance(value, str):
        problem = text_problem(value) if texts else _string_problem(value)
        return [(f"{where} {problem}: {_show(value)}", value)] if problem else []
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _json_problems(item, f"{where}.{key}", texts=texts)]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _json_problems(item, f"{where}[{i}]", texts=texts)]
    return []


def _timezone_problem(name: str) -> str | None:
    if BAD_ZONES.match(name):
        return "is not a place's time zone"
    try:
        ZoneInfo(name)
    except Exception as error:  # noqa: BLE001 - any failure to load is the finding
        return f"does not load ({type(error).__name__})"
    return None


async def find_violations(db) -> list[Violation]:
    """Everything wrong with what is stored, read row by row."""
    found: list[Violation] = []
    rows: dict[str, list[dict]] = {}
    async with db.transaction(write=False) as session:
        for model in TABLES:
            table = model.__table__
            try:
                rows[table.name] = [dict(row) for row in (await session.execute(sa.select(table))).mappings()]
            except Exception as error:  # noqa: BLE001 - a table that cannot be read back is the finding
                found.append(Violation(f"{table.name}: cannot be read back: {type(error).__name__}: {str(error)[:200]}", table.name))
                rows[table.name] = []
    refs = {row["id"]: f"G-{row['number']}" for row in rows["goal"]}

    def name_of(table: str, row: dict) -> str:
        if table == "goal":
            return f"goal {refs[row['id']]}"
        if table in ("key_result", "milestone"):
            return f"{table} {refs.get(row['goal_id'], '?')}.{row['position']}"
        if table == "person":
            return f"person {row['email']}"
        return f"{table} {row.get('id')}"

    for model in TABLES:
        table = model.__table__
        for row in rows[table.name]:
            for column in table.columns:
                value = row[column.name]
                where = f"{name_of(table.name, row)} {column.name}"
                if isinstance(value, float) and not math.isfinite(value):
                    found.append(Violation(f"{where} is {value!r}", table.name, column.name, value))
                elif isinstance(value, str):
                    length = getattr(column.type, "length", None)
                    problem = (
                        text_problem(value) if column.name in TYPED_TEXT.get(table.name, ()) else _string_problem(value)
                    )
                    if problem:
                        found.append(Violation(f"{where} {problem}: {_show(value)}", table.name, column.name, value))
                    if length and len(value) > length:
                        found.append(Violation(f"{where} is {len(value):,} characters, over the column's {length}",
                                               table.name, column.name, value))
                    if column.name in VISIBLE_TEXT.get(table.name, ()) and all(_is_invisible(ch) for ch in value):
                        found.append(Violation(f"{where} is empty or invisible: {_show(value)}", table.name, column.name, value))
                elif isinstance(value, dict | list) and column.name != "before":
                    # A goal's history holds its typed text (each `before` was an `after` or the goal's own row
                    # once, so `after` is enough); a message owed holds replies, made of that text.
                    found += [Violation(problem, table.name, column.name, bad)
                              for problem, bad in _json_problems(value, where, texts=table.name == "goal_event")]

    for goal in rows["goal"]:
        ref = refs[goal["id"]]
        for column in ("progress", "manual_progress"):
            value = goal[column]
            if isinstance(value, float) and math.isfinite(value):
                if not 0 <= value <= 100:
                    found.append(Violation(f"goal {ref} {column} is {value}, outside 0..100", "goal", column, value))
                elif value == 0 and math.copysign(1, value) < 0:
                    found.append(Violation(f"goal {ref} {column} is negative zero", "goal", column, value))
            elif value is None:
                found.append(Violation(f"goal {ref} {column} is NULL", "goal", column, value))
        if goal["level"] not in tuple(Level):
            found.append(Violation(f"goal {ref} has the level {goal['level']!r}", "goal", "level", goal["level"]))
    for person in rows["person"]:
        if isinstance(person["timezone"], str) and (problem := _timezone_problem(person["timezone"])):
            found.append(Violation(f"person {person['email']} time zone {_show(person['timezone'])} {problem}",
                                   "person", "timezone", person["timezone"]))

    by_id = {goal["id"]: goal for goal in rows["goal"]}
    rank = {level.value: i for i, level in enumerate(Level)}
    for goal in rows["goal"]:
        parent = by_id.get(goal["parent_id"]) if goal["parent_id"] is not None else None
        if parent is not None and rank.get(parent["level"], 99) > rank.get(goal["level"], -1):
            found.append(Violation(f"goal {refs[goal['id']]} ({goal['level']}) supports {refs[parent['id']]} "
                                   f"({parent['level']}), a lower level", "goal", "parent_id"))
        if parent is not None and parent["tenant_id"] != goal["tenant_id"]:
            found.append(Violation(f"goal {refs[goal['id']]} supports a goal of another tenant", "goal", "parent_id"))
    reported: set[int] = set()
    for goal in rows["goal"]:
        seen: list[int] = []
        current = goal["id"]
        while current is not None and current in by_id and current not in seen:
            seen.append(current)
            current = by_id[current]["parent_id"]
        if current is not None and current in seen:
            loop = seen[seen.index(current):]
            if not reported & set(loop):
                reported |= set(loop)
                found.append(Violation("goals support one another in a loop: " + " -> ".join(refs[i] for i in loop + [current]),
                                       "goal", "parent_id"))

    numbers = Counter((goal["tenant_id"], goal["number"]) for goal in rows["goal"])
    for (tenant, number), count in numbers.items():
        if count > 1:
            found.append(Violation(f"G-{number} is the reference of {count} goals in tenant {tenant}", "goal", "number"))
    last = {tenant["id"]: tenant["last_goal_number"] for tenant in rows["tenant"]}
    for goal in rows["goal"]:
        if goal["number"] > last.get(goal["tenant_id"], 0) or goal["number"] < 1:
            found.append(Violation(f"goal {refs[goal['id']]} is beyond its tenant's last number "
                                   f"{last.get(goal['tenant_id'])}", "goal", "number"))
    return found


async def check_invariants(db) -> list[str]:
    """Every stored row read back; one line per thing wrong (an empty list: all is well)."""
    return [str(violation) for violation in await find_violations(db)]


# Seeding and resetting the test org ------------------------------------------------------------------------

SEED = (
    # (who, line): goals G-1 .. G-9 across the org, with a key result, a milestone, kudos and a check-in.
    ("maya@example.com", "goals add Grow revenue level:company"),
    ("maya@example.com", "goals add Ship reliably level:company"),
    ("omar@example.com", "goals add Engineering excellence level:department parent:G-2"),
    ("maya@example.com", "goals approve G-3"),
    ("bo@example.com", "goals add Platform uptime level:team parent:G-3 due:2027-06-30"),
    ("omar@example.com", "goals approve G-4"),
    ("ana@example.com", "goals add Tune alerting parent:G-4 due:2027-03-31"),
    ("bo@example.com", "goals approve G-5"),
    ("ana@example.com", "goals kr add G-5 Noisy alerts 40->20"),
    ("ana@example.com", "goals milestone add G-5 Draft the plan due:2027-01-15"),
    ("ravi@example.com", "goals add Write runbooks parent:G-4"),
    ("bo@example.com", "goals assign Rotate keys owner:@ravi parent:G-4"),
    ("lena@example.com", "goals add Sales pipeline level:department parent:G-1"),
    ("maya@example.com", "goals approve G-8"),
    ("nina@example.com", "goals add Close deals parent:G-8 private"),
    ("lena@example.com", "goals approve G-9"),
    ("ana@example.com", "goals kr G-5.1 30"),
    ("ravi@example.com", "goals progress G-6 40 at-risk waiting on the vendor"),
    ("bo@example.com", "goals kudos @ana G-5 the alerts are quiet"),
    ("nina@example.com", "checkin G-9 30% on-track"),
)
# What the commands change, children before parents (the order rows are deleted in).
MUTABLE = (CheckinPeriod, CheckinDefault, Holiday, OutboxMessage, GoalEvent, CheckIn, Kudos, KeyResult, Milestone, Goal)


@dataclass
class Snapshot:
    rows: dict[str, list[dict]]
    people: list[dict]
    tenants: list[dict]


async def take_snapshot(db) -> Snapshot:
    async with db.transaction(write=False) as session:
        rows = {model.__table__.name: [dict(r) for r in (await session.execute(sa.select(model.__table__).order_by(model.__table__.c.id))).mappings()]
                for model in MUTABLE}
        people = [dict(r) for r in (await session.execute(sa.select(Person.__table__))).mappings()]
        tenants = [dict(r) for r in (await session.execute(sa.select(Tenant.__table__))).mappings()]
    return Snapshot(rows, people, tenants)


async def restore_snapshot(db, snapshot: Snapshot) -> None:
    """Put the goals, their history and people's settings back as they were when the snapshot was taken."""
    async with db.transaction() as session:
        await session.execute(sa.update(Goal.__table__).values(parent_id=None))
        await session.execute(sa.update(OutboxMessage.__table__).values(replaces_id=None))
        for model in MUTABLE:
            await session.execute(sa.delete(model.__table__))
        for model in reversed(MUTABLE):
            table = model.__table__
            self_refs = [c.name for c in table.columns for fk in c.foreign_keys if fk.column.table is table]
            values = snapshot.rows[table.name]
            if values:
                await session.execute(sa.insert(table), [{**row, **{name: None for name in self_refs}} for row in values])
                for name in self_refs:
                    linked = [{"_id": row["id"], "_ref": row[name]} for row in values if row[name] is not None]
                    if linked:
                        await session.execute(
                            sa.update(table).where(table.c.id == sa.bindparam("_id")).values({name: sa.bindparam("_ref")}),
                            linked,
                        )
        person = Person.__table__
        await session.execute(
            sa.update(person).where(person.c.id == sa.bindparam("_id")).values(
                {c.name: sa.bindparam("_" + c.name) for c in person.columns if c.name != "id"}),
            [{"_id": row["id"], **{"_" + key: value for key, value in row.items() if key != "id"}} for row in snapshot.people],
        )
        tenant = Tenant.__table__
        await session.execute(
            sa.update(tenant).where(tenant.c.id == sa.bindparam("_id")).values(
                last_goal_number=sa.bindparam("_last"), reminder_minutes=sa.bindparam("_reminder")),
            [{"_id": row["id"], "_last": row["last_goal_number"], "_reminder": row["reminder_minutes"]}
             for row in snapshot.tenants],
        )
        # Anyone who joined since (a person the snapshot does not know) is left alone: nothing typed creates people here.
