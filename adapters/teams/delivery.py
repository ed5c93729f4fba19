"""The Teams side of the outbox: post a card through a stored conversation reference, update one in place.

Someone who has never opened goalbot in Teams has no conversation the bot may
write to: their messages wait (`Unreachable`, looked at hourly) and go out as
soon as they install the app or write to it. A channel is written to through
the tenant's service URL, with the channel's id as the conversation.
"""

from __future__ import annotations

from botbuilder.schema import ConversationAccount, ConversationReference

from adapters.teams import cards
from adapters.teams.sender import Sender, retry_after, retryable, status_of
from bot import reach, summaries
from bot.messages import Reply
from bot.outbox import Ambiguous, Failure, Posted, RateLimited, Refused, Sent, Target, Unreachable
from storage.database import Database

WAITING = "waiting for them to open goalbot in Teams"


def failure(error: Exception) -> Failure:
    """What a failed call means for a message, by the status Teams answered."""
    status = status_of(error)
    if retryable(error):
        return RateLimited(f"teams answered {status}", retry_after(error))
    if status is not None and status < 500:
        return Refused(f"teams answered {status}")
    return Ambiguous(f"{type(error).__name__}: {error}"[:200])


class TeamsSender:
    platform = "teams"

    def __init__(self, db: Database, sender: Sender) -> None:
        self.db = db
        self.sender = sender

    async def _reference(self, target: Target, conversation: str | None = None) -> ConversationReference | None:
        if target.channel is not None:
            # The channel's team, as kept when goalbot was added to it; else any of the tenant's conversations.
            data = (await summaries.channel_reference(self.db, target.tenant_id, "teams", target.channel)
                    or await reach.reference(self.db, target.tenant_id))
        elif conversation is not None:
            data = await reach.reference(self.db, target.tenant_id, conversation=conversation)
        elif target.reference is not None:
            data = target.reference  # read with the claim
        else:
            data = await reach.reference(self.db, target.tenant_id, person_id=target.person_id)
        if not data:
            return None
        reference = ConversationReference().deserialize(data)
        reference.activity_id = None
        if target.channel is not None:
            tenant_id = reference.conversation.tenant_id if reference.conversation else None
            reference.conversation = ConversationAccount(id=target.channel, is_group=True, conversation_type="channel",
                                                         tenant_id=tenant_id)
            reference.user = None
        return reference

    async def send(self, target: Target, reply: Reply) -> Sent:
        reference = await self._reference(target)
        if reference is None:
            raise Unreachable(WAITING if target.channel is None else "goalbot is in no conversation of this tenant yet")
        try:
            message_id = await self.sender.send(reference, cards.render(reply, app_id=self.sender.app_id), cards.summary(reply))
        except Exception as error:  # noqa: BLE001 - sorted by what Teams said
            raise failure(error) from None
        return Sent(reference.conversation.id, message_id)

    async def update(self, target: Target, posted: Posted, reply: Reply) -> None:
        reference = await self._reference(target, posted.conversation)
        if reference is None:
            raise Refused("the conversation of the message to update is gone")
        try:
            await self.sender.update(reference, posted.message_id, cards.render(reply, app_id=self.sender.app_id), cards.summary(reply))
        except Exception as error:  # noqa: BLE001 - sorted by what Teams said
            raise failure(error) from None
