"""The core's turn pipeline and outbox on their own, with a recording sender standing for a platform."""

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import select

from bot import outbox
from bot.messages import Actor, Address, IncomingMessage, Reply
from bot.outbox import Ambiguous, NotSent, Outbox, Posted, RateLimited, Refused, Sent, Target, Unreachable
from bot.turns import Turns
from storage.models import Goal, InboundDelivery, OutboxMessage, utcnow

ANA = Actor("slack", "UANA", email="ana@example.com", name="Ana Silva")


class Platform:
    """A platform's sender: records what it is handed and answers what the test scripts."""

    platform = "slack"

    def __init__(self) -> None:
        self.sent: list[tuple[Target, Reply]] = []
        self.updated: list[tuple[Target, Posted, Reply]] = []
        self.failures: list[Exception] = []

    async def send(self, target: Target, reply: Reply) -> Sent:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((target, reply))
        return Sent(target.channel or target.user or "D-new", f"m{len(self.sent)}", None if target.user else "U-found")

    async def update(self, target: Target, posted: Posted, reply: Reply) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.updated.append((target, posted, reply))


def pipeline(org, platform: Platform | None = None, replayed: list | None = None) -> Turns:
    async def replay(key: str, payload: str) -> None:
        replayed.append((key, payload))

    return Turns(org.bot, "slack", recover_within=timedelta(minutes=25), replay=replay, sender=platform)


def typed(text: str):
    async def translate():
        return IncomingMessage(ANA, text, Address.direct("slack", ANA.user_id))
    return translate


async def goals(db) -> list[Goal]:
    async with db.transaction(write=False) as session:
        return list((await session.execute(select(Goal))).scalars())


async def rows(db, model):
    async with db.transaction(write=False) as session:
        return list((await session.execute(select(model).order_by(model.id))).scalars())


async def test_a_delivery_is_done_once_and_its_replay_does_nothing(org):
    turns = pipeline(org)
    first = await turns.take("trigger:1", '{"text": "add"}', typed("goals add Cut churn"))
    assert first.changed and not first.duplicate and first.redraw == ("UANA",)
    assert "Proposed G-1 Cut churn" in first.reply.summary
    assert first.queued  # Bo, Ana's manager, is asked to decide
    again = await turns.take("trigger:1", '{"text": "add"}', typed("goals add Cut churn"))
    assert again.duplicate and again.reply is None
    assert len(await goals(org.db)) == 1
    (delivery,) = await rows(org.db, InboundDelivery)
    assert delivery.done_at is not None and delivery.payload is None  # marked in the command's own transaction


async def test_a_read_is_marked_done_and_a_replay_after_a_write_says_so(org):
    turns = pipeline(org)
    listed = await turns.take("trigger:2", "{}", typed("goals list"))
    assert not listed.changed and listed.redraw == () and not listed.queued
    (delivery,) = await rows(org.db, InboundDelivery)
    assert delivery.done_at is not None
    await turns.take("trigger:3", "{}", typed("goals add Cut churn"))
    # A process that took the request back (its lease ran out) runs it again: it cannot apply twice.
    replay = await turns.take("trigger:3", "{}", typed("goals add Cut churn"), replayed=True)
    assert replay.reply.summary == "That was done already." and not replay.changed
    assert len(await goals(org.db)) == 1


async def test_a_crash_between_claim_and_done_is_run_again_from_the_kept_payload(org):
    replayed: list = []
    turns = pipeline(org, replayed=replayed)
    turns.inbox.lease = timedelta(seconds=0.3)

    async def crash():
        raise ConnectionResetError("the platform hung up while we asked who this is")

    with pytest.raises(ConnectionResetError):
        await turns.take("trigger:4", '{"text": "goals add Cut churn"}', crash)
    (delivery,) = await rows(org.db, InboundDelivery)
    assert delivery.done_at is None and delivery.payload == '{"text": "goals add Cut churn"}'
    await asyncio.sleep(0.5)  # nobody renews its lease any more
    assert await turns.recover() == 1
    await turns.background.drain(5)
    assert replayed == [("trigger:4", '{"text": "goals add Cut churn"}')]
    # The adapter's replay comes back through the same entry.
    outcome = await turns.take("trigger:4", None, typed("goals add Cut churn"), replayed=True)
    assert outcome.changed and len(await goals(org.db)) == 1
    assert await turns.recover() == 0
    await turns.stop()


