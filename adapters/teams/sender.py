"""Everything goalbot sends to Teams goes through here: to a stored conversation reference, at any time.

Each call is one proactive turn (`continue_conversation` with the app id), so
replies, notices and updates take the same path whether or not a request is
being answered. Teams' limits are kept: a few sends per second per
conversation, about fifty requests per second per tenant, and 429, 412, 502,
503 and 504 retried a bounded number of times, after the Retry-After Teams
gives or a growing pause.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import UTC, datetime
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import TypeVar

from aiolimiter import AsyncLimiter
from botbuilder.core import BotAdapter, TurnContext
from botbuilder.schema import Activity, ActivityTypes, Attachment, ConversationReference
from msrest.exceptions import HttpOperationError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from adapters.teams import cards

log = logging.getLogger("goalbot.teams.send")
T = TypeVar("T")

RETRY_STATUSES = frozenset({412, 429, 502, 503, 504})
ATTEMPTS = 4
MAX_PAUSE = 5.0  # a longer wait is not spent holding the caller: the outbox tries again later instead
PER_CONVERSATION = ((5, 1.0), (50, 30.0))  # Teams allows 7 per second and 60 per 30 seconds
PER_TENANT = 40.0  # requests a second, evenly spaced, of about 50 per second per app and tenant
KEPT_LIMITERS = 10_000


def status_of(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None) if isinstance(error, HttpOperationError) else None


def retry_after(error: BaseException) -> float | None:
    """Teams' Retry-After, in seconds or as an HTTP date."""
    response = getattr(error, "response", None)
    value = (getattr(response, "headers", None) or {}).get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def retryable(error: BaseException) -> bool:
    return status_of(error) in RETRY_STATUSES


class _Pause:
    """Wait what Teams asked for, else back off exponentially with jitter."""

    def __init__(self) -> None:
        self._backoff = wait_exponential_jitter(multiplier=0.5, max=MAX_PAUSE)

    def __call__(self, retry_state) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        asked = retry_after(error) if error else None
        return asked if asked is not None else self._backoff(retry_state)


class _Stop:
    """After a bounded number of attempts, or at once when Teams asks for a longer pause than MAX_PAUSE."""

    def __init__(self, attempts: int) -> None:
        self._attempts = stop_after_attempt(attempts)

    def __call__(self, retry_state) -> bool:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        return self._attempts(retry_state) or (retry_after(error) or 0.0) > MAX_PAUSE


def card_activity(content: dict, summary: str) -> Activity:
    return Activity(
        type=ActivityTypes.message,
        summary=summary,
        attachments=[Attachment(content_type=cards.CONTENT_TYPE, content=content)],
    )


class Sender:
    def __init__(self, adapter: BotAdapter, app_id: str, *, attempts: int = ATTEMPTS,
                 per_second: float = PER_TENANT) -> None:
        self.adapter = adapter
        self.app_id = app_id
        self.attempts = attempts
        self.per_conversation = PER_CONVERSATION
        self.per_tenant = ((1, 1 / per_second),)  # one at a time, evenly spaced: a burst cannot cross the cap
        self._limiters: OrderedDict[str, tuple[AsyncLimiter, ...]] = OrderedDict()

    def _limits(self, key: str, rates: tuple[tuple[int, float], ...]) -> tuple[AsyncLimiter, ...]:
        limiters = self._limiters.get(key)
        if limiters is None:
            limiters = tuple(AsyncLimiter(count, period) for count, period in rates)
            self._limiters[key] = limiters
            while len(self._limiters) > KEPT_LIMITERS:
                self._limiters.popitem(last=False)
        else:
            self._limiters.move_to_end(key)
        return limiters

    async def _wait_turn(self, reference: ConversationReference) -> None:
        tenant = getattr(reference.conversation, "tenant_id", None) or ""
        for limiter in (*self._limits("tenant:" + tenant, self.per_tenant),
                        *self._limits("conversation:" + reference.conversation.id, self.per_conversation)):
            await limiter.acquire()

    async def call(self, reference: ConversationReference, work: Callable[[TurnContext], Awaitable[T]]) -> T:
        """Run `work` in a proactive turn on the conversation, within Teams' limits, retrying what Teams asks."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(retryable), wait=_Pause(), stop=_Stop(self.attempts), reraise=True,
        ):
            with attempt:
                await self._wait_turn(reference)
                return await self._once(reference, work)
        raise AssertionError("unreachable")

    async def _once(self, reference: ConversationReference, work: Callable[[TurnContext], Awaitable[T]]) -> T:
        outcome: dict = {}

        async def turn(context: TurnContext) -> None:
            # The adapter would hand an error to its turn-error handler; the caller needs it instead.
            try:
                outcome["value"] = await work(context)
            except Exception as error:  # noqa: BLE001 - re-raised below, outside the adapter
                outcome["error"] = error

        await self.adapter.continue_conversation(reference, turn, self.app_id)
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("value")  # type: ignore[return-value]

    async def send(self, reference: ConversationReference, content: dict, summary: str) -> str | None:
        """Post a card; a reference that names an activity (the message being answered) gets a reply to it.
        Returns the new message's id."""
        async def post(context: TurnContext) -> str | None:
            activity = self._addressed(card_activity(content, summary), reference)
            conversations = context.turn_state[BotAdapter.BOT_CONNECTOR_CLIENT_KEY].conversations
            if reference.activity_id:
                activity.reply_to_id = reference.activity_id
                response = await conversations.reply_to_activity(reference.conversation.id, reference.activity_id, activity)
            else:
                response = await conversations.send_to_conversation(reference.conversation.id, activity)
            return response.id if response else None

        return await self.call(reference, post)

    async def update(self, reference: ConversationReference, activity_id: str, content: dict, summary: str) -> None:
        """Replace a card the bot sent earlier in this conversation."""
        async def put(context: TurnContext) -> None:
            activity = self._addressed(card_activity(content, summary), reference)
            activity.id = activity_id
            conversations = context.turn_state[BotAdapter.BOT_CONNECTOR_CLIENT_KEY].conversations
            await conversations.update_activity(reference.conversation.id, activity_id, activity)

        await self.call(reference, put)

    @staticmethod
    def _addressed(activity: Activity, reference: ConversationReference) -> Activity:
        activity = TurnContext.apply_conversation_reference(activity, reference)
        activity.reply_to_id = None
        return activity
