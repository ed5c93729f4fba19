"""Who a Teams user is: the person they already are, else their email or user principal name from Teams.

A user seen before is found by their identity, with no call to Teams. A new
user is looked up once in the conversation's members (`GET
/v3/conversations/{id}/members/{user}`), so the core can match them to a person
by email or join them. The time zone comes with every activity (its client info).
"""

from __future__ import annotations

import logging
import time

from botbuilder.core import BotAdapter, TurnContext
from botbuilder.schema import Activity, ConversationReference
from botbuilder.schema.teams import TeamsChannelAccount

from adapters.teams.sender import Sender, status_of
from bot import reach
from bot.errors import UserError
from bot.messages import Actor
from bot.people import is_known
from storage.database import Database

log = logging.getLogger("goalbot.teams")
KNOWN_TTL = 3600.0
MAX_CACHED = 50_000


class ProfileUnavailable(UserError):
    """Teams would not tell us who the user is; acting without an email could split one person in two."""


def user_key(activity: Activity) -> str:
    """The id a Teams user is known by: their Entra object id when Teams gives it (stable), else the chat id."""
    sender = activity.from_property
    return (sender.aad_object_id or sender.id) if sender else ""


def entities(activity: Activity, kind: str) -> list[dict]:
    """The activity's entities of one type, as plain dicts (botbuilder keeps their fields aside)."""
    found = []
    for entity in activity.entities or []:
        data = {**entity.serialize(), **(entity.additional_properties or {})} if hasattr(entity, "serialize") else entity
        if isinstance(data, dict) and data.get("type") == kind:
            found.append(data)
    return found


def timezone_of(activity: Activity) -> str | None:
    for data in entities(activity, "clientInfo"):
        if data.get("timezone"):
            return str(data["timezone"])
    return activity.local_timezone or None


def teams_tenant(activity: Activity) -> str | None:
    """The Teams tenant an activity comes from (Teams puts it in channelData and in the conversation)."""
    data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    conversation = activity.conversation
    extra = (conversation.additional_properties or {}) if conversation else {}
    return ((data.get("tenant") or {}).get("id") or (conversation.tenant_id if conversation else None)
            or extra.get("tenantId") or None)


def reference_of(activity: Activity) -> ConversationReference:
    """Where to answer an activity, with its tenant kept (botbuilder's own reference drops Teams' tenantId)."""
    reference = TurnContext.get_conversation_reference(activity)
    reference.conversation.tenant_id = teams_tenant(activity)
    return reference


def command_text(activity: Activity) -> str:
    """What the person typed, without an @mention of the bot."""
    text = activity.text or ""
    bot_id = activity.recipient.id if activity.recipient else None
    for mention in entities(activity, "mention"):
        if (mention.get("mentioned") or {}).get("id") == bot_id and mention.get("text"):
            text = text.replace(str(mention["text"]), " ")
    return text.strip()


class Directory:
    def __init__(self, db: Database, sender: Sender) -> None:
        self.db = db
        self.sender = sender
        self._known: dict[tuple[str, str], float] = {}

    async def _is_known(self, tenant: str, key: str) -> bool:
        if self._known.get((tenant, key), 0) > time.monotonic():
            return True
        found = await is_known(self.db, tenant, "teams", key)
        if found:
            if len(self._known) >= MAX_CACHED:
                self._known.clear()
            self._known[(tenant, key)] = time.monotonic() + KNOWN_TTL
        return found

    async def actor(self, reference: ConversationReference, activity: Activity, tenant: str) -> Actor:
        """The verified sender of an activity as the core's Actor."""
        key = user_key(activity)
        zone = timezone_of(activity)
        if await self._is_known(tenant, key):
            return Actor("teams", key, tenant, timezone=zone)
        sender = activity.from_property

        async def lookup(context: TurnContext) -> TeamsChannelAccount:
            connector = context.turn_state[BotAdapter.BOT_CONNECTOR_CLIENT_KEY]
            found = await connector.conversations.get_conversation_member(reference.conversation.id, sender.id)
            return TeamsChannelAccount().deserialize({**found.serialize(), **(found.additional_properties or {})})

        try:
            member = await self.sender.call(reference, lookup)
        except Exception as error:  # noqa: BLE001 - any failure means the same to the person
            log.warning("looking up Teams user %s in %s failed: %s: %s", sender.id, tenant, type(error).__name__, error)
            if status_of(error) in (403, 404):  # asking again will not change Teams' answer
                raise UserError("Teams does not know you as a member of this chat, so I did nothing.") from None
            raise ProfileUnavailable("I could not look you up in Teams just now; please try again in a minute.") from None
        email = member.email or member.user_principal_name or None
        upn = member.user_principal_name
        aliases = (upn,) if upn and email and upn.lower() != email.lower() else ()
        return Actor("teams", key, tenant, email=email, name=member.name or sender.name or None, timezone=zone,
                     aliases=aliases)

    async def resolve_mentions(self, activity: Activity, tenant: str, text: str) -> str:
        """`<at>Ravi Patel</at>` becomes `@ravi@example.com` when Ravi uses goalbot in Teams, else `@ravi.patel`,
        which the core matches by name."""
        bot_id = activity.recipient.id if activity.recipient else None
        mentions = [m for m in entities(activity, "mention")
                    if m.get("text") and (m.get("mentioned") or {}).get("id") != bot_id]
        if not mentions:
            return text
        emails = await reach.emails(self.db, tenant, {str((m.get("mentioned") or {}).get("id")) for m in mentions})
        for mention in mentions:
            mentioned = mention.get("mentioned") or {}
            handle = emails.get(str(mentioned.get("id"))) or ".".join(str(mentioned.get("name") or "").lower().split())
            if handle:
                text = text.replace(mention["text"], "@" + handle)
        return text
