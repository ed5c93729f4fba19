"""`/goals` and `/checkin`: acknowledged at once, answered through the command's response_url."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from adapters.slack import modals
from adapters.slack.app import SlackApp, delivery_key, slack_text, writes
from bot.errors import UserError
from bot.messages import Address, IncomingMessage, Reply


def register(app: AsyncApp, slack: SlackApp) -> None:
    async def run(ack, body, client, context, request, text: str) -> None:
        await ack()
        if text.split() == ["goals", "add"]:
            # A bare `/goals add` opens the form at once: the trigger id only lives 3 seconds,
            # so there is nothing worth running again later.
            async with slack.taking(body, request, keep=False) as mine:
                if mine:
                    await client.views_open(trigger_id=body["trigger_id"], view=modals.add_goal())
            return
        async with slack.after_ack(), slack.taking(body, request) as mine:
            if not mine:
                return
            user_id = body["user_id"]
            try:
                actor = await slack.actor(client, context.team_id, user_id)
            except UserError as error:
                await slack.respond(body, Reply.failure(error.message), response_type="ephemeral")
                return
            # Real mentions are resolved before unescaping, so a typed `<@U…>` stays text.
            text = slack_text(await slack.resolve_mentions(client, context.team_id, text))
            address = Address("slack", body.get("channel_id", ""))
            reply = await slack.bot.handle(IncomingMessage(actor, text, address, delivery_key(body)))
            await slack.respond(body, reply, response_type="in_channel" if reply.shared else "ephemeral")
            if not reply.error and writes(text):
                await slack.after_write(slack.tenant_for(context.team_id), user_id)

    @slack.listen("command", "/goals")
    async def goals(ack, body, client, context, request):
        await run(ack, body, client, context, request, "goals " + body.get("text", "").strip())

    @slack.listen("command", "/checkin")
    async def checkin(ack, body, client, context, request):
        await run(ack, body, client, context, request, "checkin " + body.get("text", "").strip())
