"""The parent-goal picker in the add form: the goals this person may see, as they type."""

from __future__ import annotations

from adapters.slack import render
from adapters.slack.app import SlackApp
from bot.errors import UserError


def register(slack: SlackApp) -> None:
    @slack.listen("options", "parent")
    async def parent_goals(ack, body, client, context):
        try:
            actor = await slack.actor(client, context.team_id, body["user"]["id"])
        except UserError:
            await ack(options=[])
            return
        choices = await slack.bot.goal_choices(actor, body.get("value") or "")
        await ack(options=[{"text": render.plain(f"{ref} {title}", 75), "value": ref} for ref, title in choices])
