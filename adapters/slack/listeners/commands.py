"""`/goals` and `/checkin`: acknowledged at once, answered through the command's response_url."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from adapters.slack import modals, render
from adapters.slack.app import SlackApp, delivery_key, slack_text, writes
from bot.errors import UserError
from bot.messages import Address, IncomingMessage, Reply



def register(app: AsyncApp, slack: SlackApp) -> None:
    async def run(ack, body, client, context, respond, text: str) -> None:
        await ack()
        if not await slack.claim(delivery_key(body)):
            return
        user_id = body["user_id"]
        tenant = slack.tenant_for(context.team_id)
        if text.split()[1:] == ["add"] and text.startswith("goals"):
            # A bare `/goals add` opens the form; the trigger id only lives 3 seconds.
            await client.views_open(trigger_id=body["trigger_id"], view=modals.add_goal())
            return
        try:
            actor = await slack.actor(client, context.team_id, user_id)
        except UserError as error:
            await respond(text=render.escape(error.message), response_type="ephemeral")
            return
        # Real mentions are resolved before unescaping, so a typed `<@U…>` stays text.
        text = slack_text(await slack.resolve_mentions(client, context.team_id, text))
        address = Address("slack", body.get("channel_id", ""))
        reply: Reply = await slack.bot.handle(IncomingMessage(actor, text, address, delivery_key(body)))
        await respond(
            text=render.text(reply),
            blocks=render.blocks(reply),
            response_type="in_channel" if reply.shared else "ephemeral",
        )
        if not reply.error and writes(text):
            await slack.after_write(tenant, user_id)

    @slack.listen("command", "/goals")
    async def goals(ack, body, client, context, respond):
        await run(ack, body, client, context, respond, "goals " + body.get("text", "").strip())

    @slack.listen("command", "/checkin")
    async def checkin(ack, body, client, context, respond):
        await run(ack, body, client, context, respond, "checkin " + body.get("text", "").strip())

