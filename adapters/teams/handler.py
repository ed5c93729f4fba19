"""The Teams activity handler: which activity goes where in the Teams app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botbuilder.core import InvokeResponse, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema import ChannelAccount
from botbuilder.schema.teams import TeamInfo, TeamsChannelAccount

if TYPE_CHECKING:
    from adapters.teams.app import TeamsApp


class GoalbotHandler(TeamsActivityHandler):
    def __init__(self, teams: TeamsApp) -> None:
        self.teams = teams

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await self.teams.take(turn_context.activity)

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        await self.teams.installed(turn_context.activity)

    async def on_installation_update_remove(self, turn_context: TurnContext) -> None:
        await self.teams.uninstalled(turn_context.activity)

    async def on_teams_members_added(  # pylint: disable=arguments-renamed
        self, teams_members_added: list[TeamsChannelAccount], team_info: TeamInfo, turn_context: TurnContext
    ) -> None:
        recipient: ChannelAccount | None = turn_context.activity.recipient
        if recipient and any(member.id == recipient.id for member in teams_members_added):
            if team_info is not None and team_info.id:
                await self.teams.team_added(turn_context.activity, team_info)
            else:
                await self.teams.installed(turn_context.activity)

    async def on_teams_members_removed(  # pylint: disable=arguments-renamed
        self, teams_members_removed: list[TeamsChannelAccount], team_info: TeamInfo, turn_context: TurnContext
    ) -> None:
        recipient: ChannelAccount | None = turn_context.activity.recipient
        if recipient and team_info is not None and team_info.id and \
                any(member.id == recipient.id for member in teams_members_removed):
            await self.teams.team_removed(turn_context.activity, team_info)

    async def on_teams_channel_created(self, channel_info, team_info: TeamInfo, turn_context: TurnContext) -> None:
        await self.teams.team_added(turn_context.activity, team_info)

    async def on_teams_channel_renamed(self, channel_info, team_info: TeamInfo, turn_context: TurnContext) -> None:
        await self.teams.team_added(turn_context.activity, team_info)

    async def on_teams_channel_deleted(self, channel_info, team_info: TeamInfo, turn_context: TurnContext) -> None:
        await self.teams.team_added(turn_context.activity, team_info)

    async def on_teams_channel_restored(self, channel_info, team_info: TeamInfo, turn_context: TurnContext) -> None:
        await self.teams.team_added(turn_context.activity, team_info)

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        # Only the parent picker's search is an invoke goalbot answers; its cards submit messages
        # (Action.Submit). botbuilder's own answers to other invokes are models that do not serialize.
        if turn_context.activity.name == "application/search":
            return await self.teams.search(turn_context.activity)
        if turn_context.activity.name == "adaptiveCard/action":
            return InvokeResponse(status=200, body={
                "statusCode": 400, "type": "application/vnd.microsoft.error",
                "value": {"code": "BadRequest", "message": "goalbot's cards do not use Action.Execute."},
            })
        return InvokeResponse(status=501)
