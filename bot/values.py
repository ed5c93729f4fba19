"""What the core accepts from people: text, numbers, dates and time zones, checked once as they come in.

Everything a person or a platform hands the core passes through here before it
is parsed or stored, so every stored string is NFC text without control
characters, every number is finite and within its field's range, every date is
one the goal fields can hold, and every time zone is a real IANA region zone.
"""

from __future__ import annotations

import calendar
import contextlib
import contextvars
import functools
import math
import re
import unicodedata
import zoneinfo
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from bot.errors import UserError
from bot.messages import Actor

# The IANA areas whose zones are places; `UTC` is accepted on its own.
ZONE_AREAS = ("Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")
# Letters that draw nothing (Hangul fillers, the Braille blank), on top of spaces, marks and format characters.
BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# The largest magnitude of a key result's values: far beyond any real metric, and exact in a float.
MAX_MAGNITUDE = 1e12
EARLIEST = date(1970, 1, 1)
LATEST = date(2199, 12, 31)
EXCERPT = 40

# Plain ASCII numbers: 60, -3.5, 1,5 (a decimal comma), 1,234,567 or 1,234.5 (grouped thousands).
_PLAIN = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)
_COMMA = re.compile(r"([+-]?[0-9]+),([0-9]+)", re.ASCII)
_GROUPED = re.compile(r"[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?", re.ASCII)
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", re.ASCII)
_NOT_NUMBERS = ("nan", "+nan", "-nan", "inf", "infinity", "+inf", "-inf", "+infinity", "-infinity")


class BadValue(ValueError):
    """A value that cannot be taken as it is; `problem` says why, for the person who typed it."""

    def __init__(self, problem: str, *, out_of_range: bool = False) -> None:
        super().__init__(problem)
        self.problem = problem
        self.out_of_range = out_of_range


def clean(text: str, *, lines: bool = True) -> str:
    """NFC text without NUL, control characters, lone surrogates or noncharacters.

    Line breaks become `\\n` (or a space when `lines` is False); tabs become spaces.
    """
    if text.isascii() and text.isprintable():
        return text
    kept = []
    for char in text.replace("\r\n", "\n"):
        if char in _LINE_BREAKS:
            kept.append("\n" if lines else " ")
        elif char == "\t":
            kept.append(" ")
        elif not (unicodedata.category(char) in ("Cc", "Cs") or _noncharacter(char)):
            kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept))


_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x85\u2028\u2029")


def _noncharacter(char: str) -> bool:
    # U+FDD0..U+FDEF and the last two code points of every plane are never characters.
    point = ord(char)
    return 0xFDD0 <= point <= 0xFDEF or point & 0xFFFE == 0xFFFE


