"""Buttons: Approve, Return (asks for a reason first) and Check in. The verified user acts, never the button."""

from __future__ import annotations

from adapters.slack import modals
from adapters.slack.app import SlackApp, delivery_key
from bot.commands import CheckIn
from bot.errors import UserError
from bot.messages import Action, Address, Reply


def register(slack: SlackApp) -> None:
    @slack.listen("action", "goal.approve")
    async def approve(ack, body, client, context, request):
        await ack()
        async with slack.after_ack(), slack.taking(body, request) as mine:
            if not mine:
                return
            user_id = body["user"]["id"]
            value = (body.get("actions") or [{}])[0].get("value", "")
            try:
                actor = await slack.actor(client, context.team_id, user_id)
            except UserError as error:
                await _tell(slack, client, body, user_id, Reply.failure(error.message))
                return
            reply = await slack.bot.act(Action(actor, "goal.approve", value, _address(body), delivery_id=delivery_key(body)))
            if reply.error:
                await _tell(slack, client, body, user_id, reply)
                return
            if (body.get("container") or {}).get("is_ephemeral") and body.get("response_url"):
                await slack.respond(body, reply, replace_original=True)
            # A message the bot sent is updated in place through the outbox.
            await slack.after_write(slack.tenant_for(context.team_id), user_id)

    @slack.listen("action", "goal.return")
    async def return_goal(ack, body, client):
        await ack()
        value = (body.get("actions") or [{}])[0].get("value", "")
        await client.views_open(trigger_id=body["trigger_id"], view=modals.return_goal(value[:20]))

    @slack.listen("action", "checkin.open")
    async def open_checkin(ack, body, client, context):
        await ack()
        user_id = body["user"]["id"]
        try:
            actor = await slack.actor(client, context.team_id, user_id)
        except UserError as error:
            await _tell(slack, client, body, user_id, Reply.failure(error.message))
            return
        prompt = await slack.bot.run(actor, CheckIn())
        await client.views_open(trigger_id=body["trigger_id"], view=modals.check_in(prompt))


def _address(body: dict) -> Address:
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or ""
    return Address("slack", channel)


async def _tell(slack: SlackApp, client, body: dict, user_id: str, reply: Reply) -> None:
    """An answer only the presser sees: in the conversation when there is one, else by DM."""
    if body.get("response_url"):
        await slack.respond(body, reply, response_type="ephemeral", replace_original=False)
    else:
        await slack.dm(client, user_id, reply)
