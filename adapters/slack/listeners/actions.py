"""Buttons: Approve, Return (asks for a reason first), Edit (opens the goal's form, filled in), Check in, a prompt's health buttons, a digest's
Open and Nudge, and a nudge's Link. The verified user acts, never the button."""

from __future__ import annotations

import re

from adapters.slack import modals, render
from adapters.slack.app import SlackApp
from bot.commands import CheckIn
from bot.errors import UserError
from bot.messages import Action, Address, Do, Reply
from bot.turns import Outcome


def register(slack: SlackApp) -> None:
    @slack.listen("action", Do.APPROVE)
    async def approve(ack, body, client, context, request):
        await ack()
        user_id = body["user"]["id"]
        value = (body.get("actions") or [{}])[0].get("value", "")

        async def translate() -> Action:
            actor = await slack.actor(client, context.team_id, user_id)
            return Action(actor, Do.APPROVE, value, _address(body, user_id))

        async def answer(outcome: Outcome) -> None:
            if outcome.reply is None:
                return
            if outcome.reply.error:
                await _tell(slack, client, body, user_id, outcome.reply)
            elif (body.get("container") or {}).get("is_ephemeral") and body.get("response_url"):
                await slack.respond(body, outcome.reply, replace_original=True)
            # A message the bot sent is updated in place through the outbox.

        await slack.take(body, request, context.team_id, translate, answer)

    for name in (Do.SET_HEALTH, Do.PICK_GOAL, Do.SHOW, Do.NUDGE, Do.LINK):
        # A prompt's buttons (one per goal and health, or per goal to pick) and a digest's; repeated ids
        # carry their position. The answer goes to the presser alone.
        slack.listen("action", re.compile(rf"^{re.escape(name)}(:[0-9]+)?$"), manifest_name=name.value)(
            _pressed(slack, name))

    @slack.listen("action", render.OPEN_LINK)
    async def open_link(ack):
        await ack()  # Slack opened the map in the browser; the press itself asks nothing of goalbot

    @slack.listen("action", Do.RETURN)
    async def return_goal(ack, body, client):
        await ack()
        value = (body.get("actions") or [{}])[0].get("value", "")
        await client.views_open(trigger_id=body["trigger_id"], view=modals.return_goal(value[:20]))

    @slack.listen("action", Do.EDIT)
    async def edit_goal(ack, body, client, context):
        # The form is filled in by the core for the verified user, who must be allowed to change the goal.
        await ack()
        user_id = body["user"]["id"]
        value = (body.get("actions") or [{}])[0].get("value", "")
        try:
            actor = await slack.actor(client, context.team_id, user_id)
        except UserError as error:
            await _tell(slack, client, body, user_id, Reply.refusal(error))
            return
        found = await slack.bot.edit_form(actor, value[:20])
        if isinstance(found, Reply):
            await _tell(slack, client, body, user_id, found)
            return
        await client.views_open(trigger_id=body["trigger_id"], view=modals.edit_goal(found))

    @slack.listen("action", Do.OPEN_CHECKIN)
    async def open_checkin(ack, body, client, context):
        await ack()
        user_id = body["user"]["id"]
        try:
            actor = await slack.actor(client, context.team_id, user_id)
        except UserError as error:
            await _tell(slack, client, body, user_id, Reply.refusal(error))
            return
        prompt = await slack.bot.run(actor, CheckIn())
        await client.views_open(trigger_id=body["trigger_id"], view=modals.check_in(prompt))


def _pressed(slack: SlackApp, name: Do):
    async def pressed(ack, body, client, context, request):
        await ack()
        user_id = body["user"]["id"]
        value = (body.get("actions") or [{}])[0].get("value", "")

        async def translate() -> Action:
            actor = await slack.actor(client, context.team_id, user_id)
            return Action(actor, name, value, _address(body, user_id))

        async def answer(outcome: Outcome) -> None:
            if outcome.reply is not None:
                await _tell(slack, client, body, user_id, outcome.reply)

        await slack.take(body, request, context.team_id, translate, answer)

    return pressed


def _address(body: dict, user_id: str) -> Address:
    """Where the button was pressed: a channel's message, or the bot's direct message (Slack's `D…` channels)."""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or ""
    return Address.in_channel("slack", channel) if channel and not channel.startswith("D") else Address.direct("slack", user_id)


async def _tell(slack: SlackApp, client, body: dict, user_id: str, reply: Reply) -> None:
    """An answer only the presser sees: in the conversation when there is one, else by DM."""
    if body.get("response_url"):
        await slack.respond(body, reply, response_type="ephemeral", replace_original=False)
    else:
        await slack.dm(client, user_id, reply)
