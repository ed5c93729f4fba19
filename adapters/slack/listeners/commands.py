"""`/goals` and `/checkin`: acknowledged at once, answered through the command's response_url."""

from __future__ import annotations

from adapters.slack import modals
from adapters.slack.app import SlackApp, delivery_key
from bot.messages import Address


def register(slack: SlackApp) -> None:
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
            address = Address("slack", body.get("channel_id", ""))
            reply, _ = await slack.answer_text(client, context.team_id, body["user_id"], text, address, delivery_key(body))
            await slack.respond(body, reply, response_type="in_channel" if reply.shared else "ephemeral")

    @slack.listen("command", "/goals")
    async def goals(ack, body, client, context, request):
        await run(ack, body, client, context, request, "goals " + body.get("text", "").strip())

    @slack.listen("command", "/checkin")
    async def checkin(ack, body, client, context, request):
        await run(ack, body, client, context, request, "checkin " + body.get("text", "").strip())
