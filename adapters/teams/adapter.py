"""botbuilder's CloudAdapter, with one Bot Connector client per service URL instead of one per turn.

Stock CloudAdapter builds a new connector client and a new user-token client
for every turn, inbound or proactive. Each costs milliseconds of CPU (msrest's
retry configuration) and a fresh HTTP session, so a busy bot spends most of
its time building clients. goalbot keeps the connector client per (service
URL, audience, app id) for reuse, and no user-token client (goalbot signs
nobody in). The turns themselves run through botbuilder's own pipeline.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable

from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import AuthenticateRequestResult, ClaimsIdentity, ConnectorFactory
from botframework.connector.auth import JwtTokenValidation

KEPT_CLIENTS = 64  # service URLs are few (one per region); a bound keeps forged ones from piling up


class ReusingCloudAdapter(CloudAdapter):
    def __init__(self, bot_framework_authentication) -> None:
        super().__init__(bot_framework_authentication)
        self._clients: OrderedDict[tuple[str, str, str], tuple[ConnectorClient, ConnectorFactory]] = OrderedDict()

    async def _connector(self, claims_identity: ClaimsIdentity, service_url: str, audience: str | None):
        app_id = JwtTokenValidation.get_app_id_from_claims(claims_identity.claims) or ""
        key = (service_url or "", audience or "", app_id)
        found = self._clients.get(key)
        if found is not None:
            self._clients.move_to_end(key)
            return found
        factory = self.bot_framework_authentication.create_connector_factory(claims_identity)
        client = await factory.create(service_url, audience)
        self._clients[key] = (client, factory)
        while len(self._clients) > KEPT_CLIENTS:
            self._clients.popitem(last=False)
        return client, factory

    async def process_activity(self, auth_header_or_authenticate_request_result, activity: Activity,
                               logic: Callable[[TurnContext], Awaitable]):
        if isinstance(auth_header_or_authenticate_request_result, str):
            verified = await self.bot_framework_authentication.authenticate_request(
                activity, auth_header_or_authenticate_request_result
            )
        else:
            verified: AuthenticateRequestResult = auth_header_or_authenticate_request_result
        activity.caller_id = verified.caller_id
        client, factory = await self._connector(verified.claims_identity, activity.service_url, verified.audience)
        context = self._create_turn_context(activity, verified.claims_identity, verified.audience, client, None,
                                            logic, factory)
        await self.run_pipeline(context, logic)
        return self._process_turn_results(context)

    async def process_proactive(self, claims_identity: ClaimsIdentity, continuation_activity: Activity,
                                audience: str, logic: Callable[[TurnContext], Awaitable]):
        client, factory = await self._connector(claims_identity, continuation_activity.service_url, audience)
        context = self._create_turn_context(continuation_activity, claims_identity, audience, client, None,
                                            logic, factory)
        await self.run_pipeline(context, logic)
