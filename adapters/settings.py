"""Configuration from the environment, with the ecosystem's usual variable names."""

from __future__ import annotations

import socket
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.maps import MapLinks
from storage.database import default_url, describe_url

SLACK_API_URL = "https://slack.com/api/"


class Settings(BaseSettings):
    """Everything `goalbot` reads from the environment (or a `.env` file). Secrets never reach a log."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True)

    database_url: str = Field(default_factory=default_url, alias="GOALBOT_DATABASE_URL")

    slack_bot_token: SecretStr | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_client_id: str | None = Field(default=None, alias="SLACK_CLIENT_ID")
    slack_client_secret: SecretStr | None = Field(default=None, alias="SLACK_CLIENT_SECRET")
    slack_app_token: SecretStr | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default=SLACK_API_URL, alias="SLACK_API_URL")

    microsoft_app_id: str | None = Field(default=None, alias="MICROSOFT_APP_ID")
    microsoft_app_password: SecretStr | None = Field(default=None, alias="MICROSOFT_APP_PASSWORD")
    microsoft_app_tenant_id: str | None = Field(default=None, alias="MICROSOFT_APP_TENANT_ID")
    microsoft_app_type: Literal["MultiTenant", "SingleTenant", "UserAssignedMSI"] = Field(
        default="MultiTenant", alias="MICROSOFT_APP_TYPE"
    )
    teams_insecure_local: bool = Field(default=False, alias="GOALBOT_TEAMS_INSECURE_LOCAL")
    # Where Bot Framework's signing keys are published, and the issuer its tokens carry: the public
    # cloud's by default; set both for a sovereign cloud or a private channel.
    teams_openid_metadata_url: str | None = Field(default=None, alias="GOALBOT_TEAMS_OPENID_METADATA_URL")
    teams_token_issuer: str | None = Field(default=None, alias="GOALBOT_TEAMS_TOKEN_ISSUER")

    # How long a client may take to send a request's headers, then its body; how many connections one
    # client address may hold at once (behind a reverse proxy, the proxy is that one client).
    header_timeout: float = Field(default=10.0, gt=0, le=300, alias="GOALBOT_HEADER_TIMEOUT")
    body_timeout: float = Field(default=20.0, gt=0, le=300, alias="GOALBOT_BODY_TIMEOUT")
    connections_per_client: int = Field(default=128, ge=1, le=100_000, alias="GOALBOT_CONNECTIONS_PER_CLIENT")
    # Messages goalbot posts per minute to one Slack workspace (Slack keeps a workspace-wide limit it does
    # not publish, besides about one message per second per conversation).
    slack_messages_per_minute: int = Field(default=600, ge=1, le=100_000, alias="GOALBOT_SLACK_MESSAGES_PER_MINUTE")
    # History reads per minute per workspace, to find a message whose answer was lost (Slack limits
    # conversations.history to 1 a minute for commercially distributed apps outside its Marketplace).
    slack_history_per_minute: int = Field(default=20, ge=1, le=1_000, alias="GOALBOT_SLACK_HISTORY_PER_MINUTE")
    # Requests goalbot makes per second to Teams for one tenant, evenly spaced (Teams allows about 50 per app
    # and tenant in all; the default leaves room for other replicas and for member lookups).
    teams_requests_per_second: float = Field(default=40.0, gt=0, le=1_000, alias="GOALBOT_TEAMS_REQUESTS_PER_SECOND")
    # The address people's browsers reach goalbot at, for links to the goal map (https://goals.example.com,
    # or with a path when a proxy serves goalbot under one); unset, the address `goalbot serve` listens on.
    public_url: str | None = Field(default=None, alias="GOALBOT_PUBLIC_URL")
    port: int = Field(default=3000, ge=1, le=65535, alias="PORT")  # where `goalbot serve` listens unless told
    # How long a map link handed out in chat works (the weekly digest's works for a day).
    map_link_minutes: int = Field(default=60, ge=1, le=24 * 60, alias="GOALBOT_MAP_LINK_MINUTES")
    # This process's name for the outbox claims it holds; keep it the same across restarts of one replica
    # (it takes its own unfinished claims back at once) and different between replicas.
    worker_name: str = Field(default_factory=socket.gethostname, max_length=100,
                             alias="GOALBOT_WORKER_NAME")

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError("must be the http(s) address goalbot is reached at, like https://goals.example.com")
        return value.strip().rstrip("/")

    def map_links(self, listening: str | None = None) -> MapLinks:
        """Where links to the goal map point: GOALBOT_PUBLIC_URL, else the address `goalbot serve` listens on
        (`listening`, else 127.0.0.1 at PORT, else at 3000)."""
        return MapLinks(self.public_url or listening or f"http://127.0.0.1:{self.port}", self.map_link_minutes)

    @field_validator("teams_insecure_local", mode="before")
    @classmethod
    def _empty_is_off(cls, value):
        """`GOALBOT_TEAMS_INSECURE_LOCAL=` (set but empty) means off, as unset does."""
        return False if isinstance(value, str) and not value.strip() else value

    def describe_database(self) -> str:
        """The database URL without its password, for messages and logs."""
        return describe_url(self.database_url)

    @property
    def slack_oauth(self) -> bool:
        """Many workspaces, installed through OAuth."""
        return bool(self.slack_client_id and self.slack_client_secret)

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_signing_secret or self.slack_app_token) and bool(self.slack_bot_token or self.slack_oauth)

    @property
    def teams_enabled(self) -> bool:
        """Teams runs with Bot Framework credentials, or, for local tests only, with the insecure switch."""
        return bool(self.microsoft_app_id) or self.teams_insecure_local

    @property
    def teams_insecure(self) -> bool:
        """No app id and the local-testing switch: /api/messages checks no token at all."""
        return not self.microsoft_app_id and self.teams_insecure_local
