"""The outbox: every message the bot owes someone, kept until the platform has it, sent once.

A message is written (`enqueue`) in the same transaction as the change that
causes it, so a crash loses neither. It goes to an `Address`: a person's direct
message or a channel. Each platform's `Outbox` worker claims due rows (`sending`,
in its own committed transaction before the call, so two replicas never send
one row both: `FOR UPDATE SKIP LOCKED` on PostgreSQL) and hands each to the
platform's `Sender`, which says how it went:

- `Sent`: the platform has it (its message id is kept, so it can be updated later);
- `RateLimited`: not sent, try again after the platform's Retry-After;
- `NotSent`: certainly not sent (no connection was made), try again later;
- `Unreachable`: the person cannot be written to yet; wait, without counting an attempt;
- `Refused`: a definite no; the row fails;
- `Ambiguous`: we cannot tell whether the platform posted it. An update in place
  is safe to repeat, so it is tried again. A new message is looked for first
  when the sender can look (`Sender.find`: Slack reads the conversation's history
  for the row's metadata), and sent again only when it is not there; when the
  sender cannot look, it is marked `uncertain` instead of being sent twice.

A claim is a lease held by a named worker (`worker`, stable across restarts of
the same process): a row left `sending` by a crash is taken back at once by the
same worker when it starts again, and by any worker once the lease has run out,
and released the same way as an ambiguous send. A message not delivered by its
`expires_at` is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot import reach
from bot.messages import Address, Reply, reply_from_dict, reply_to_dict
from storage.database import Database
from storage.repository import insert_one_new, update_many
from storage.models import CheckinPeriod, Goal, Identity, OutboxMessage, Person, Tenant, utcnow
from storage.vocabulary import PeriodState

log = logging.getLogger("goalbot.outbox")
CONCURRENCY = 16  # sends in flight at once per worker (each platform's pace limits them further)
MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=1)  # how long a claim is held before another worker may take it back
UNSURE = "unsure: "  # a message that may have been posted: looked for before it is sent again
POLL_SECONDS = 2.0
DROP_EVERY = 30.0  # seconds between looks for messages past their expiry
WAIT_CHECK = timedelta(hours=1)  # how often a message for someone unreachable looks again
QUEUED = "goalbot.outbox.queued"  # set in a session's info when it adds outbox rows


class State(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"
    DROPPED = "dropped"  # not delivered before it expired (a check-in prompt past its local day)


class Kind(StrEnum):
    """What a message is, so later changes can find it (a decision updates its approval requests)."""

    APPROVAL = "approval"
    DECISION = "decision"
    UPDATE = "update"
    KUDOS = "kudos"
    WELCOME = "welcome"
    ANSWER = "answer"
    PROMPT = "checkin"  # a scheduled check-in prompt
    REMINDER = "reminder"
    ESCALATION = "escalation"
    NUDGE = "nudge"  # a manager asks a report to check in
    DIGEST = "digest"
    SUMMARY = "summary"  # a channel's periodic summary of a unit's goals
    OWNER_NUDGE = "owner-nudge"  # the owner of an unaligned or stale goal is asked to link or update it


# What a sender reports -----------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where one claimed message goes, with what the core knows about the recipient."""

    tenant: str  # the tenant's key
    tenant_id: int
    channel: str | None  # a channel's id, or None for a person's direct message
    person_id: int | None
    email: str
    user: str | None  # the person's id on this platform, when known
    message: int = 0  # the outbox row's id, which a sender may attach to the message to find it again
    kind: str = ""  # what the message is (`Kind`)
    reference: dict | None = None  # where the platform lets the bot write to the person first, when it has one


@dataclass(frozen=True)
class Posted:
    """A message the platform has: where it landed and its id there, for updating it in place."""

    conversation: str
    message_id: str


@dataclass(frozen=True)
class Sent:
    """The platform has the message. `user` is the recipient's platform id when the sender had to look it up."""

    conversation: str | None = None
    message_id: str | None = None
    user: str | None = None


