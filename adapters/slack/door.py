"""The HTTP door to Slack: size cap and signature check on the raw body, before anything is parsed."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.request.async_request import AsyncBoltRequest

from adapters.slack.app import REPLAY_HEADER, SlackApp

log = logging.getLogger("goalbot.slack.door")
MAX_BODY = 512 * 1024  # Slack's largest payloads (a 100-block view submission) are far below this
WINDOW_SECONDS = 300


def signature_ok(secret: str, headers, body: bytes, now: float | None = None) -> bool:
    """Slack's v0 signature over `v0:timestamp:body`, within five minutes of now."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not timestamp.isdigit() or len(timestamp) > 12 or not signature.startswith("v0="):
        return False
    if abs((now or time.time()) - int(timestamp)) > WINDOW_SECONDS:
        return False
    expected = "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def acknowledged_empty(body: str, content_type: str) -> bool:
    """A slash command or a block action: requests whose ack never carries a body."""
    if content_type != "application/x-www-form-urlencoded":
        return False
    if body.startswith("payload=") or "&payload=" in body:
        form = dict(parse_qsl(body))
        try:
            return json.loads(form.get("payload", "")).get("type") == "block_actions"
        except (ValueError, AttributeError):
            return False
    form = dict(parse_qsl(body))
    return bool(form.get("command")) and "ssl_check" not in form


def routes(slack: SlackApp) -> list[web.RouteDef]:
    secret = slack.settings.slack_signing_secret.get_secret_value() if slack.settings.slack_signing_secret else ""

    async def events(request: web.Request) -> web.Response:
        # Until this request has its answer, work acknowledged earlier waits its turn.
        with slack.acking():
            return await take(request)

    async def take(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY:
            return web.Response(status=413, text="too large")
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return web.Response(status=413, text="too large")
        if not signature_ok(secret, request.headers, body):
            log.warning("refused a Slack request with a missing, stale or wrong signature from %s", request.remote)
            return web.Response(status=401, text="invalid signature")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return web.Response(status=400, text="not UTF-8")
        # Only goalbot itself may mark a request as one it runs again.
        headers = {k: v for k, v in request.headers.items() if k.lower() != REPLAY_HEADER}
        bolt_request = AsyncBoltRequest(body=text, query=request.query_string, headers=headers)
        if acknowledged_empty(text, request.content_type):
            # A slash command or a button press is acknowledged with an empty 200 whatever
            # happens next, so it gets it now; Bolt runs its listener (which acks too) right after.
            slack.spawn(slack.app.async_dispatch(bolt_request))
            return web.Response(status=200)
        response = await slack.app.async_dispatch(bolt_request)
        if response.status == 404:
            # Something we do not handle (an event we did not ask for): Slack only needs to know it arrived.
            return web.Response(status=200)
        return await to_aiohttp_response(response)

    result = [web.post("/slack/events", events)]
    flow = slack.app.oauth_flow
    if flow is not None:

        async def install(request: web.Request) -> web.Response:
            return await to_aiohttp_response(await flow.handle_installation(await to_bolt_request(request)))

        async def redirect(request: web.Request) -> web.Response:
            return await to_aiohttp_response(await flow.handle_callback(await to_bolt_request(request)))

        result += [web.get(flow.install_path, install), web.get(flow.redirect_uri_path, redirect)]
    return result