async def test_a_refusal_is_an_answer_and_closes_the_delivery(org):
    turns = pipeline(org)
    answered = []

    async def answer(outcome):
        answered.append(outcome.reply)

    outcome = await turns.take("trigger:5", "{}", typed("goals show"), answer=answer)
    assert outcome.reply.error and answered == [outcome.reply]
    assert outcome.reply.summary == "Which goal?"  # the usage is its own block, not glued to the problem
    assert any(getattr(block, "command", "") == "goals show G-12" for block in outcome.reply.blocks)
    (delivery,) = await rows(org.db, InboundDelivery)
    assert delivery.done_at is not None


async def queue(org, to, key: str = "k1", text: str = "hello") -> int:
    async with org.db.transaction() as session:
        from bot.people import find_viewer, join

        viewer = await find_viewer(session, ANA) or await join(session, ANA)
        return await outbox.enqueue(session, viewer.tenant.id, viewer.person if to is None else to, "slack",
                                    outbox.Kind.ANSWER, Reply.text(text), key)


async def state_of(db, row_id: int) -> OutboxMessage:
    async with db.transaction(write=False) as session:
        return await session.get(OutboxMessage, row_id)


async def test_a_rate_limited_send_waits_what_the_platform_asked_then_goes_out(org):
    platform = Platform()
    worker = Outbox(org.db, platform)
    row_id = await queue(org, None)
    platform.failures.append(RateLimited("rate limited", retry_after=30))
    assert await worker.deliver_due() == 1
    row = await state_of(org.db, row_id)
    # A 429 means "not done": it is no attempt, so a storm of them cannot use up a message's tries.
    assert row.state == "pending" and row.attempts == 0 and row.last_error == "rate limited"
    wait = (row.next_attempt_at - utcnow()).total_seconds()
    assert 25 < wait <= 30
    assert await worker.deliver_due() == 0  # not due yet
    async with org.db.transaction() as session:
        (await session.get(OutboxMessage, row_id)).next_attempt_at = utcnow()
    assert await worker.deliver_due() == 1
    row = await state_of(org.db, row_id)
    assert row.state == "sent" and row.message_id == "m1" and len(platform.sent) == 1


async def test_an_ambiguous_send_is_never_repeated_but_an_ambiguous_update_is(org):
    platform = Platform()
    worker = Outbox(org.db, platform)
    row_id = await queue(org, None)
    platform.failures.append(Ambiguous("the connection dropped after the request went out"))
    await worker.deliver_due()
    assert (await state_of(org.db, row_id)).state == "uncertain"
    assert await worker.deliver_due() == 0 and platform.sent == []

    other = await queue(org, None, key="k2")
    await worker.deliver_due()
    sent = await state_of(org.db, other)
    assert sent.state == "sent"
    async with org.db.transaction() as session:
        session.add(OutboxMessage(tenant_id=sent.tenant_id, person_id=sent.person_id, platform="slack",
                                  kind=outbox.Kind.UPDATE, dedupe_key="k2-update", body=sent.body, replaces_id=sent.id))
    platform.failures.append(Ambiguous("timed out"))
    await worker.deliver_due()
    async with org.db.transaction() as session:
        update = (await session.execute(select(OutboxMessage).where(OutboxMessage.dedupe_key == "k2-update"))).scalar_one()
        assert update.state == "pending"  # repeating an update in place is harmless
        update.next_attempt_at = utcnow()
    await worker.deliver_due()
    ((_, posted, _),) = platform.updated
    assert posted == Posted(sent.channel, sent.message_id)


