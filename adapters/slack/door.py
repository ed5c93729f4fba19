"""The HTTP door to Slack: size cap and signature check on the whole raw body, before anything is parsed;
then the body's shape, before Bolt or a listener reads it."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from urllib.parse import parse_qsl, urlencode

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import parse_body

from adapters.bodies import Malformed, json_object, refuse, whole_body
from adapters.slack import shapes
from adapters.slack.app import REPLAY_HEADER, SlackApp

log = logging.getLogger("goalbot.slack.door")
WINDOW_SECONDS = 300
CONTENT_TYPES = ("application/json", "application/x-www-form-urlencoded")
MAX_FORM_FIELDS = 100


def signature_ok(secret: str, headers, body: bytes, now: float | None = None) -> bool:
    """Slack's v0 signature over `v0:timestamp:body`, within five minutes of now."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12 or not signature.startswith("v0="):
        return False
    if abs((now or time.time()) - int(timestamp)) > WINDOW_SECONDS:
        return False
    expected = "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def parsed(text: str, content_type: str) -> tuple[dict, str]:
    """The body as Bolt will read it (Bolt's own parser), and the text to hand Bolt; Malformed when that is
    not a Slack request."""
    if text.count("&") >= MAX_FORM_FIELDS and not text.lstrip().startswith("{"):
        raise Malformed("too many form fields")
    form = None
    if content_type == "application/x-www-form-urlencoded" and not text.startswith("{"):
        form = parse_qsl(text, keep_blank_values=True)
        if "payload" in text and not any(key == "payload" for key, _ in form):
            # Bolt takes any form containing the word for an interaction and drops the rest (a slash command
            # saying `/goals add payload migration`, say): the same fields, with the word spelt %70ayload.
            text = urlencode(form).replace("payload", "%70ayload")
    body = json_object(text, lambda raw: parse_body(raw, content_type) if raw else {})
    shapes.check(body)
    return body, text


def acknowledged_empty(body: dict) -> bool:
    """A slash command or a block action: requests whose ack never carries a body."""
    return body.get("type") == "block_actions" or (bool(body.get("command")) and "ssl_check" not in body)


def routes(slack: SlackApp) -> list[web.RouteDef]:
    secret = slack.settings.slack_signing_secret.get_secret_value() if slack.settings.slack_signing_secret else ""

    async def events(request: web.Request) -> web.Response:
        body = await whole_body(request)
        if isinstance(body, web.Response):
            return body
        if not signature_ok(secret, request.headers, body):
            log.warning("refused a Slack request with a missing, stale or wrong signature from %s", request.remote)
            return web.Response(status=401, text="invalid signature")
        if request.content_type not in CONTENT_TYPES:
            return refuse(415, f"unexpected content type {request.content_type[:60]!r}", request, "Slack")
        try:
            payload, text = parsed(body.decode("utf-8"), request.content_type)
        except UnicodeDecodeError:
            return refuse(400, "the body is not UTF-8", request, "Slack")
        except Malformed as problem:
            return refuse(400, str(problem), request, "Slack")
        # Only goalbot itself may mark a request as one it runs again.
        headers = {k: v for k, v in request.headers.items() if k.lower() != REPLAY_HEADER}
        bolt_request = AsyncBoltRequest(body=text, query=request.query_string, headers=headers)
        if acknowledged_empty(payload):
            # A slash command or a button press is acknowledged with an empty 200 whatever
            # happens next, so it gets it now; Bolt runs its listener (which acks too) right after.
            slack.turns.spawn(slack.app.async_dispatch(bolt_request))
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