def visible(text: str) -> bool:
    """Whether the text draws anything: not only spaces, marks and invisible format characters."""
    return any(
        not (char.isspace() or char in BLANK_LETTERS or unicodedata.category(char) in ("Cf", "Mn", "Me", "Zs", "Zl", "Zp"))
        for char in text
    )


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """What a person typed, short enough to quote back in a one-line error."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quote(text: str) -> str:
    """A short excerpt of what a person typed, in backticks, for an error line."""
    return f"`{excerpt(text)}`"


def looks_numeric(token: str) -> bool:
    """Whether a word was most likely meant as a number (so it must not become text silently)."""
    return bool(token) and (
        token.lower().rstrip("%") in _NOT_NUMBERS
        or unicodedata.category(token.lstrip("+-")[:1] or " ") == "Nd"
        or token.lstrip("+-")[:1] == "."
    )


def number(token: str, *, low: float = -MAX_MAGNITUDE, high: float = MAX_MAGNITUDE, percent: bool = False) -> float:
    """A number as people write it. Refuses what is not plainly one number: `1e9`, `NaN`, `٣`, and
    `1,000`, which could be a thousand or one."""
    text = token[:-1] if percent and token.endswith("%") else token
    quoted = quote(token)
    if text.lower() in _NOT_NUMBERS:
        raise BadValue(f"{quoted} is not a number I can store")
    if _PLAIN.fullmatch(text):
        value = float(text)
    elif _GROUPED.fullmatch(text) and "." in text:
        value = float(text.replace(",", ""))
    elif (match := _COMMA.fullmatch(text)) is not None:
        whole, fraction = match.groups()
        if len(fraction) == 3 and whole.lstrip("+-"):
            grouped, decimal = whole + fraction, f"{whole}.{fraction}"
            raise BadValue(f"{quoted} could mean {grouped} or {decimal}; write {grouped} or {decimal}")
        value = float(f"{whole}.{fraction}")
    elif _GROUPED.fullmatch(text):
        value = float(text.replace(",", ""))
    elif any(unicodedata.category(char) == "Nd" and not char.isascii() for char in text):
        raise BadValue(f"{quoted} is not a number: write it with the digits 0-9")
    else:
        raise BadValue(f"{quoted} is not a number")
    if not math.isfinite(value) or not low <= value <= high:
        raise BadValue(f"{quoted} is out of range: it must be from {_plain(low)} to {_plain(high)}", out_of_range=True)
    return value + 0.0  # -0 is 0


def _plain(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:g}"


def whole_number(token: str, *, low: int, high: int, what: str) -> int:
    """A whole number in ASCII digits within low..high (a page, a position)."""
    if not re.fullmatch(r"[0-9]{1,9}", token, re.ASCII) or not low <= int(token) <= high:
        raise BadValue(f"{what} must be a whole number from {low} to {high}, not {quote(token)}")
    return int(token)


TODAY: contextvars.ContextVar[date | None] = contextvars.ContextVar("goalbot_today", default=None)


def today(zone: str | None = None) -> date:
    """Today where `zone` is (default UTC), unless a caller (a test) pinned the day in `TODAY`. Relative
    dates (`next friday`) count from it."""
    pinned = TODAY.get()
    if pinned is not None:
        return pinned
    return datetime.now(zoneinfo.ZoneInfo(zone) if zone else UTC).date()


_NUMERIC_DATE = re.compile(r"([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{2}|[0-9]{4})", re.ASCII)
_QUARTER = re.compile(r"q([1-4])(?:[\s/-]*([0-9]{4}))?|([0-9]{4})[\s/-]*q([1-4])", re.IGNORECASE | re.ASCII)
_PERIOD_END = re.compile(r"(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?(month|quarter|year)|eo(m|q|y)", re.IGNORECASE)
_MONTH_END = re.compile(r"(?:the\s+)?end\s+of\s+([a-z]{3,9})(?:\s+([0-9]{4}))?", re.IGNORECASE)
_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name} | {
    name.lower(): number for number, name in enumerate(calendar.month_abbr) if name}
DATE_FORMS = "2027-03-31, 31 Dec 2027, Dec 31, next friday, in 2 weeks, end of month, end of june or Q2 2027"


def _quarter_end(year: int, quarter: int) -> date:
    return date(year + (quarter == 4), 1 if quarter == 4 else 3 * quarter + 1, 1) - timedelta(days=1)


def calendar_date(token: str, base: date | None = None) -> date:
    """A date as people write it (`DATE_FORMS`), counted from `base` (default `today()`) when relative,
    within the years goals can hold. A numeric date that reads two ways (03/04/2027) is refused with
    both. A problem reads after the field's name."""
    text = " ".join(token.split())
    base = base or today()
    day = None
    if match := _DATE.fullmatch(text):
        try:
            day = date(*(int(part) for part in match.groups()))
        except ValueError:
            raise BadValue(f"must be a day on the calendar, not {quote(token)}") from None
    elif match := _NUMERIC_DATE.fullmatch(text):
        first, second, year = int(match[1]), int(match[2]), int(match[3])
        year += 2000 if year < 100 else 0
        readings = []
        for day_of_month, month in ((first, second), (second, first)):
            with contextlib.suppress(ValueError):
                readings.append(date(year, month, day_of_month))
        readings = list(dict.fromkeys(readings))
        if len(readings) > 1:
            raise BadValue(f"{quote(token)} could be {readings[0]:%-d %B %Y} or {readings[1]:%-d %B %Y}; "
                           f"write {readings[0]} or {readings[1]}")
        if not readings:
            raise BadValue(f"must be a day on the calendar, not {quote(token)}")
        day = readings[0]
    elif match := _QUARTER.fullmatch(text):
        quarter = int(match[1] or match[4])
        year = int(match[2] or match[3] or base.year)
        day = _quarter_end(year, quarter)
        if not (match[2] or match[3]) and day < base:
            day = _quarter_end(year + 1, quarter)  # Q1 said in May: next year's
    elif match := _PERIOD_END.fullmatch(text):
        period = (match[1] or {"m": "month", "q": "quarter", "y": "year"}[match[2].lower()]).lower()
        if period == "month":
            day = (base.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        elif period == "quarter":
            day = _quarter_end(base.year, (base.month - 1) // 3 + 1)
        else:
            day = date(base.year, 12, 31)
    elif (match := _MONTH_END.fullmatch(text)) and match[1].lower() in _MONTHS:
        month, year = _MONTHS[match[1].lower()], int(match[2]) if match[2] else base.year
        day = (date(year, month, 1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        if not match[2] and day < base:
            day = (date(year + 1, month, 1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    elif len(text) <= 40 and any(char.isalpha() for char in text):
        import dateparser

        found = dateparser.parse(text, languages=["en"], settings={
            "PREFER_DATES_FROM": "future", "RELATIVE_BASE": datetime.combine(base, time()),
            "RETURN_AS_TIMEZONE_AWARE": False, "PARSERS": ["relative-time", "absolute-time"]})
        day = found.date() if found is not None else None
    if day is None:
        raise BadValue(f"must be a date like {DATE_FORMS}, not {quote(token)}")
    if not EARLIEST <= day <= LATEST:
        raise BadValue(f"must be from {EARLIEST} to {LATEST}, not {day}")
    return day


@functools.cache
def _zones() -> dict[str, str]:
    names = {name for name in zoneinfo.available_timezones() if name.split("/", 1)[0] in ZONE_AREAS} | {"UTC"}
    return {name.lower(): name for name in names}


def zone(name: str) -> str | None:
    """The IANA name of a real region zone (`Europe/Paris`, any case), or None."""
    return _zones().get(name.strip().lower()) if len(name) <= 64 else None


def actor(who: Actor) -> Actor:
    """The actor with every field as the core can store it. A platform id that is not one refuses the request."""
    user_id = clean(who.user_id, lines=False).strip()
    tenant = clean(who.tenant, lines=False).strip()
    if not user_id or len(user_id) > 200 or not tenant or len(tenant) > 120:
        raise UserError("I could not tell who you are from this request, so I did nothing.")
    email = clean(who.email or "", lines=False).strip()
    name = " ".join(clean(who.name or "", lines=False).split())[:200]
    return replace(
        who,
        user_id=user_id,
        tenant=tenant,
        email=email if email and len(email) <= 320 and "@" in email else None,
        name=name if visible(name) else None,
        timezone=zone(who.timezone) if who.timezone else None,
        aliases=tuple(a for a in (clean(alias, lines=False).strip() for alias in who.aliases) if a and len(a) <= 320),
    )