async def test_refused_fails_not_sent_retries_and_unreachable_waits_uncounted(org):
    platform = Platform()
    worker = Outbox(org.db, platform)
    refused, never, waiting = [await queue(org, None, key=key) for key in ("r", "n", "w")]
    platform.failures.extend([Refused("channel_not_found"), NotSent("connection refused"), Unreachable("no chat yet")])
    assert await worker.deliver_due() == 3
    assert (await state_of(org.db, refused)).state == "failed"
    never_row = await state_of(org.db, never)
    assert never_row.state == "pending" and never_row.attempts == 1
    waiting_row = await state_of(org.db, waiting)
    assert waiting_row.state == "pending" and waiting_row.attempts == 0
    assert (waiting_row.next_attempt_at - utcnow()) > timedelta(minutes=50)
    async with org.db.transaction() as session:
        await outbox.release_waiting(session, "slack", waiting_row.person_id)
    await worker.deliver_due()
    assert (await state_of(org.db, waiting)).state == "sent"


async def test_a_message_for_a_channel_goes_to_the_channel(org):
    platform = Platform()
    worker = Outbox(org.db, platform)
    row_id = await queue(org, Address.in_channel("slack", "C-PLATFORM"), text="This week in Platform")
    row = await state_of(org.db, row_id)
    assert row.person_id is None and row.to_channel == "C-PLATFORM"
    await worker.deliver_due()
    ((target, reply),) = platform.sent
    assert target.channel == "C-PLATFORM" and target.person_id is None
    assert reply.summary == "This week in Platform"
    assert (await state_of(org.db, row_id)).channel == "C-PLATFORM"


async def test_a_person_found_by_email_is_remembered_for_next_time(org):
    platform = Platform()
    worker = Outbox(org.db, platform)
    async with org.db.transaction() as session:
        from bot.people import tenant_by_key
        from storage.models import Person

        tenant = await tenant_by_key(session, "default")
        nina = (await session.execute(select(Person).where(Person.email == "nina@example.com"))).scalar_one()
        await outbox.enqueue(session, tenant.id, nina, "slack", outbox.Kind.KUDOS, Reply.text("Thanks!"), "kudos:1")
        await outbox.enqueue(session, tenant.id, nina, "slack", outbox.Kind.KUDOS, Reply.text("Again!"), "kudos:2")
    await worker.deliver_due()
    (first, second) = (target for target, _ in platform.sent)
    assert first.user is None and first.email == "nina@example.com"
    await worker.deliver_due()
    assert second.user is None  # claimed in the same batch, before the first taught us her id
    async with org.db.transaction() as session:
        await outbox.enqueue(session, tenant.id, nina, "slack", outbox.Kind.KUDOS, Reply.text("Third"), "kudos:3")
    await worker.deliver_due()
    assert platform.sent[-1][0].user == "U-found"


async def test_a_row_left_sending_by_a_crash_is_not_sent_again(org):
    platform = Platform()
    worker = Outbox(org.db, platform)
    row_id = await queue(org, None)
    async with org.db.transaction() as session:
        row = await session.get(OutboxMessage, row_id)
        row.state, row.next_attempt_at = "sending", utcnow() - timedelta(minutes=10)
    await worker.release_stuck()
    assert (await state_of(org.db, row_id)).state == "uncertain"
    assert await worker.deliver_due() == 0 and platform.sent == []


async def test_an_answer_owed_to_a_channel_goes_to_the_channel_and_one_owed_to_a_person_to_them(org):
    await org.bot.owe(ANA, outbox.Kind.ANSWER, Reply.text("In the channel"), "answer:c",
                      to=Address.in_channel("slack", "C-TEAM"))
    await org.bot.owe(ANA, outbox.Kind.ANSWER, Reply.text("To Ana"), "answer:d", to=Address.direct("slack", "UANA"))
    assert await rows(org.db, OutboxMessage) == []  # Ana has never written: nothing is owed to a stranger
    first = pipeline(org)
    await first.take("trigger:hello", "{}", typed("goals list"))  # now she is known on Slack
    await org.bot.owe(ANA, outbox.Kind.ANSWER, Reply.text("In the channel"), "answer:c",
                      to=Address.in_channel("slack", "C-TEAM"))
    await org.bot.owe(ANA, outbox.Kind.ANSWER, Reply.text("To Ana"), "answer:d", to=Address.direct("slack", "UANA"))
    channel, person = await rows(org.db, OutboxMessage)
    assert channel.to_channel == "C-TEAM" and channel.person_id is None
    assert person.to_channel is None and person.person_id is not None
