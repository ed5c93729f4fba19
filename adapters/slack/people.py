"""Who a Slack user is: email, name and time zone from `users.info`, cached and refreshed hourly."""

from __future__ import annotations

import logging
import time

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import UserError
from bot.messages import Actor

log = logging.getLogger("goalbot.slack")
PROFILE_TTL = 3600.0
MAX_CACHED = 50_000


# Answers from users.info that will not change by asking again.
PERMANENT = {
    "user_not_found": "Slack does not know this user, so I did nothing.",
    "user_not_visible": "Slack does not let goalbot see this user, so I did nothing.",
    "invalid_auth": "goalbot is not installed properly in this workspace; ask an admin to reinstall it.",
    "not_authed": "goalbot is not installed properly in this workspace; ask an admin to reinstall it.",
    "account_inactive": "goalbot's access to this workspace was turned off; ask an admin to reinstall it.",
    "token_revoked": "goalbot's access to this workspace was revoked; ask an admin to reinstall it.",
    "missing_scope": "goalbot may not read profiles in this workspace; ask an admin to reinstall it.",
}


class ProfileUnavailable(UserError):
    """Slack would not tell us who the user is; acting without an email could split one person in two."""


class UnknownUser(UserError):
    """Slack answered that it will not tell us who the user is, and asking again will not change that."""


class Profiles:
    def __init__(self, ttl: float = PROFILE_TTL) -> None:
        self.ttl = ttl
        self._cache: dict[tuple[str, str], tuple[float, Actor]] = {}

    async def actor(self, client: AsyncWebClient, tenant: str, user_id: str) -> Actor:
        """The verified user as the core's Actor."""
        key = (tenant, user_id)
        hit = self._cache.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        try:
            response = await client.users_info(user=user_id)
        except SlackApiError as error:
            code = str(error.response.get("error") or error.response.status_code)
            log.warning("users.info for %s in %s failed: %s", user_id, tenant, code)
            if code in PERMANENT:
                raise UnknownUser(PERMANENT[code]) from None
            if hit:  # a stale profile beats none
                return hit[1]
            raise ProfileUnavailable("I could not look you up in Slack just now; please try again in a minute.") from None
        user = response.get("user") or {}
        profile = user.get("profile") or {}
        actor = Actor(
            platform="slack",
            user_id=user_id,
            tenant=tenant,
            email=profile.get("email") or None,
            name=profile.get("real_name") or user.get("real_name") or user.get("name") or None,
            timezone=user.get("tz") or None,
        )
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()
        self._cache[key] = (time.monotonic() + self.ttl, actor)
        return actor

    def forget(self, tenant: str) -> None:
        for key in [k for k in self._cache if k[0] == tenant]:
            del self._cache[key]
