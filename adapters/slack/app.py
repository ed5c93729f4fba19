"""The Slack app: Bolt wired to the core, for one workspace (a bot token) or many (OAuth)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
from datetime import timedelta
from html import unescape

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.settings import SLACK_API_URL, Settings
from adapters.slack import oauth, render
from adapters.slack.home import HomeTabs
from adapters.slack.delivery import SlackSender
from adapters.slack.people import Profiles
from bot.dispatch import Bot
from bot.errors import UserError
from bot.messages import Actor, Address, ChannelMention, IncomingMessage, Reply
from bot.outbox import Kind, Target
from bot.turns import Outcome, Translate, Turns
from storage.database import Database

log = logging.getLogger("goalbot.slack")

RATE_LIMIT_RETRIES = 4
AFTER_ACK_CONCURRENCY = 32
# Unfinished requests are run again after a minute, while their response_url (30 minutes) still works.
RECOVER_WITHIN = timedelta(minutes=25)
SCHEDULED = (Kind.PROMPT, Kind.REMINDER)
REPLAY_HEADER = "x-goalbot-replay"


def delivery_key(body: dict) -> str:
    """What identifies one delivery: the event id, else the interaction's trigger id, else the body."""
    if body.get("event_id"):
        return f"event:{body['event_id']}"
    if body.get("trigger_id"):
        return f"trigger:{body['trigger_id']}"
    return "body:" + hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def slack_text(text: str) -> str:
    """What the person typed: Slack sends `&`, `<` and `>` escaped; mentions stay `<@U…>`."""
    return unescape(text) if "&" in text else text


MENTION = re.compile(r"<@([UW][A-Z0-9]{2,30})(?:\|[^>]*)?>")
CHANNEL = re.compile(r"<#([CG][A-Z0-9]{2,30})(?:\|([^>]*))?>")


