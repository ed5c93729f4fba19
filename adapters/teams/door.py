"""The HTTP door to Teams: the Bot Framework token is checked before a byte of the body is parsed; then the
body must be an activity of the right shape that the token vouches for; only then does botbuilder run the turn."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiohttp import web
from botbuilder.schema import Activity
from botframework.connector.auth import AuthenticationConstants

from adapters.bodies import Malformed, json_object, refuse, whole_body
from adapters.settings import Settings
from adapters.teams import shapes

if TYPE_CHECKING:
    from adapters.teams.app import TeamsApp

log = logging.getLogger("goalbot.teams")


class BotConfig:
    """What botbuilder's ConfigurationBotFrameworkAuthentication reads, from our settings."""

    def __init__(self, settings: Settings) -> None:
        self.APP_ID = settings.microsoft_app_id or ""
        self.APP_PASSWORD = settings.microsoft_app_password.get_secret_value() if settings.microsoft_app_password else ""
        self.APP_TYPE = settings.microsoft_app_type
        self.APP_TENANTID = settings.microsoft_app_tenant_id or ""
        if settings.teams_openid_metadata_url:
            # A channel other than the public cloud's: its keys and issuer; the rest stays public-cloud.
            self.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL = settings.teams_openid_metadata_url
            self.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER = (
                settings.teams_token_issuer or AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER
            )
            self.TO_CHANNEL_FROM_BOT_LOGIN_URL = AuthenticationConstants.TO_CHANNEL_FROM_BOT_LOGIN_URL_PREFIX
            self.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE = AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE
            self.OAUTH_URL = AuthenticationConstants.OAUTH_URL
            self.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL = AuthenticationConstants.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL


async def messages(teams: TeamsApp, request: web.Request) -> web.Response:
    """POST /api/messages: the Bot Framework token is checked before a byte of the body is parsed;
    then the body must be an activity the token vouches for; only then does the turn run."""
    if request.content_type != "application/json":
        return refuse(415, "expected application/json", request, "Teams")
    body = await whole_body(request)
    if isinstance(body, web.Response):
        return body
    header = request.headers.get("Authorization", "")
    # Signature, issuer, audience and expiry first, with nothing taken from the body.
    if await verified(teams, Activity(), header) is None:
        return web.json_response({"error": "unauthorized"}, status=401)
    try:
        data = json_object(body)
        shapes.check(data)
        activity = Activity().deserialize(data)
    except Malformed as problem:
        return refuse(400, str(problem), request, "Teams")
    except Exception as error:  # noqa: BLE001 - msrest refuses a field of the wrong type in many ways
        return refuse(400, f"the body is not an activity ({type(error).__name__})", request, "Teams")
    # Then the token must be for this activity: its channel's endorsement and its serviceUrl claim.
    vouched = await verified(teams, activity, header)
    if vouched is None:
        return web.json_response({"error": "unauthorized"}, status=401)
    answer = await teams.adapter.process_activity(vouched, activity, teams.handler.on_turn)
    if answer is not None:
        return web.json_response(answer.body, status=answer.status)
    return web.Response(status=200)


async def verified(teams: TeamsApp, activity: Activity, header: str):
    """What botbuilder makes of the token for this activity; None when it is not valid."""
    try:
        return await teams.adapter.bot_framework_authentication.authenticate_request(activity, header)
    except Exception as error:  # noqa: BLE001 - whatever fails here, the request is not verified
        log.warning("refused a request to /api/messages: no valid Bot Framework token (%s)", type(error).__name__)
        return None


def routes(teams: TeamsApp) -> list[web.RouteDef]:
    async def handle(request: web.Request) -> web.Response:
        return await messages(teams, request)

    return [web.post("/api/messages", handle)]