class Failure(Exception):
    """A send that did not go through; the subclass says what to do about it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:500]


class RateLimited(Failure):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class NotSent(Failure):
    """The platform certainly does not have it (nothing reached it); safe to send again."""


class Unreachable(Failure):
    """The recipient cannot be written to yet (they never opened the bot there)."""


class Refused(Failure):
    """The platform said no, and asking again will not change that."""


class Ambiguous(Failure):
    """The platform may or may not have posted it."""


class Sender(Protocol):
    """What a platform supplies to deliver the outbox."""

    platform: str

    async def send(self, target: Target, reply: Reply) -> Sent:
        """Post the reply to the target; raise a `Failure` when it did not go through."""

    async def update(self, target: Target, posted: Posted, reply: Reply) -> None:
        """Replace a message posted earlier; raise a `Failure` when it did not go through."""

    # Optional: `async def find(self, target: Target) -> Posted | None`, whether the message for this outbox
    # row (`target.message`) was posted after all. A sender without it cannot tell, and an unsure new
    # message is then never sent again.


# Writing rows ------------------------------------------------------------------------


async def enqueue(
    session: AsyncSession,
    tenant_id: int,
    to: Person | Address,
    platform: str,
    kind: str,
    reply: Reply,
    key: str,
    *,
    goal: Goal | None = None,
    not_before: datetime | None = None,
    replaces: OutboxMessage | None = None,
) -> int:
    """Owe a message to a person (their direct message) or a channel; the same key twice is one message.
    Returns the message's id (the one owed already, for a key seen before)."""
    key = key[:200]
    message = OutboxMessage(
        tenant_id=tenant_id, platform=platform, kind=kind, goal_id=goal.id if goal else None, dedupe_key=key,
        body=reply_to_dict(reply), replaces_id=replaces.id if replaces else None,
    )
    if isinstance(to, Person):
        message.person_id = to.id
    elif to.channel is not None:
        message.to_channel = to.channel
    else:
        raise ValueError("a direct message through an Address needs the person, not their platform id")
    if not_before is not None:
        message.next_attempt_at = not_before
    # One statement: the insert, unless the key is owed already.
    created = await insert_one_new(session, OutboxMessage, message, ("tenant_id", "dedupe_key"))
    if created is None:
        return (await session.execute(select(OutboxMessage.id).where(
            OutboxMessage.tenant_id == tenant_id, OutboxMessage.dedupe_key == key))).scalar_one()
    session.info[QUEUED] = True
    return created


async def replace_in_place(session: AsyncSession, goal: Goal, kind: str, reply: Reply, *, latest_only: bool = False) -> None:
    """Every message of this kind about the goal (with `latest_only`, the latest one) now says `reply`:
    rewritten if not sent yet, else updated in place."""
    query = select(OutboxMessage).where(OutboxMessage.goal_id == goal.id, OutboxMessage.kind == kind)
    if latest_only:
        query = query.order_by(OutboxMessage.id.desc()).limit(1)
    rows = (await session.execute(query)).scalars().all()
    for row in rows:
        if row.state == State.PENDING:
            row.body = reply_to_dict(reply)
        elif row.state == State.SENT:
            session.add(OutboxMessage(
                tenant_id=row.tenant_id, person_id=row.person_id, to_channel=row.to_channel, platform=row.platform,
                kind=Kind.UPDATE, goal_id=goal.id, dedupe_key=f"update:{row.id}:{goal.updated_at.isoformat()}"[:200],
                body=reply_to_dict(reply), replaces_id=row.id,
            ))
            session.info[QUEUED] = True


def queued(session: AsyncSession) -> bool:
    """Whether this session added rows for the workers to send."""
    return bool(session.info.get(QUEUED))


async def release_waiting(session: AsyncSession, platform: str, person_id: int) -> None:
    """The person can be reached on the platform now: what waited for them is due at once."""
    await session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.platform == platform, OutboxMessage.person_id == person_id,
               OutboxMessage.state == State.PENDING, OutboxMessage.last_error.like("unreachable:%"))
        .values(next_attempt_at=utcnow())
    )
    session.info[QUEUED] = True


async def release_channel(session: AsyncSession, platform: str, tenant_id: int, channel: str) -> None:
    """goalbot can post in the channel now: what waited for it is due at once."""
    await session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.tenant_id == tenant_id, OutboxMessage.platform == platform,
               OutboxMessage.to_channel == channel, OutboxMessage.state == State.PENDING,
               OutboxMessage.last_error.like("unreachable:%"))
        .values(next_attempt_at=utcnow())
    )
    session.info[QUEUED] = True


async def posted_as(db: Database, platform: str, kind: str, posted: Posted) -> bool:
    """Whether the message at `posted` is one the outbox sent as `kind` (a button pressed on an approval request)."""
    async with db.transaction(write=False) as session:
        found = (
            await session.execute(
                select(OutboxMessage.id).where(
                    OutboxMessage.platform == platform, OutboxMessage.kind == kind,
                    OutboxMessage.channel == posted.conversation, OutboxMessage.message_id == posted.message_id,
                )
            )
        ).first()
    return found is not None


