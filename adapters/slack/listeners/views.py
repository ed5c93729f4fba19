"""Modal submissions: a field error is shown next to the field; otherwise ack first, then the work."""

from __future__ import annotations

from adapters.slack import modals
from adapters.slack.app import SlackApp, delivery_key
from bot.commands import FormError
from bot.dispatch import Bot
from bot.errors import UserError
from bot.messages import Action, Actor, Address, Reply


def register(slack: SlackApp) -> None:
    async def submit(ack, body, client, context, request, name: str, value: str) -> None:
        view = body["view"]
        form = modals.form_values(view)
        user_id = body["user"]["id"]
        action_form = tuple(form.items())
        try:
            # Parsing is pure and quick, so a bad field is reported before the ack, inside the modal.
            Bot.command_for(Action(Actor("slack", user_id), name, value, Address("slack", ""), action_form))
        except FormError as error:
            await ack(response_action="errors", errors={error.field: error.message[:150]})
            return
        except UserError:
            pass  # not a form problem (say, a bad goal reference): answered below
        await ack()
        async with slack.after_ack(), slack.taking(body, request) as mine:
            if not mine:
                return
            try:
                actor = await slack.actor(client, context.team_id, user_id)
            except UserError as error:
                await slack.dm(client, user_id, Reply.failure(error.message))
                return
            reply = await slack.bot.act(
                Action(actor, name, value, Address("slack", user_id), action_form, delivery_id=delivery_key(body))
            )
            # The outcome of a return shows on the updated request; everything else is told by DM.
            if reply.error or name != modals.RETURN_GOAL:
                await slack.dm(client, user_id, reply)
            if not reply.error:
                await slack.after_write(slack.tenant_for(context.team_id), user_id)

    @slack.listen("view", modals.ADD_GOAL)
    async def add_goal(ack, body, client, context, request):
        await submit(ack, body, client, context, request, "goal.add", "")

    @slack.listen("view", modals.RETURN_GOAL)
    async def return_goal(ack, body, client, context, request):
        # The goal named in the modal is only a hint: the core checks the verified user may return it.
        await submit(ack, body, client, context, request, "goal.return", str(modals.metadata(body["view"]).get("goal", "")))

    @slack.listen("view", modals.CHECK_IN)
    async def check_in(ack, body, client, context, request):
        await submit(ack, body, client, context, request, "checkin.answer", "")
