"""Throw generated commands at the core for a long while: nothing crashes, nothing invalid is stored.

Makes a fresh SQLite database in a temporary folder (or a fresh schema on the PostgreSQL at --postgres),
imports the test org (tests/conftest.py), seeds its goals, then sends --commands lines from the fuzzing
vocabulary (tests/fuzz.py), each as a random person of the org, through the whole core. The lines come
from a random.Random seeded with --seed, so a run can be repeated exactly. Every reply is judged (no
internal error; an error is one line of at most 600 characters; a command that must be refused is), and
every stored row is checked every --check-every commands and at the end.

Prints one summary line, then up to 10 samples of each kind of finding with the command behind it. A
stored violation is found at a check, not when it is written; its command is the latest accepted one
since the previous check whose text holds the stored value (or the range of commands, when none does).
Exits 1 on any internal error, bad reply or invariant violation.

    .venv/bin/python benchmarks/fuzz_commands.py --commands 100000 [--postgres URL] [--seed N] [--check-every 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import random
import re
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.console.chat import ConsoleChat  # noqa: E402
from benchmarks.servers import scratch_schema  # noqa: E402
from bot.dispatch import Bot  # noqa: E402
from bot.org import import_people, read_csv  # noqa: E402
from bot.people import tenant_by_key  # noqa: E402
from storage.database import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from tests.conftest import ORG_CSV  # noqa: E402
from tests.fuzz import (  # noqa: E402
    SEED, CrashLog, Violation, find_violations, judge, random_conversation_line, reply_text,
)

SAMPLES = 10


@dataclass
class Sent:
    number: int
    email: str
    line: str
    accepted: bool


def _kind(message: str) -> str:
    """A finding without its particulars (values, references, ids, counts), to sample one of each kind."""
    message = re.sub(r"^internal error: 'Something went wrong[^']*'", "internal error:", message)
    message = re.sub(r"['\"`].*?\.\.\. \([\d,]+ chars\)", "…", message)  # a long value, cut short
    message = re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`", "…", message)
    return re.sub(r"\d[\d,.]*", "#", message)[:120]


def _flat(text: str) -> str:
    return " ".join(text.split())


def _non_finite_number_in(line: str) -> bool:
    for token in re.split(r"[\s>→]+|->", line):
        token = token.rstrip("%")
        if token.lower().lstrip("+-") in ("inf", "infinity", "nan"):
            return True
        if re.fullmatch(r"[+-]?\d+(?:[.,]\d+)?(?:[eE][+-]?\d+)?", token):
            try:
                if not math.isfinite(float(token.replace(",", "."))):
                    return True
            except ValueError:
                continue
    return False


def culprit(violation: Violation, window: list[Sent]) -> str:
    """The command most likely to have stored this, among those accepted since the last check."""
    accepted = [sent for sent in window if sent.accepted]
    value = violation.value
    if isinstance(value, str) and value.split():
        # Stored text is the line's words, less options and flags, joined by spaces (or a piece of a check-in).
        words = set(value.split())
        for sent in reversed(accepted):
            if words <= set(sent.line.split()) or _flat(value)[:60] in _flat(sent.line):
                return f"#{sent.number} {sent.email}: {sent.line[:160]!r}"
    if isinstance(value, float) and not math.isfinite(value):
        for sent in reversed(accepted):
            if _non_finite_number_in(sent.line):
                return f"#{sent.number} {sent.email}: {sent.line[:160]!r}"
    if window:
        return f"one of commands #{window[0].number}..#{window[-1].number}"
    return "the seed"


async def setup(db: Database) -> Bot:
    await upgrade(db)
    rows, _ = read_csv(ORG_CSV)
    async with db.transaction() as session:
        tenant = await tenant_by_key(session, "default", create=True)
        await import_people(session, tenant, rows)
    bot = Bot(db)
    for email, line in SEED:
        reply = await ConsoleChat(bot, email).send(line)
        if reply.error:
            raise SystemExit(f"seeding failed: {email}: {line!r}: {reply_text(reply)}")
    return bot


async def run(db: Database, commands: int, seed: int, check_every: int) -> int:
    bot = await setup(db)
    crashes = CrashLog.install()
    logging.getLogger("goalbot.core").propagate = False  # the incidents are counted and sampled here instead
    chats = {}
    rng = random.Random(seed)
    counts = {"ok": 0, "refused": 0, "internal": 0, "bad": 0}
    findings: dict[str, list[str]] = {"internal errors": [], "bad replies": [], "invariant violations": []}
    kinds: dict[str, dict[str, int]] = {name: {} for name in findings}
    seen_violations: set[str] = set()
    window: deque[Sent] = deque()

    def note(section: str, finding: str, cause: str) -> None:
        kind = _kind(finding)
        counter = kinds[section]
        counter[kind] = counter.get(kind, 0) + 1
        if counter[kind] == 1 and len(findings[section]) < SAMPLES:
            findings[section].append(f"{finding}\n      <- {cause}")

    async def check() -> None:
        for violation in await find_violations(db):
            if violation.message in seen_violations:
                continue
            seen_violations.add(violation.message)
            note("invariant violations", violation.message, culprit(violation, list(window)))
        window.clear()

    started = time.perf_counter()
    for number in range(1, commands + 1):
        email, line = random_conversation_line(rng)
        chat = chats.get(email) or chats.setdefault(email, ConsoleChat(bot, email))
        crashes.take()
        try:
            reply = await chat.send(line)
        except Exception as error:  # noqa: BLE001 - what escapes the core is a finding
            counts["internal"] += 1
            note("internal errors", f"{type(error).__name__} escaped the core: {str(error)[:160]}", f"#{number} {email}: {line[:160]!r}")
            window.append(Sent(number, email, line, False))
            continue
        problems = judge(line, reply)
        internal = [p for p in problems if p.startswith("internal error")]
        if internal:
            counts["internal"] += 1
            note("internal errors", crashes.take() or internal[0], f"#{number} {email}: {line[:160]!r}")
        elif problems:
            counts["bad"] += 1
            for problem in problems:
                note("bad replies", problem, f"#{number} {email}: {line[:160]!r}")
        if reply.error:
            counts["refused"] += 1
        else:
            counts["ok"] += 1
        window.append(Sent(number, email, line, not reply.error))
        if number % check_every == 0:
            await check()
    await check()
    elapsed = time.perf_counter() - started

    violations = len(seen_violations)
    print(f"commands {commands} · ok {counts['ok']} · refused {counts['refused']} · internal errors {counts['internal']} "
          f"· bad replies {counts['bad']} · invariant violations {violations} · {commands / elapsed:.0f} commands/s")
    for section, samples in findings.items():
        if samples:
            total = sum(kinds[section].values())
            print(f"\n{section}: {total} in {len(kinds[section])} kinds; one sample of each of the first {len(samples)}:")
            for sample in samples:
                print(f"  {sample}")
    return 1 if counts["internal"] or counts["bad"] or violations else 0


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=100_000)
    parser.add_argument("--postgres", help="a PostgreSQL URL: run on a fresh schema there instead of a fresh SQLite file")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--check-every", type=int, default=5_000, help="check every stored row after this many commands")
    args = parser.parse_args()

    if not args.postgres:
        with tempfile.TemporaryDirectory(prefix="goalbot-fuzz-") as folder:
            db = Database(f"sqlite+aiosqlite:///{folder}/fuzz.db")
            try:
                return await run(db, args.commands, args.seed, args.check_every)
            finally:
                await db.dispose()

    async with scratch_schema(args.postgres, "goalbot_fuzz") as db:
        return await run(db, args.commands, args.seed, args.check_every)

if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