def direct_row(tenant_id: int, person_id: int, platform: str, kind: str, key: str, body: dict, wall: datetime,
             expires: datetime | None, *, goal_id: int | None = None) -> dict:
    """An outbox row to a person, for a bulk insert: deliverable at once (`wall`), dropped if not sent by `expires`."""
    return {**channel_row(tenant_id, "", platform, kind, key, body, wall, expires), "person_id": person_id,
            "to_channel": None, "goal_id": goal_id}


def channel_row(tenant_id: int, channel: str, platform: str, kind: str, key: str, body: dict, wall: datetime,
                expires: datetime | None) -> dict:
    """An outbox row to a channel (the platform's id for it), for a bulk insert, like `direct_row`."""
    return {"tenant_id": tenant_id, "person_id": None, "to_channel": channel, "platform": platform, "kind": kind,
            "goal_id": None, "dedupe_key": key, "body": body, "replaces_id": None,
            "state": State.PENDING, "attempts": 0, "next_attempt_at": wall, "channel": None, "message_id": None,
            "last_error": None, "created_at": wall, "sent_at": None, "expires_at": expires, "claimed_by": None}


# The worker --------------------------------------------------------------------------


@dataclass
class Claimed:
    id: int
    target: Target
    body: dict
    replaces: Posted | None  # the message to update in place
    attempts: int
    unsure: bool = False  # it may have been posted already: look before sending


def share(free: int, tenants: list[int], busy: Counter[int]) -> Counter[int]:
    """Free send slots dealt out one at a time, each to the tenant with the fewest sends in flight."""
    heap = [(busy[tenant], order, tenant) for order, tenant in enumerate(tenants)]
    heapq.heapify(heap)
    shares: Counter[int] = Counter()
    for _ in range(free if heap else 0):
        load, order, tenant = heapq.heappop(heap)
        shares[tenant] += 1
        heapq.heappush(heap, (load + 1, order, tenant))
    return shares


def backoff(attempts: int) -> timedelta:
    """How long to wait before trying a message again after `attempts` tries: doubling, at most about four minutes."""
    return timedelta(seconds=2 ** min(attempts, 8))


