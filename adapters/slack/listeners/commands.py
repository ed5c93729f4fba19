"""`/goals` and `/checkin`: acknowledged at once, answered through the command's response_url."""

from __future__ import annotations

from adapters.slack import modals
from adapters.slack.app import SlackApp
from bot.messages import Address


def address_of(body: dict) -> Address:
    """Where a slash command was typed: a direct message (Slack's `D…` channels) or a channel."""
    channel = body.get("channel_id", "")
    if not channel or channel.startswith("D"):
        return Address.direct("slack", body.get("user_id", ""))
    return Address.in_channel("slack", channel)


def register(slack: SlackApp) -> None:
    async def run(ack, body, client, context, request, text: str) -> None:
        await ack()
        if text.split() == ["goals", "add"]:
            # A bare `/goals add` opens the form at once: the trigger id only lives 3 seconds,
            # so there is nothing worth running again later.
            async def open_form() -> None:
                await client.views_open(trigger_id=body["trigger_id"], view=modals.add_goal())

            await slack.take(body, request, context.team_id, open_form, keep=False)
            return

        async def deliver(reply) -> None:
            await slack.respond(body, reply, response_type="in_channel" if reply.shared else "ephemeral")

        await slack.answer_text(body, request, client, context.team_id, body["user_id"], text, address_of(body), deliver)

    @slack.listen("command", "/goals")
    async def goals(ack, body, client, context, request):
        await run(ack, body, client, context, request, "goals " + body.get("text", "").strip())

    @slack.listen("command", "/checkin")
    async def checkin(ack, body, client, context, request):
        await run(ack, body, client, context, request, "checkin " + body.get("text", "").strip())
