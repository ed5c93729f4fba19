"""A local Slack: the Web API methods goalbot calls, response URLs, and a Socket Mode websocket.

It records every call with its arguments, can answer 429 with Retry-After (a number
of calls, or a workspace cap of messages per minute), can lose a call's answer
before or after doing it, keeps the messages posted (with their metadata) for
`conversations.history`, and signs requests to the bot the way Slack does.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import math
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

from aiohttp import web
from aiohttp.test_utils import TestServer

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test-token"
TEAM = "T0GOALS"


def sign(body: bytes, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


@dataclass
class Call:
    method: str
    args: dict
    token: str | None


@dataclass
class FakeSlack:
    users: dict[str, dict] = field(default_factory=dict)  # user id -> {"email", "name", "tz"}
    calls: list[Call] = field(default_factory=list)
    responses: list[tuple[str, dict]] = field(default_factory=list)  # response_url posts
    rate_limited: int = 0  # answer this many of the next calls with 429
    retry_after: int = 1
    drop: list[str] = field(default_factory=list)  # each entry: that method's next call loses its connection
    drop_after: list[str] = field(default_factory=list)  # each entry: that method's next call is done, its answer lost
    cap_per_minute: int | None = None  # chat.postMessage calls accepted per minute across the workspace; then 429
    history: dict[str, list[dict]] = field(default_factory=dict)  # channel -> messages posted, oldest first
    response_count: int = 0  # response_url posts so far (kept when `responses` is cleared)
    answered_at: dict[str, float] = field(default_factory=dict)  # response name -> time.monotonic() it came
    envelopes_acked: list[dict] = field(default_factory=list)
    channels: dict[str, dict] = field(default_factory=dict)  # channel id -> {"name", "member": goalbot is in it, "private"}

    def __post_init__(self) -> None:
        self._ts = itertools.count(1)
        self._posted_at: deque[float] = deque()
        self._server: TestServer | None = None
        self.socket: web.WebSocketResponse | None = None
        self.socket_ready = asyncio.Event()

    def add_user(self, user_id: str, email: str, name: str, tz: str = "Europe/Lisbon") -> None:
        self.users[user_id] = {"email": email, "name": name, "tz": tz}

    def add_channel(self, channel_id: str, name: str, *, member: bool = False, private: bool = False) -> None:
        self.channels[channel_id] = {"name": name, "member": member, "private": private}

    @property
    def url(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("")).rstrip("/")

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.url}/response/{name}"

    async def start(self, port: int | None = None) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{name}", self._response)
        app.router.add_get("/socket", self._socket)
        app.router.add_get("/stats", self._stats)
        app.router.add_get("/answered", self._answered)
        self._server = TestServer(app, host="127.0.0.1", port=port)
        await self._server.start_server()

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()
        if self._server is not None:
            await self._server.close()

    # What the bot did -------------------------------------------------------------

    def called(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    async def wait_for(self, predicate, timeout: float = 8.0, what: str = "Slack calls"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            await asyncio.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}; calls so far: {[c.method for c in self.calls]}, "
                             f"responses: {len(self.responses)}")

    async def wait_calls(self, method: str, count: int = 1, timeout: float = 8.0) -> list[Call]:
        return await self.wait_for(lambda: len(self.called(method)) >= count and self.called(method), timeout, method)

    async def wait_responses(self, count: int = 1, timeout: float = 8.0) -> list[tuple[str, dict]]:
        return await self.wait_for(lambda: len(self.responses) >= count and self.responses, timeout, "response_url posts")

    # The Web API ------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict = dict(request.query)
        raw = await request.read()
        if raw:
            if request.content_type == "application/json":
                args.update(json.loads(raw))
            else:
                args.update(dict(parse_qsl(raw.decode())))
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") or args.get("token")
        if self.rate_limited > 0:
            self.rate_limited -= 1
            return self._too_many(method, args, token, self.retry_after)
        if method == "chat.postMessage" and self.cap_per_minute is not None:
            now = time.monotonic()
            while self._posted_at and self._posted_at[0] <= now - 60:
                self._posted_at.popleft()
            if len(self._posted_at) >= self.cap_per_minute:
                return self._too_many(method, args, token, max(1, math.ceil(self._posted_at[0] + 60 - now)))
            self._posted_at.append(now)
        self.calls.append(Call(method, args, token))
        if method in self.drop:
            self.drop.remove(method)
            request.transport.close()  # the call arrived; its answer never leaves
            raise ConnectionResetError("dropped")
        handler = getattr(self, "m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        answer = handler(args)
        if method in self.drop_after:
            self.drop_after.remove(method)
            request.transport.close()  # done, and the answer is lost on the way back
            raise ConnectionResetError("dropped after")
        return web.json_response(answer)

    def _too_many(self, method: str, args: dict, token: str | None, retry_after: int) -> web.Response:
        self.calls.append(Call(method + ":429", args, token))
        return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                 headers={"Retry-After": str(retry_after)})

    def reset_cap(self) -> None:
        """Forget the messages counted against the cap so far (a new measurement starts)."""
        self._posted_at.clear()

    @property
    def too_many(self) -> int:
        """How many calls were answered 429."""
        return sum(1 for call in self.calls if call.method.endswith(":429"))

    def m_auth_test(self, args):
        return {"ok": True, "url": "https://goals.slack.com/", "team": "Goals Inc", "user": "goalbot",
                "team_id": TEAM, "user_id": "UBOT", "bot_id": "BBOT"}

    def _user(self, user_id: str) -> dict:
        info = self.users[user_id]
        return {"id": user_id, "team_id": TEAM, "name": info["email"].split("@")[0], "real_name": info["name"],
                "tz": info["tz"], "profile": {"email": info["email"], "real_name": info["name"]}}

    def m_users_info(self, args):
        if args.get("user") not in self.users:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": self._user(args["user"])}

    def m_users_lookupByEmail(self, args):
        for user_id, info in self.users.items():
            if info["email"] == args.get("email"):
                return {"ok": True, "user": self._user(user_id)}
        return {"ok": False, "error": "users_not_found"}

    def m_conversations_info(self, args):
        found = self.channels.get(args.get("channel", ""))
        if found is None or (found["private"] and not found["member"]):
            return {"ok": False, "error": "channel_not_found"}  # Slack hides private channels goalbot is not in
        return {"ok": True, "channel": {"id": args["channel"], "name": found["name"], "is_channel": True,
                                        "is_private": found["private"], "is_member": found["member"]}}

    def m_chat_postMessage(self, args):
        channel = args.get("channel", "")
        known = self.channels.get(channel)
        if known is not None and not known["member"]:
            return {"ok": False, "error": "not_in_channel" if not known["private"] else "channel_not_found"}
        if channel.startswith("U"):
            channel = "D" + channel[1:]  # a DM with the user
        metadata = args.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        message = {"type": "message", "ts": f"1700000000.{next(self._ts):06d}", "text": args.get("text"),
                   "bot_id": "BBOT", "received": time.monotonic()}
        if metadata:
            message["metadata"] = metadata
        self.history.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": {"text": args.get("text")}}

    def posted(self, channel: str) -> list[dict]:
        """The messages in a conversation (a user id names their DM)."""
        return self.history.get("D" + channel[1:] if channel.startswith("U") else channel, [])

    def m_conversations_open(self, args):
        users = args.get("users", "")
        if not users.startswith("U"):
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "channel": {"id": "D" + users[1:]}}

    def m_conversations_history(self, args):
        messages = list(reversed(self.history.get(args.get("channel", ""), [])))
        limit = int(args.get("limit") or 100)
        include = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        shown = [m if include else {k: v for k, v in m.items() if k != "metadata"} for m in messages[:limit]]
        return {"ok": True, "messages": shown, "has_more": len(messages) > limit}

    def m_chat_update(self, args):
        return {"ok": True, "channel": args.get("channel"), "ts": args.get("ts")}

    def m_views_open(self, args):
        return {"ok": True, "view": {"id": "V1", **(args.get("view") if isinstance(args.get("view"), dict) else {})}}

    def m_views_publish(self, args):
        return {"ok": True, "view": {"id": "VHOME"}}

    def m_oauth_v2_access(self, args):
        if args.get("code") != "good-code":
            return {"ok": False, "error": "invalid_code"}
        return {"ok": True, "app_id": "A0GOALS", "authed_user": {"id": "UANA"}, "scope": "chat:write,commands",
                "token_type": "bot", "access_token": "xoxb-installed", "bot_user_id": "UBOT",
                "team": {"id": TEAM, "name": "Goals Inc"}, "enterprise": None, "is_enterprise_install": False}

    def m_apps_connections_open(self, args):
        return {"ok": True, "url": self.url.replace("http://", "ws://") + "/socket"}

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response({"responses": self.response_count})

    async def _response(self, request: web.Request) -> web.Response:
        self.responses.append((request.match_info["name"], await request.json()))
        self.answered_at[request.match_info["name"]] = time.monotonic()
        self.response_count += 1
        return web.Response(text="ok")

    async def _answered(self, request: web.Request) -> web.Response:
        """When each response URL was posted to (system-wide monotonic clock), handed over once."""
        answered, self.answered_at = self.answered_at, {}
        return web.json_response(answered)

    # Socket Mode ------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.socket = ws
        await ws.send_json({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"}})
        self.socket_ready.set()
        async for message in ws:
            data = json.loads(message.data)
            if "envelope_id" in data:
                self.envelopes_acked.append(data)
        return ws

    async def send_envelope(self, kind: str, payload: dict, envelope_id: str) -> None:
        assert self.socket is not None
        await self.socket.send_json({"envelope_id": envelope_id, "type": kind, "payload": payload,
                                     "accepts_response_payload": kind != "events_api", "retry_attempt": 0,
                                     "retry_reason": ""})


def command_body(command: str, text: str, user_id: str, response_url: str, trigger: str = "13345224609.738474920.8088930838d88f008e0") -> bytes:
    return urlencode({
        "token": "legacy", "team_id": TEAM, "team_domain": "goals", "channel_id": "C0GENERAL",
        "channel_name": "general", "user_id": user_id, "user_name": "someone", "command": command, "text": text,
        "api_app_id": "A0GOALS", "is_enterprise_install": "false", "response_url": response_url, "trigger_id": trigger,
    }).encode()


def interaction_body(payload: dict) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def event_body(event: dict, event_id: str) -> bytes:
    return json.dumps({
        "token": "legacy", "team_id": TEAM, "api_app_id": "A0GOALS", "event": event, "type": "event_callback",
        "event_id": event_id, "event_time": int(time.time()), "authorizations": [
            {"enterprise_id": None, "team_id": TEAM, "user_id": "UBOT", "is_bot": True, "is_enterprise_install": False}
        ],
    }).encode()
