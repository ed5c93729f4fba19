"""Many workspaces through OAuth: the install flow, the stores slack_sdk keeps in goalbot's database,
and what happens when a workspace revokes goalbot's tokens."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient

from adapters.settings import Settings
from storage.database import Database

if TYPE_CHECKING:
    from adapters.slack.app import SlackApp

log = logging.getLogger("goalbot.slack")
# Scopes the bot needs; manifest.json asks for exactly these.
# channels:read and groups:read: whether goalbot is in a channel named for a summary, and when it joins one.
BOT_SCOPES = ("channels:read", "chat:write", "commands", "groups:read", "im:history", "im:write", "users:read",
              "users:read.email")


def installation_store(settings: Settings, db: Database) -> AsyncSQLAlchemyInstallationStore:
    assert settings.slack_client_id
    return AsyncSQLAlchemyInstallationStore(client_id=settings.slack_client_id, engine=db.engine)


def options(settings: Settings, db: Database, installations: AsyncSQLAlchemyInstallationStore,
            client: AsyncWebClient) -> dict:
    """Bolt's options for the OAuth install flow at /slack/install and /slack/oauth_redirect."""
    assert settings.slack_client_id and settings.slack_client_secret
    return {
        "installation_store": installations,
        "oauth_flow": AsyncOAuthFlow(
            client=client,
            settings=AsyncOAuthSettings(
                client_id=settings.slack_client_id,
                client_secret=settings.slack_client_secret.get_secret_value(),
                scopes=list(BOT_SCOPES),
                installation_store=installations,
                state_store=AsyncSQLAlchemyOAuthStateStore(expiration_seconds=600, engine=db.engine),
                install_path="/slack/install",
                redirect_uri_path="/slack/oauth_redirect",
            ),
        ),
    }


async def tokens_revoked(slack: SlackApp, event: dict, context) -> None:
    """Revoked bot tokens leave no copy behind: the installation rows hold the bot token too."""
    assert slack.installations is not None
    tokens = event.get("tokens") or {}
    if tokens.get("bot"):
        await slack.installations.async_delete_all(enterprise_id=context.enterprise_id, team_id=context.team_id)
        slack.profiles.forget(slack.tenant_for(context.team_id))
        log.info("deleted the tokens of workspace %s: its bot token was revoked", context.team_id)
        return
    for user_id in tokens.get("oauth") or []:
        await slack.installations.async_delete_installation(
            enterprise_id=context.enterprise_id, team_id=context.team_id, user_id=user_id
        )
