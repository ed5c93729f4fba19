"""Events: the Home tab, direct messages to the bot. Uninstalls and revoked tokens are handled in app.py (OAuth)."""

from __future__ import annotations

import logging

from adapters.slack.app import SlackApp, delivery_key
from bot.commands import chat_line
from bot.errors import UserError
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
        async with slack.after_ack(), slack.taking(body, request) as mine:
            if mine:
                try:
                    await slack.publish_home(client, slack.tenant_for(context.team_id), event["user"])
                except UserError as error:
                    log.warning("the Home tab of %s was not drawn: %s", event["user"], error.message)

    @slack.listen("event", "message", manifest_name="message.im")
    async def direct_message(body, event, client, context, request):
        # Only people writing to the bot in its DM; edits, joins and bots' own posts are not commands.
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return
        if not isinstance(event.get("user"), str) or not isinstance(event.get("channel"), str):
            log.warning("ignored a direct message event without a user or channel (%s)", body.get("event_id"))
            return
        async with slack.after_ack(), slack.taking(body, request) as mine:
            if mine:
                await answer_direct_message(body, event, client, context)

    async def answer_direct_message(body, event, client, context):
        text = chat_line(event.get("text") or "")
        address = Address("slack", event["channel"])
        reply, _ = await slack.answer_text(client, context.team_id, event["user"], text, address, delivery_key(body))
        await slack.dm(client, event["channel"], reply)
