"""Modal submissions: a field error is shown next to the field; otherwise ack first, then the work."""

from __future__ import annotations

from adapters.slack import modals
from adapters.slack.app import SlackApp
from bot.commands import FormError
from bot.dispatch import Bot
from bot.errors import UserError
from bot.messages import Action, Actor, Address, Do
from bot.turns import Outcome


def register(slack: SlackApp) -> None:
    async def submit(ack, body, client, context, request, name: str, value: str) -> None:
        view = body["view"]
        form = tuple(modals.form_values(view).items())
        user_id = body["user"]["id"]
        address = Address.direct("slack", user_id)
        try:
            # Parsing is pure and quick, so a bad field is reported before the ack, inside the modal.
            Bot.command_for(Action(Actor("slack", user_id), name, value, address, form))
        except FormError as error:
            await ack(response_action="errors", errors={error.field: error.message[:150]})
            return
        except UserError:
            pass  # not a form problem (say, a bad goal reference): answered below
        await ack()

        async def translate() -> Action:
            return Action(await slack.actor(client, context.team_id, user_id), name, value, address, form)

        async def answer(outcome: Outcome) -> None:
            # The outcome of a return shows on the updated request; everything else is told by DM.
            if outcome.reply is not None and (outcome.reply.error or name != Do.RETURN):
                await slack.dm(client, user_id, outcome.reply)

        await slack.take(body, request, context.team_id, translate, answer)

    @slack.listen("view", modals.ADD_GOAL)
    async def add_goal(ack, body, client, context, request):
        await submit(ack, body, client, context, request, Do.ADD_GOAL, "")

    @slack.listen("view", modals.RETURN_GOAL)
    async def return_goal(ack, body, client, context, request):
        # The goal named in the modal is only a hint: the core checks the verified user may return it.
        await submit(ack, body, client, context, request, Do.RETURN, str(modals.metadata(body["view"]).get("goal", "")))

    @slack.listen("view", modals.EDIT_GOAL)
    async def edit_goal(ack, body, client, context, request):
        # As with a return, the goal named is a hint: the core checks the verified user may change it.
        await submit(ack, body, client, context, request, Do.EDIT, str(modals.metadata(body["view"]).get("goal", "")))

    @slack.listen("view", modals.CHECK_IN)
    async def check_in(ack, body, client, context, request):
        await submit(ack, body, client, context, request, Do.ANSWER_CHECKIN, "")
