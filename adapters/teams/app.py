"""The Teams app: botbuilder's CloudAdapter at /api/messages, wired to the core.

A turn only records the activity and starts its work; the work answers through
the conversation reference, so a slow command never keeps Teams waiting past
its 15-second redelivery (the turn waits at most TURN_BUDGET for it, then the
work goes on and answers when done). A redelivered activity (the same
conversation and activity id) is recorded once and done once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from botbuilder.core import InvokeResponse, TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.integration.aiohttp import ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, ConversationReference
from botbuilder.schema.teams import TeamInfo
from msrest.exceptions import DeserializationError

from adapters.settings import Settings
from adapters.teams import cards
from adapters.teams.door import BotConfig
from adapters.teams.adapter import ReusingCloudAdapter
from adapters.teams.delivery import TeamsSender
from adapters.teams.people import Directory, command_text, reference_of, teams_tenant
from adapters.teams.sender import Sender, retryable
from bot import commands, outbox, reach, summaries
from bot.dispatch import Bot
from bot.errors import UserError
from bot.messages import Action, Actor, Address, Do, IncomingMessage, Reply
from bot.turns import Outcome, Turns
from storage.database import Database

log = logging.getLogger("goalbot.teams")
TURN_BUDGET = 8.0  # Teams sends a turn again after 15 s
RECOVER_WITHIN = timedelta(hours=12)  # a reply can reach a personal chat at any time
SEARCH_RESULTS = 15
REFERENCE_RECHECK = 3600.0
KEPT_REFERENCES = 50_000
FORMS = (Do.ADD_GOAL, Do.ANSWER_CHECKIN, Do.EDIT)  # actions submitted from a form card, shown again on a wrong field
DECISIONS = (Do.APPROVE, Do.RETURN)
PERSONAL_ONLY = "I work in a personal chat: open goalbot from Apps and write to me there."


def delivery_key(activity: Activity) -> str:
    return f"{activity.conversation.id}:{activity.id}"


def is_personal(activity: Activity) -> bool:
    return (activity.conversation.conversation_type or "personal") == "personal"


@dataclass
class _Turn:
    """One activity being worked on, and what its answer needs to know."""

    activity: Activity
    tenant: str
    reference: ConversationReference
    actor: Actor | None = None
    action: str | None = None  # the card action submitted, if any
    value: str = ""  # what the action names (a goal), a hint only
    form: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return delivery_key(self.activity)

    @property
    def card_id(self) -> str | None:
        return self.activity.reply_to_id


class TeamsApp:
    def __init__(self, settings: Settings, bot: Bot, db: Database) -> None:
        if not settings.teams_enabled:
            raise ValueError("Teams needs MICROSOFT_APP_ID (or GOALBOT_TEAMS_INSECURE_LOCAL=1 for local tests).")
        if settings.microsoft_app_id:
            if settings.microsoft_app_type != "UserAssignedMSI" and not settings.microsoft_app_password:
                raise ValueError("MICROSOFT_APP_PASSWORD is needed with MICROSOFT_APP_ID.")
            if settings.microsoft_app_type != "MultiTenant" and not settings.microsoft_app_tenant_id:
                raise ValueError(f"MICROSOFT_APP_TENANT_ID is needed with MICROSOFT_APP_TYPE={settings.microsoft_app_type}.")
        self.settings = settings
        self.bot = bot
        self.db = db
        self.app_id = settings.microsoft_app_id or ""
        self.adapter = ReusingCloudAdapter(ConfigurationBotFrameworkAuthentication(BotConfig(settings)))
        self.adapter.on_turn_error = self._turn_failed
        self.sender = Sender(self.adapter, self.app_id, per_second=settings.teams_requests_per_second)
        self.directory = Directory(db, self.sender)
        self.turns = Turns(bot, "teams", recover_within=RECOVER_WITHIN, replay=self.replay,
                           sender=TeamsSender(db, self.sender), worker=settings.worker_name)
        from adapters.teams.handler import GoalbotHandler

        self.handler = GoalbotHandler(self)
        # References stored lately, so a busy chat is not rewritten on every message (rechecked hourly).
        self._known_references: dict[tuple[str, str, str, str], float] = {}
        self.turn_budget = TURN_BUDGET

    async def _turn_failed(self, context: TurnContext, error: Exception) -> None:
        incident = secrets.token_hex(4)
        log.error("incident %s: a Teams turn failed", incident, exc_info=error)

    def tenant_for(self, activity: Activity) -> str | None:
        """The goalbot tenant of an activity; None when this app must not serve it."""
        tenant_id = teams_tenant(activity)
        home = self.settings.microsoft_app_tenant_id
        if self.settings.microsoft_app_type != "MultiTenant" and self.app_id:
            if tenant_id and tenant_id != home:
                log.warning("ignoring an activity from tenant %s: this single-tenant app serves %s", tenant_id, home)
                return None
            return "default"
        if not tenant_id or tenant_id == home:
            return "default"
        return f"teams:{tenant_id}"

    # Turns ---------------------------------------------------------------------------

    async def take(self, activity: Activity) -> None:
        """A message from a person: worked on through the core's pipeline; the turn waits a little for it."""
        tenant = self.tenant_for(activity)
        if tenant is None or not activity.id or not activity.conversation or not activity.from_property:
            return
        task = self.turns.spawn(self.work(activity, tenant))
        await asyncio.wait({task}, timeout=self.turn_budget)

    async def replay(self, key: str, payload: str) -> None:
        """An activity recorded but never finished (the process stopped mid-way), worked on again."""
        try:
            activity = Activity().deserialize(json.loads(payload))
        except DeserializationError as error:
            raise ValueError(str(error)) from None
        tenant = self.tenant_for(activity)
        if tenant is None or not activity.conversation:
            raise ValueError("not an activity this app serves")
        await self.work(activity, tenant, replayed=True)

    async def work(self, activity: Activity, tenant: str, *, replayed: bool = False) -> None:
        turn = _Turn(activity, tenant, reference_of(activity))
        await self.turns.take(turn.key, json.dumps(activity.serialize()), lambda: self._translate(turn),
                              answer=lambda outcome: self._answer(turn, outcome), replayed=replayed)
        if turn.actor is not None and is_personal(activity):
            # After the turn, so a person who just joined through it is tied to their chat.
            await self.remember(turn.reference, turn.actor, tenant)

    async def _translate(self, turn: _Turn) -> IncomingMessage | Action | Reply | None:
        """The verified sender and what they asked, in the core's words; a form to open is opened here."""
        activity = turn.activity
        turn.actor = actor = await self.directory.actor(turn.reference, activity, turn.tenant)
        if not is_personal(activity):
            return Reply.failure(PERSONAL_ONLY)
        address = Address.direct("teams", actor.user_id)
        value = activity.value
        if isinstance(value, dict) and value.get(cards.ACTION):
            turn.action = str(value.get(cards.ACTION))[:40]
            turn.form = cards.form_values(value)
            turn.value = str(value.get("value") or "")[:320]
            if turn.action == Do.OPEN_CHECKIN:
                await self.open_checkin(turn.reference, actor)
                return None
            if turn.action == Do.EDIT and not turn.form:
                # The Edit button: the form, filled in by the core for the verified sender.
                found = await self.bot.edit_form(actor, turn.value[:20])
                if isinstance(found, Reply):
                    await self.say(turn.reference, found)
                else:
                    await self.send(turn.reference, cards.edit_goal_form(found), f"Edit {found['ref']}")
                return None
            action = Action(actor, turn.action, turn.value, address, tuple(turn.form.items()))
            try:
                Bot.command_for(action)
            except commands.FormError as error:
                await self.show_form_error(turn, error)
                return None
            except UserError:
                pass  # not a form problem (say, a bad goal reference): the core answers it
            return action
        text = await self.directory.resolve_mentions(activity, turn.tenant, command_text(activity))
        words = [word.lower() for word in text.split()]
        if words in (["add"], ["goals", "add"]):
            await self.send(turn.reference, cards.add_goal_form(await self.bot.goal_choices(actor, "")), "Propose a goal")
            return None
        if words in (["checkin"], ["check-in"]):
            await self.open_checkin(turn.reference, actor)
            return None
        return IncomingMessage(actor, text, address)

    async def _answer(self, turn: _Turn, outcome: Outcome) -> None:
        reply = outcome.reply
        if reply is None:
            return
        if turn.actor is None or not is_personal(turn.activity):
            await self.say(turn.reference, reply)
        elif turn.action is None:
            await self.answer(turn.reference, turn.actor, turn.key, reply)
        elif reply.error:
            if turn.action in FORMS:
                await self.show_form_error(turn, commands.FormError(cards.FORM_ERROR, reply.summary))
            else:
                await self.say(turn.reference, reply)
        elif turn.action in FORMS and turn.card_id:
            await self.update(turn.reference, turn.card_id, reply)  # the form has served: it becomes its outcome
        elif turn.action in DECISIONS and turn.card_id and await outbox.posted_as(
                self.db, "teams", outbox.Kind.APPROVAL, outbox.Posted(turn.reference.conversation.id, turn.card_id)):
            pass  # the request card is rewritten in place through the outbox
        else:
            await self.answer(turn.reference, turn.actor, turn.key, reply)

    async def open_checkin(self, reference: ConversationReference, actor: Actor) -> None:
        prompt = await self.bot.run(actor, commands.CheckIn())
        if prompt.error:
            await self.say(reference, prompt)
        else:
            await self.send(reference, cards.checkin_form(prompt), prompt.summary)

    async def show_form_error(self, turn: _Turn, error: commands.FormError) -> None:
        """A wrong field: the same form again, with what was typed and the error next to the field."""
        assert turn.actor is not None
        if turn.action == Do.ADD_GOAL:
            content = cards.add_goal_form(await self.bot.goal_choices(turn.actor, ""), turn.form,
                                          {error.field: error.message})
        elif turn.action == Do.ANSWER_CHECKIN:
            prompt = await self.bot.run(turn.actor, commands.CheckIn())
            content = cards.checkin_form(prompt, turn.form.get("answer", ""), error.message)
        elif turn.action == Do.EDIT:
            content = cards.edit_goal_form({**turn.form, "ref": turn.value[:20]}, {error.field: error.message})
        else:
            await self.say(turn.reference, Reply.failure(error.message))
            return
        if turn.card_id:
            await self.sender.update(turn.reference, turn.card_id, content, error.message)
        else:
            await self.send(turn.reference, content, error.message)

    async def installed(self, activity: Activity) -> None:
        """The app was added to a personal chat: keep the conversation reference and say hello, once."""
        tenant = self.tenant_for(activity)
        if tenant is None or not is_personal(activity):
            return
        reference = reference_of(activity)
        task = self.turns.spawn(self._welcome(reference, activity, tenant))
        await asyncio.wait({task}, timeout=self.turn_budget)

    async def _welcome(self, reference: ConversationReference, activity: Activity, tenant: str) -> None:
        try:
            actor = await self.directory.actor(reference, activity, tenant)
        except UserError as error:
            await self.say(reference, Reply.refusal(error))
            return
        await self.bot.welcome(actor, reference.conversation.id)
        await self.remember(reference, actor, tenant)

    async def team_added(self, activity: Activity, team: TeamInfo) -> None:
        """goalbot is in a team (added, or its channels changed): the team's channels, as Teams lists them now,
        are kept with the team's conversation reference, so summaries can be posted to any of them."""
        tenant = self.tenant_for(activity)
        if tenant is None or not team.id:
            return
        reference = reference_of(activity)

        async def channels(context: TurnContext) -> list:
            client = await TeamsInfo.get_teams_connector_client(context)
            # botframework's Teams client is synchronous: it runs on a thread, not on the event loop.
            return await asyncio.to_thread(lambda: client.teams.get_teams_channels(team.id).conversations)

        try:
            listed = await self.sender.call(reference, channels)
        except Exception as error:  # noqa: BLE001 - the next change to the team tries again
            log.warning("the channels of Teams team %s could not be read: %s: %s", team.id, type(error).__name__, error)
            return
        data = reference.serialize()
        data.pop("activityId", None)
        named = [(channel.id, channel.name or "General") for channel in listed or [] if channel.id]
        name = team.name or (activity.channel_data or {}).get("team", {}).get("name") or "team"
        await summaries.team_channels(self.db, tenant, "teams", team.id, name, named, data)
        self.bot.wake_outboxes()

    async def team_removed(self, activity: Activity, team: TeamInfo) -> None:
        tenant = self.tenant_for(activity)
        if tenant is not None and team.id:
            await summaries.team_left(self.db, tenant, "teams", team.id)

    async def uninstalled(self, activity: Activity) -> None:
        """The app was removed: nothing can be sent there any more; what is owed waits for a reinstall."""
        tenant = self.tenant_for(activity)
        if tenant is None or not activity.from_property:
            return
        await reach.forget(self.db, tenant, activity.from_property.id)
        self._known_references = {k: v for k, v in self._known_references.items() if k[1] != activity.from_property.id}

    async def search(self, activity: Activity) -> InvokeResponse:
        """The parent picker's typeahead (`application/search`): goals the sender may link to."""
        tenant = self.tenant_for(activity)
        value = activity.value if isinstance(activity.value, dict) else {}
        results: list[dict] = []
        if tenant is not None and value.get("dataset") == "goals":
            reference = reference_of(activity)
            try:
                actor = await self.directory.actor(reference, activity, tenant)
                choices = await self.bot.goal_choices(actor, str(value.get("queryText") or "")[:200])
                results = [{"title": f"{ref} {label}"[:150], "value": ref} for ref, label in choices[:SEARCH_RESULTS]]
            except UserError:
                results = []
        return InvokeResponse(status=200, body={
            "type": "application/vnd.microsoft.search.searchResponse", "value": {"results": results},
        })

    # Remembering where people are ---------------------------------------------------------

    async def remember(self, reference: ConversationReference, actor: Actor, tenant: str) -> None:
        """Store (or refresh) the personal chat's reference, tied to the person, and send what waited for it."""
        user_id = reference.user.id if reference.user else ""
        seen = (tenant, user_id, reference.conversation.id, reference.service_url or "")
        if self._known_references.get(seen, 0.0) > time.monotonic():
            return
        data = reference.serialize()
        data.pop("activityId", None)  # later messages start anew, they do not answer this one
        known = await reach.remember(self.db, tenant, user_id, actor.user_id, reference.conversation.id, data,
                                     reference.user.aad_object_id if reference.user else None)
        if len(self._known_references) >= KEPT_REFERENCES:
            self._known_references.clear()
        self._known_references[seen] = time.monotonic() + REFERENCE_RECHECK
        if known:
            self.bot.wake_outboxes()

    # Sending --------------------------------------------------------------------------

    async def say(self, reference: ConversationReference, reply: Reply) -> str | None:
        return await self.send(reference, cards.render(reply, app_id=self.app_id), cards.summary(reply))

    async def answer(self, reference: ConversationReference, actor: Actor, key: str, reply: Reply) -> None:
        """The answer to what someone wrote. If Teams keeps it out for long (a long Retry-After), the outbox
        owes it to them instead, so it arrives later rather than never."""
        try:
            await self.sender.send(reference, cards.render(reply, app_id=self.app_id), cards.summary(reply))
            return
        except Exception as error:  # noqa: BLE001 - sorted below
            if not retryable(error):
                log.warning("an answer in Teams conversation %s could not be sent: %s", reference.conversation.id, error)
                return
        await self.bot.owe(actor, outbox.Kind.ANSWER, reply, f"answer:{key}", to=Address.direct("teams", actor.user_id),
                           not_before=datetime.now(UTC) + timedelta(seconds=30))
        log.info("Teams asked to wait; the answer to %s will be sent later", key)

    async def send(self, reference: ConversationReference, content: dict, summary: str) -> str | None:
        try:
            return await self.sender.send(reference, content, summary)
        except Exception as error:  # noqa: BLE001 - the work is done; only its answer is lost
            log.warning("a reply to Teams conversation %s could not be sent: %s", reference.conversation.id, error)
            return None

    async def update(self, reference: ConversationReference, card_id: str, reply: Reply) -> None:
        try:
            await self.sender.update(reference, card_id, cards.render(reply, app_id=self.app_id), cards.summary(reply))
        except Exception as error:  # noqa: BLE001 - fall back to a new message
            log.warning("updating card %s failed (%s); sending the outcome instead", card_id, type(error).__name__)
            await self.say(reference, reply)

    # Background work ------------------------------------------------------------------

    def start(self) -> None:
        self.turns.start()

    async def close(self) -> None:
        # Activities already taken in finish first: Teams will not send them again.
        await self.turns.stop()