class Outbox:
    """One platform's delivery loop over the outbox, through that platform's sender."""

    def __init__(self, db: Database, sender: Sender, *,
                 turn: Callable[[], contextlib.AbstractAsyncContextManager] | None = None,
                 on_sent: Callable[[Target], None] | None = None, worker: str = "goalbot",
                 concurrency: int = CONCURRENCY) -> None:
        self.db = db
        self.sender = sender
        self.platform = sender.platform
        self.worker = worker[:100]
        self.concurrency = max(1, concurrency)
        self.refill = max(1, self.concurrency // 4)
        self._started = False  # a worker's first round takes back its own claims from before a restart
        self._endings: list | None = None  # while sends are out: what came of each, written together
        self._tenants: list[int] = []  # while delivering: the tenants that had due messages when last looked
        self._dropped_at: float | None = None
        # Each send waits for its turn, so deliveries can give way to requests waiting for their answer.
        self.turn = turn or contextlib.nullcontext
        self.on_sent = on_sent
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Finish the message in hand, then stop (between transactions, never inside one)."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Deliver until stopped: at once when woken, else every couple of seconds."""
        self._stopping = False
        while not self._stopping:
            try:
                await self.release_stuck()
                while not self._stopping and await self.deliver_due():
                    pass
            except Exception:  # noqa: BLE001 - the worker must outlive one bad round
                log.exception("%s outbox round failed", self.platform)
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            self._wake.clear()

    async def release_stuck(self) -> None:
        """Claims whose lease ran out (a crash, a replica gone), and this worker's own from before it started
        again: the platform may have them, so they are looked for or marked uncertain, never simply resent."""
        now = utcnow()
        expired = sa.and_(OutboxMessage.state == State.SENDING, OutboxMessage.next_attempt_at < now)
        mine = sa.and_(OutboxMessage.state == State.SENDING, OutboxMessage.claimed_by == self.worker)
        async with self.db.transaction(write=True) as session:
            stuck = (
                await session.execute(
                    select(OutboxMessage).where(OutboxMessage.platform == self.platform,
                                                expired if self._started else sa.or_(expired, mine))
                )
            ).scalars().all()
            for row in stuck:
                if row.replaces_id or self.can_look:
                    row.state = State.PENDING
                    row.last_error = (UNSURE if not row.replaces_id else "") + "interrupted while sending"
                    row.next_attempt_at = now
                else:
                    row.state = State.UNCERTAIN
                    row.last_error = "interrupted while sending"
                log.warning("outbox message %s was interrupted while sending; now %s", row.id, row.state)
        self._started = True

    @property
    def can_look(self) -> bool:
        return hasattr(self.sender, "find")

    async def _claim(self, limit: int, busy: Counter[int], endings: list[tuple[Claimed, State, dict]]) -> list[Claimed]:
        """Claim up to `limit` due rows, in the transaction that also writes `endings` (sends finished since).

        They are taken in turns across tenants, since each has its own pace: the free slots go to the
        tenants with the fewest sends in flight (`busy`), oldest first within each, each tenant's share
        read through the index in one statement. No more is claimed than can be sent now, so a crash
        leaves few unsure."""
        async with self.db.transaction(write=True) as session:
            if endings:
                await self._apply_all(session, endings)
            await self._drop_expired(session)
            due = (OutboxMessage.platform == self.platform, OutboxMessage.state == State.PENDING,
                   OutboxMessage.next_attempt_at <= utcnow())
            if not self._tenants:
                self._tenants = list((await session.execute(
                    select(OutboxMessage.tenant_id).where(*due).distinct().order_by(OutboxMessage.tenant_id)
                )).scalars())
            shares = share(limit, self._tenants, busy)
            if not shares:
                return []
            parts = [
                select(OutboxMessage.id).where(*due, OutboxMessage.tenant_id == tenant)
                .order_by(OutboxMessage.id).limit(count).subquery()
                for tenant, count in shares.items()
            ]
            chosen = sa.union_all(*(select(part.c.id) for part in parts))
            query = (
                select(OutboxMessage.id, OutboxMessage.tenant_id, OutboxMessage.to_channel, OutboxMessage.person_id,
                       OutboxMessage.kind, OutboxMessage.body, OutboxMessage.replaces_id, OutboxMessage.last_error,
                       OutboxMessage.attempts, Tenant.key.label("tenant_key"), Person.email)
                .join(Tenant, Tenant.id == OutboxMessage.tenant_id)
                .outerjoin(Person, Person.id == OutboxMessage.person_id)
                # Looked up by id (`platform` left out, so no index over every due row is walked); the state
                # is checked again, so a row another worker claimed meanwhile is not taken (PostgreSQL).
                .where(OutboxMessage.id.in_(chosen), *due[1:])
                .order_by(OutboxMessage.id)
            )
            if not self.db.is_sqlite:
                query = query.with_for_update(skip_locked=True, of=OutboxMessage)
            rows = (await session.execute(query)).all()
            taken = Counter(row.tenant_id for row in rows)
            # A tenant with fewer due than its share has no more now; the list is read again once all have none.
            self._tenants = [tenant for tenant in self._tenants if taken[tenant] >= shares.get(tenant, 0)]
            people = {row.person_id for row in rows if row.person_id is not None}
            users = dict((
                await session.execute(
                    select(Identity.person_id, Identity.external_id)
                    .where(Identity.person_id.in_(people), Identity.platform == self.platform)
                )
            ).all()) if people else {}
            references = await reach.references(session, self.platform, people)
            originals = {row.replaces_id for row in rows if row.replaces_id is not None}
            posted = {
                found.id: Posted(found.channel, found.message_id)
                for found in (await session.execute(
                    select(OutboxMessage.id, OutboxMessage.channel, OutboxMessage.message_id)
                    .where(OutboxMessage.id.in_(originals))
                )).all()
                if found.channel and found.message_id
            } if originals else {}
            claimed, never = [], []
            for row in rows:
                replaces = posted.get(row.replaces_id) if row.replaces_id is not None else None
                if row.replaces_id is not None and replaces is None:
                    never.append({"id": row.id, "state": State.FAILED, "last_error": "the message to update was never sent"})
                    continue
                target = Target(row.tenant_key, row.tenant_id, row.to_channel, row.person_id, row.email or "",
                                users.get(row.person_id), row.id, row.kind, references.get(row.person_id))
                unsure = bool(row.last_error and row.last_error.startswith(UNSURE))
                claimed.append(Claimed(row.id, target, row.body, replaces, row.attempts + 1, unsure))
            await update_many(session, OutboxMessage, "id", never)
            if claimed:
                await session.execute(
                    sa.update(OutboxMessage)
                    .where(OutboxMessage.id.in_([item.id for item in claimed]))
                    .values(state=State.SENDING, attempts=OutboxMessage.attempts + 1,
                            next_attempt_at=utcnow() + LEASE, claimed_by=self.worker)
                    .execution_options(synchronize_session=False)
                )
            return claimed

    async def _drop_expired(self, session: AsyncSession) -> None:
        """Messages that could not be delivered in time are dropped, and a dropped prompt's period says so.
        Looked for at a worker's first claim and then every half minute: expiry is a matter of hours."""
        if self._dropped_at is not None and time.monotonic() - self._dropped_at < DROP_EVERY:
            return
        self._dropped_at = time.monotonic()
        expired = (await session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.platform == self.platform, OutboxMessage.state == State.PENDING,
                   OutboxMessage.expires_at < utcnow())
            .values(state=State.DROPPED,
                    last_error=sa.func.coalesce(OutboxMessage.last_error, "") + " (not delivered before it expired)")
            .returning(OutboxMessage.tenant_id, OutboxMessage.dedupe_key)
        )).all()
        if expired:
            log.warning("dropped %d %s messages that could not be delivered in time", len(expired), self.platform)
            await session.execute(
                sa.update(CheckinPeriod)
                .where(sa.tuple_(CheckinPeriod.tenant_id, CheckinPeriod.prompt_key).in_([tuple(row) for row in expired]))
                .values(state=PeriodState.DROPPED, reason="the prompt could not be delivered within its day",
                        remind_at=None)
            )

    async def deliver_due(self) -> int:
        """Send what is due, keeping up to `concurrency` sends in flight until none is left; returns how many
        were claimed. What came of each send is written with the next claim, or at the end, so the
        database sees a few transactions per window of sends, not one per message."""
        in_flight: dict[asyncio.Task, int] = {}  # each send, by its tenant
        outcomes: Counter[str] = Counter()
        claimed_total = 0
        exhausted = False
        self._endings = []
        self._tenants = []
        try:
            while True:
                free = self.concurrency - len(in_flight)
                # Refilled by a quarter of the window at a time (or when it is empty), not after every send.
                if not exhausted and not self._stopping and (free >= self.refill or not in_flight):
                    endings = list(self._endings)
                    claimed = await self._claim(free, Counter(in_flight.values()), endings)
                    del self._endings[:len(endings)]  # written: those that finished meanwhile wait for the next
                    exhausted = not claimed
                    claimed_total += len(claimed)
                    for item in claimed:
                        in_flight[asyncio.ensure_future(self._one(item, outcomes))] = item.target.tenant_id
                elif len(self._endings) >= self.refill:
                    endings = list(self._endings)
                    await self._write(endings)
                    del self._endings[:len(endings)]
                if not in_flight:
                    break
                done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    del in_flight[task]
                    task.result()
        finally:
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)
            endings, self._endings = self._endings, None
            await self._write(endings)
        if outcomes:
            log.info("%s outbox: %s", self.platform, ", ".join(f"{count} {what}" for what, count in sorted(outcomes.items())))
        return claimed_total

    async def _one(self, item: Claimed, outcomes: Counter[str]) -> None:
        if self._stopping:
            await self._unclaim([item])
            return
        async with self.turn():
            outcomes[await self.deliver(item)] += 1

    async def _unclaim(self, items: list[Claimed]) -> None:
        """Claimed but not tried (the worker is stopping): due again, this attempt not counted."""
        for item in items:
            await self._finish(item, State.PENDING, delay=timedelta(0), count_attempt=False)

    async def deliver(self, item: Claimed) -> str:
        """Hand one claimed row to the sender and keep what it reports; returns what came of it (for the log)."""
        reply = reply_from_dict(item.body)
        try:
            found = await self.sender.find(item.target) if item.unsure and self.can_look else None
            if found is not None:
                sent = Sent(found.conversation, found.message_id)  # it was posted after all: not again
            elif item.replaces:
                await self.sender.update(item.target, item.replaces, reply)
                sent = Sent()
            else:
                sent = await self.sender.send(item.target, reply)
        except RateLimited as failure:
            delay = timedelta(seconds=failure.retry_after) if failure.retry_after is not None else backoff(item.attempts)
            await self._finish(item, State.PENDING, error=self._keep_unsure(item, failure.reason), delay=delay,
                               count_attempt=False)
            return "rate limited"
        except NotSent as failure:
            await self._finish(item, State.PENDING, error=self._keep_unsure(item, failure.reason), delay=backoff(item.attempts))
            return "retried"
        except Unreachable as failure:
            await self._finish(item, State.PENDING, error="unreachable: " + failure.reason, delay=WAIT_CHECK,
                               count_attempt=False)
            return "waiting"
        except Refused as failure:
            log.warning("outbox message %s refused by %s: %s", item.id, self.platform, failure.reason)
            await self._finish(item, State.FAILED, error=failure.reason)
            return "failed"
        except Ambiguous as failure:
            return await self._unsure(item, failure.reason)
        except Exception as error:  # noqa: BLE001 - an unexpected failure may have posted it, too
            log.exception("sending outbox message %s through %s failed", item.id, self.platform)
            return await self._unsure(item, f"{type(error).__name__}: {error}"[:200])
        await self._finish(item, State.SENT, sent=sent)
        if self.on_sent is not None and (item.target.user or sent.user):
            self.on_sent(replace(item.target, user=item.target.user or sent.user))
        return "sent"

    @staticmethod
    def _keep_unsure(item: Claimed, reason: str) -> str:
        return UNSURE + reason if item.unsure else reason

    async def _unsure(self, item: Claimed, error: str) -> str:
        """The platform may or may not have the message: an update is repeated; a new message is looked for
        before it is sent again, or, when the sender cannot look, not sent again."""
        if item.replaces:
            await self._finish(item, State.PENDING, error=error, delay=backoff(item.attempts))
            return "retried"
        if self.can_look:
            log.warning("outbox message %s may or may not have reached %s (%s); looking before sending it again",
                        item.id, self.platform, error)
            await self._finish(item, State.PENDING, error=UNSURE + error, delay=backoff(item.attempts))
            return "unsure"
        log.error("outbox message %s may or may not have reached %s (%s); not sending it again",
                  item.id, self.platform, error)
        await self._finish(item, State.UNCERTAIN, error=error)
        return "uncertain"

    async def _finish(self, item: Claimed, state: State, **outcome) -> None:
        """Keep what came of a message: at once, or with the rest of its batch in one transaction."""
        if self._endings is not None:
            self._endings.append((item, state, outcome))
        else:
            await self._write([(item, state, outcome)])

    async def _write(self, endings: list[tuple[Claimed, State, dict]]) -> None:
        if not endings:
            return
        async with self.db.transaction(write=True) as session:
            await self._apply_all(session, endings)

    async def _apply_all(self, session: AsyncSession, endings: list[tuple[Claimed, State, dict]]) -> None:
        """Write what came of these sends: one statement for each shape of change, not one per message."""
        changes: dict[tuple[str, ...], list[dict]] = {}
        learned = []
        for item, state, outcome in endings:
            change, identity = self._change(item, state, **outcome)
            changes.setdefault(tuple(change), []).append(change)
            if identity is not None:
                learned.append(identity)
        for rows in changes.values():
            await update_many(session, OutboxMessage, "id", rows)
        for identity in learned:
            # The person may be joining through their own first message at this very moment.
            with contextlib.suppress(IntegrityError):
                async with session.begin_nested():
                    session.add(identity)

    def _change(self, item: Claimed, state: State, *, error: str | None = None, sent: Sent | None = None,
                delay: timedelta | None = None, count_attempt: bool = True) -> tuple[dict, Identity | None]:
        """The row's new values after a send, and the recipient's platform id when the send taught it."""
        attempts = item.attempts - (0 if count_attempt else 1)
        if state == State.PENDING and attempts >= MAX_ATTEMPTS:
            state = State.FAILED
        change = {"id": item.id, "state": state, "attempts": attempts, "claimed_by": None,
                  "last_error": error[:500] if error else None}
        identity = None
        if state == State.PENDING:
            change["next_attempt_at"] = utcnow() + (delay if delay is not None else timedelta(seconds=1))
        if state == State.SENT and sent is not None:
            change["sent_at"] = utcnow()
            if sent.conversation and sent.message_id and not item.replaces:
                change["channel"], change["message_id"] = sent.conversation, sent.message_id
            if sent.user and item.target.person_id is not None and not item.target.user:
                identity = Identity(tenant_id=item.target.tenant_id, person_id=item.target.person_id,
                                    platform=self.platform, external_id=sent.user)
        return change, identity
