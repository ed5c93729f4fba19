"""Events: the Home tab, direct messages to the bot. Uninstalls and revoked tokens are handled in app.py (OAuth)."""

from __future__ import annotations

import logging

from adapters.slack.app import SlackApp
from bot import summaries
from bot.messages import Address

log = logging.getLogger("goalbot.slack")


def register(slack: SlackApp) -> None:
    @slack.listen("event", "app_home_opened")
    async def home_opened(body, event, client, context, request):
        if event.get("tab") != "home":
            return
        if not isinstance(event.get("user"), str):
            log.warning("ignored an app_home_opened event without a user (%s)", body.get("event_id"))
            return
        await slack.homes.opened(body, request, client, context.team_id, event["user"])

    @slack.listen("event", "message", manifest_name="message.im")
    async def direct_message(body, event, client, context, request):
        # Only people writing to the bot in its DM; edits, joins and bots' own posts are not commands.
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return
        if not isinstance(event.get("user"), str) or not isinstance(event.get("channel"), str):
            log.warning("ignored a direct message event without a user or channel (%s)", body.get("event_id"))
            return

        async def deliver(reply) -> None:
            await slack.dm(client, event["channel"], reply)

        await slack.answer_text(body, request, client, context.team_id, event["user"], event.get("text") or "",
                                Address.direct("slack", event["user"]), deliver)

    async def presence(event, context, present: bool) -> None:
        channel = event.get("channel")
        if isinstance(channel, str) and event.get("user") == context.bot_user_id:
            await summaries.channel_present(slack.db, slack.tenant_for(context.team_id), "slack", channel, present)

    @slack.listen("event", "member_joined_channel")
    async def joined(event, context):
        # goalbot was invited: the summaries waiting for this channel go out.
        await presence(event, context, True)

    @slack.listen("event", "member_left_channel")
    async def left(event, context):
        await presence(event, context, False)

    @slack.listen("event", "channel_left")
    async def removed(event, context):
        # Sent to goalbot alone when it is removed from a channel (`group_left` for a private one).
        await presence({**event, "user": context.bot_user_id}, context, False)

    @slack.listen("event", "group_left")
    async def removed_private(event, context):
        await presence({**event, "user": context.bot_user_id}, context, False)