class SlackApp:
    """Holds the Bolt app and what its listeners share: the core, the profiles, the outbox worker."""

    def __init__(self, settings: Settings, bot: Bot, db: Database, *, socket_mode: bool = False) -> None:
        if not settings.slack_signing_secret and not socket_mode:
            raise ValueError("SLACK_SIGNING_SECRET is needed to receive Slack's requests over HTTP.")
        self.settings = settings
        self.bot = bot
        self.db = db
        self.profiles = Profiles()
        self.base_url = settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
        # One connection pool for every Web API call and response URL, instead of one per call.
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20))
        self.client = self.web_client(None if settings.slack_oauth else token)
        # Work done after an ack shares the process with the next acks, so it is bounded.
        self._after_ack = asyncio.Semaphore(AFTER_ACK_CONCURRENCY)
        secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
        options: dict = {
            "client": self.client,
            "signing_secret": secret or "",
            # The door checks every signature over HTTP (Socket Mode has none); requests run again
            # after a restart are our own, with their old timestamps.
            "request_verification_enabled": False,
            "process_before_response": False,
            "raise_error_for_unhandled_request": False,
        }
        self.installations = oauth.installation_store(settings, db) if settings.slack_oauth else None
        if self.installations is not None:
            options.update(oauth.options(settings, db, self.installations, self.web_client(None)))
        self.app = AsyncApp(**options)
        self.turns = Turns(bot, "slack", recover_within=RECOVER_WITHIN, replay=self.replay,
                           sender=SlackSender(self.client_for, settings.slack_messages_per_minute,
                                              settings.slack_history_per_minute),
                           turn=self.after_ack, on_sent=self._sent, worker=settings.worker_name)
        self.homes = HomeTabs(self)
        # What this app answers, by kind, in the manifest's words (tests hold manifest.json to it).
        self.registered: dict[str, set[str]] = {"command": set(), "action": set(), "view": set(), "event": set(), "options": set()}
        if settings.slack_oauth:
            self.app.event("app_uninstalled")(self.app.default_app_uninstalled_event_listener())

            async def revoked(event, context) -> None:
                await oauth.tokens_revoked(self, event, context)

            self.app.event("tokens_revoked")(revoked)
            self.registered["event"] |= {"app_uninstalled", "tokens_revoked"}

        from adapters.slack.listeners import actions, commands, events, options as option_listeners, views

        for module in (commands, actions, views, events, option_listeners):
            module.register(self)

    def listen(self, kind: str, name: "str | re.Pattern", *, manifest_name: str | None = None):
        """Register a Bolt listener (`app.command(name)`, `app.action(name)`, ...) and remember it."""
        self.registered[kind].add(manifest_name or name)
        return getattr(self.app, kind)(name)

    def web_client(self, token: str | None) -> AsyncWebClient:
        # Only 429s are retried (they mean "not done"); a dropped connection may hide a posted message.
        return AsyncWebClient(
            token=token,
            base_url=self.base_url,
            session=self.http,
            retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES)],
        )

    # Tenants and tokens -----------------------------------------------------------

    def tenant_for(self, team_id: str | None) -> str:
        """Each OAuth installation is its own tenant; one workspace uses the default one."""
        return f"slack:{team_id}" if self.settings.slack_oauth and team_id else "default"

    async def client_for(self, tenant: str) -> AsyncWebClient | None:
        if not self.settings.slack_oauth:
            return self.client
        if not tenant.startswith("slack:") or self.installations is None:
            return None
        bot = await self.installations.async_find_bot(enterprise_id=None, team_id=tenant.removeprefix("slack:"))
        return self.web_client(bot.bot_token) if bot and bot.bot_token else None

    # Taking requests in --------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def after_ack(self):
        """Around the work a listener does after its ack: a bounded number at a time, so a burst of
        requests cannot pile up unbounded work behind the acks."""
        async with self._after_ack:
            yield

    async def take(self, body: dict, request, team_id: str | None, translate: Translate, answer=None, *,
                   keep: bool = True) -> Outcome:
        """One request through the core's pipeline, after its ack; its payload is kept (unless `keep` is
        False) until the work is done, so a restart runs it again (`replay`)."""
        key = delivery_key(body)
        replayed = (request.headers.get(REPLAY_HEADER) or [None])[0] == key if request is not None else False
        async with self.after_ack():
            outcome = await self.turns.take(key, json.dumps(body) if keep else None, translate, answer=answer,
                                            replayed=replayed)
        for user_id in outcome.redraw:
            self.homes.refresh(self.tenant_for(team_id), user_id)
        return outcome

    async def replay(self, key: str, payload: str) -> None:
        """A request cut short earlier, dispatched through Bolt again as it first came."""
        await self.app.async_dispatch(AsyncBoltRequest(
            body=payload, headers={"content-type": "application/json", REPLAY_HEADER: key},
        ))

    async def actor(self, client: AsyncWebClient, team_id: str | None, user_id: str) -> Actor:
        return await self.profiles.actor(client, self.tenant_for(team_id), user_id)

    async def resolve_mentions(self, client: AsyncWebClient, team_id: str | None, text: str) -> str:
        """`<@U123|ana>` becomes `@ana@example.com`, so people who never wrote to the bot can be named."""
        tenant = self.tenant_for(team_id)
        for match in set(MENTION.finditer(text)):
            try:
                email = (await self.profiles.actor(client, tenant, match.group(1))).email
            except UserError:
                continue
            if email:
                text = text.replace(match.group(0), "@" + email)
        return text

    async def resolve_channels(self, client: AsyncWebClient, text: str) -> tuple[str, tuple[ChannelMention, ...]]:
        """`<#C123|general>` becomes `#C123`, with what Slack says of the channel: its name, and whether
        goalbot is in it (a channel Slack will not show goalbot is None)."""
        found = []
        for match in dict.fromkeys(CHANNEL.finditer(text), None):
            channel_id, typed = match.group(1), unescape(match.group(2) or "")
            try:
                info = (await client.conversations_info(channel=channel_id))["channel"]
                found.append(ChannelMention(f"#{channel_id}", channel_id, str(info.get("name") or typed or channel_id),
                                            bool(info.get("is_member"))))
            except SlackApiError as error:
                if error.response.status_code == 429 or error.response.status_code >= 500:
                    raise UserError("Slack is busy and could not tell me about that channel; try again in a minute.") from None
                found.append(ChannelMention(f"#{channel_id}", None, typed or channel_id, False))
            text = text.replace(match.group(0), f"#{channel_id}")
        return text, tuple(found)

    async def answer_text(self, body: dict, request, client: AsyncWebClient, team_id: str | None, user_id: str,
                          text: str, address: Address, deliver) -> None:
        """A line a person typed, run by the core and answered with `deliver(reply)`."""
        async def translate() -> IncomingMessage:
            actor = await self.actor(client, team_id, user_id)
            # Real mentions are resolved before unescaping, so a typed `<@U…>` stays text.
            said, channels = await self.resolve_channels(client, await self.resolve_mentions(client, team_id, text))
            return IncomingMessage(actor, slack_text(said), address, channels)

        async def answer(outcome: Outcome) -> None:
            if outcome.reply is not None:
                await deliver(outcome.reply)

        await self.take(body, request, team_id, translate, answer)

    async def respond(self, body: dict, reply: Reply, **options) -> None:
        """Answer an interaction through its response_url (which only a signed Slack request carries)."""
        url = body.get("response_url") or ""
        if self.base_url == SLACK_API_URL and not url.startswith("https://hooks.slack.com/"):
            log.warning("not answering to an unexpected response_url host")
            return
        payload = {"text": render.text(reply), "blocks": render.blocks(reply), **options}
        async with self.http.post(url, json=payload) as response:
            if response.status >= 400:
                log.warning("response_url answered %s", response.status)

    async def dm(self, client: AsyncWebClient, user_id: str, reply: Reply) -> None:
        await client.chat_postMessage(channel=user_id, text=render.text(reply), blocks=render.blocks(reply))

    def _sent(self, target: Target) -> None:
        """A message reached someone: their Home tab may show it (a request to decide, say). Scheduled
        messages (prompts, reminders) are not worth a redraw each: the tab is drawn again when opened."""
        if target.user and not target.channel and target.kind not in SCHEDULED:
            self.homes.refresh(target.tenant, target.user)

    # Background work ------------------------------------------------------------------

    def start(self) -> None:
        self.turns.start()

    async def stop(self) -> None:
        # Requests already acknowledged finish their work first: Slack will not send them again.
        await self.turns.stop()
        await self.homes.stop()

    async def close(self) -> None:
        await self.stop()
        await self.http.close()
