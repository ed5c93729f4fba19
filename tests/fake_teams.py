"""A local Bot Connector service, and the Teams activities a real client would cause.

The connector answers what botbuilder calls under `/v3/conversations/...`: send
and reply (POST .../activities[/{id}]), update (PUT .../activities/{id}) and
member lookup (GET .../members[/{id}]). It records every call, can answer a
number of the next sends with 429 (and Retry-After) or another status, and it
also publishes OpenID metadata and signing keys, so tests can sign real Bot
Framework tokens for goalbot to verify.

It runs on its own thread and event loop: botbuilder fetches signing keys with
a blocking HTTP client, which would otherwise wait on the loop it blocks.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass, field

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

APP_ID = "00000000-0000-4000-8000-00000000b07a"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ISSUER = "https://api.botframework.com"
KEY_ID = "goalbot-test-key"


@dataclass
class Member:
    id: str  # the Teams chat id, 29:…
    aad: str  # the Entra object id
    name: str
    email: str
    upn: str = ""


@dataclass
class Call:
    method: str
    path: str
    conversation: str
    activity_id: str | None
    body: dict | None
    authorization: str | None
    result_id: str | None = None  # the id the connector gave a posted message


@dataclass
class FakeConnector:
    members: dict[str, Member] = field(default_factory=dict)  # by chat id
    calls: list[Call] = field(default_factory=list)
    fail_next: list[tuple[int, float | None]] = field(default_factory=list)  # (status, Retry-After) per next send
    lookup_delay: float = 0.0  # seconds each member lookup takes
    per_tenant_per_second: int | None = None  # sends accepted per second per tenant; beyond it, 429
    teams: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)  # team id -> its channels (id, name)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.changed = threading.Condition(self._lock)
        self.answered_at: dict[str, float] = {}  # activity id -> when the bot's reply to it arrived (perf_counter)
        self._recent: dict[str, collections.deque] = {}  # tenant -> times of its latest sends
        self.throttled = 0  # sends answered 429 by the per-tenant cap

    # Serving -------------------------------------------------------------------------------

    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._serve())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="fake-bot-connector", daemon=True)
        self._thread.start()
        ready.wait(10)

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_post("/v3/conversations/{conversation}/activities", self._send)
        app.router.add_post("/v3/conversations/{conversation}/activities/{activity}", self._send)
        app.router.add_put("/v3/conversations/{conversation}/activities/{activity}", self._update)
        app.router.add_get("/v3/conversations/{conversation}/members", self._members)
        app.router.add_get("/v3/conversations/{conversation}/members/{member}", self._member)
        app.router.add_get("/v3/teams/{team}/conversations", self._channels)
        app.router.add_get("/openid", self._openid)
        app.router.add_get("/_fake/tally", self._tally)
        app.router.add_get("/keys", self._keys)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def metadata_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/openid"

    # The connector -------------------------------------------------------------------------

    def _record(self, request: web.Request, body: dict | None, result_id: str | None = None) -> None:
        with self.changed:
            self.calls.append(Call(
                request.method, request.path, request.match_info["conversation"], request.match_info.get("activity"),
                body, request.headers.get("Authorization"), result_id,
            ))
            self.changed.notify_all()

    def _failure(self) -> web.Response | None:
        with self._lock:
            if not self.fail_next:
                return None
            status, retry_after = self.fail_next.pop(0)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return web.json_response({"error": {"code": "Throttled" if status == 429 else "ServiceError",
                                            "message": f"fake {status}"}}, status=status, headers=headers)

    def _over_cap(self, body: dict) -> bool:
        if self.per_tenant_per_second is None:
            return False
        conversation = body.get("conversation") or {}
        tenant = (conversation.get("tenantId") or conversation.get("tenantID")  # botbuilder writes tenantID
                  or ((body.get("channelData") or {}).get("tenant") or {}).get("id") or "")
        now = time.monotonic()
        with self._lock:
            recent = self._recent.setdefault(tenant, collections.deque())
            while recent and recent[0] <= now - 1.0:
                recent.popleft()
            if len(recent) >= self.per_tenant_per_second:
                self.throttled += 1
                return True
            recent.append(now)
        return False

    async def _send(self, request: web.Request) -> web.Response:
        failure = self._failure()
        body = await request.json()
        if failure is None and self._over_cap(body):
            return web.json_response({"error": {"code": "Throttled", "message": "fake tenant cap"}}, status=429,
                                     headers={"Retry-After": "1"})
        if failure:
            self._record(request, {**body, "_failed": True})
            return failure
        message_id = f"1:{next(self._ids)}"
        if body.get("replyToId"):
            self.answered_at.setdefault(body["replyToId"], time.perf_counter())
        self._record(request, body, message_id)
        return web.json_response({"id": message_id}, status=201)

    async def _update(self, request: web.Request) -> web.Response:
        failure = self._failure()
        body = await request.json()
        self._record(request, {**body, "_failed": failure is not None} if failure else body)
        if failure:
            return failure
        return web.json_response({"id": request.match_info["activity"]})

    def _member_json(self, member: Member) -> dict:
        return {"id": member.id, "name": member.name, "aadObjectId": member.aad, "email": member.email,
                "userPrincipalName": member.upn or member.email, "givenName": member.name.split()[0],
                "tenantId": TENANT, "userRole": "user"}

    async def _member(self, request: web.Request) -> web.Response:
        self._record(request, None)
        await asyncio.sleep(self.lookup_delay)
        member = self.members.get(request.match_info["member"])
        if member is None:
            return web.json_response({"error": {"code": "MemberNotFoundInConversation", "message": "no such member"}},
                                     status=404)
        return web.json_response(self._member_json(member))

    async def _members(self, request: web.Request) -> web.Response:
        self._record(request, None)
        return web.json_response([self._member_json(m) for m in self.members.values()])

    async def _channels(self, request: web.Request) -> web.Response:
        """A team's channels, as Teams lists them (the General channel has no name)."""
        team = request.match_info["team"]
        if team not in self.teams:
            return web.json_response({"error": {"code": "NotFound", "message": "team not found"}}, status=404)
        return web.json_response({"conversations": [{"id": cid, "name": name} for cid, name in self.teams[team]]})

    async def _tally(self, request: web.Request) -> web.Response:
        """For a connector in another process: the messages posted, the conversations they went to, how many
        went to a conversation that had one already, and the 429s for the cap."""
        per_conversation = collections.Counter(call.conversation for call in self.sent())
        return web.json_response({"sent": sum(per_conversation.values()), "conversations": len(per_conversation),
                                  "doubled": sum(n - 1 for n in per_conversation.values()),
                                  "throttled": self.throttled})

    # Tokens ------------------------------------------------------------------------------

    async def _openid(self, request: web.Request) -> web.Response:
        return web.json_response({
            "issuer": ISSUER, "jwks_uri": f"http://127.0.0.1:{self.port}/keys",
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        })

    async def _keys(self, request: web.Request) -> web.Response:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": KEY_ID, "use": "sig", "endorsements": ["msteams"]})
        return web.json_response({"keys": [jwk]})

    def token(self, service_url: str, *, audience: str = APP_ID, key=None, issuer: str = ISSUER,
              expires_in: int = 3600, kid: str = KEY_ID) -> str:
        now = int(time.time())
        claims = {"iss": issuer, "aud": audience, "serviceurl": service_url, "nbf": now - 10, "iat": now - 10,
                  "exp": now + expires_in}
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid})

    # What tests read -----------------------------------------------------------------------

    def add_member(self, member: Member) -> None:
        self.members[member.id] = member

    def sent(self, conversation: str | None = None) -> list[Call]:
        """Messages posted (not updates, lookups or failed attempts), in order."""
        with self._lock:
            return [c for c in self.calls if c.method == "POST" and c.body is not None and not c.body.get("_failed")
                    and (conversation is None or c.conversation == conversation)]

    def updates(self, conversation: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == "PUT" and not (c.body or {}).get("_failed")
                    and (conversation is None or c.conversation == conversation)]

    def wait_for(self, predicate, timeout: float = 10.0) -> bool:
        """Block until predicate(self) holds (call from a thread, or via asyncio.to_thread)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(left)
        return True


def card_of(call: Call) -> dict:
    """The Adaptive Card a call carried."""
    attachments = (call.body or {}).get("attachments") or []
    assert attachments, f"no card in {call.body}"
    assert attachments[0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    return attachments[0]["content"]


def card_text(content: dict) -> str:
    """Every text a card shows, in order, one per line (TextBlocks, facts, input labels, action titles)."""
    out: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            kind = node.get("type")
            if kind == "TextBlock":
                out.append(node.get("text", ""))
            elif kind == "FactSet":
                out.extend(f"{f['title']}: {f['value']}" for f in node.get("facts", []))
            elif kind and kind.startswith("Action."):
                out.append(f"[{node.get('title', '')}]")
            elif kind and kind.startswith("Input.") and node.get("label"):
                out.append(f"<{node['label']}>")
            for key, value in node.items():
                if key not in ("facts",):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(content)
    return "\n".join(out)


def submit_data(content: dict, title: str) -> dict:
    """The data of the card's Action.Submit with this title (searching shown cards too)."""
    found: list[dict] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Action.Submit" and node.get("title") == title:
                found.append(node.get("data") or {})
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(content)
    assert found, f"no button {title!r} in the card"
    return found[0]


class Client:
    """One person's Teams client: the activities it causes, addressed to the bot."""

    def __init__(self, member: Member, service_url: str, *, tenant: str = TENANT, timezone: str = "Europe/Lisbon") -> None:
        self.member = member
        self.service_url = service_url
        self.tenant = tenant
        self.timezone = timezone
        self.conversation = f"a:1{member.aad.replace('-', '')}"

    def _base(self, kind: str, **extra) -> dict:
        return {
            "type": kind,
            "id": f"1{uuid.uuid4().int % 10**15:015d}",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "serviceUrl": self.service_url,
            "channelId": "msteams",
            "from": {"id": self.member.id, "name": self.member.name, "aadObjectId": self.member.aad},
            "conversation": {"conversationType": "personal", "tenantId": self.tenant, "id": self.conversation},
            "recipient": {"id": f"28:{APP_ID}", "name": "goalbot"},
            "channelData": {"tenant": {"id": self.tenant}},
            "locale": "en-US",
            **extra,
        }

    def message(self, text: str) -> dict:
        return self._base(
            "message", text=text, textFormat="plain", localTimezone=self.timezone,
            entities=[{"type": "clientInfo", "locale": "en-US", "country": "US", "platform": "Web",
                       "timezone": self.timezone}],
        )

    def mentioning(self, text: str, *people: Member) -> dict:
        """A message that @mentions people: Teams puts `<at>Name</at>` in the text and a mention entity beside it."""
        activity = self.message(text)
        for person in people:
            activity["entities"].append({"type": "mention", "text": f"<at>{person.name}</at>",
                                         "mentioned": {"id": person.id, "name": person.name}})
        return activity

    def submit(self, data: dict, inputs: dict | None = None, reply_to: str | None = None) -> dict:
        """What Teams sends when an Action.Submit is pressed: a message whose value is the data and the inputs."""
        activity = self._base("message", value={**(inputs or {}), **data}, localTimezone=self.timezone,
                              entities=[{"type": "clientInfo", "timezone": self.timezone}])
        if reply_to:
            activity["replyToId"] = reply_to
        return activity

    def install(self) -> dict:
        return self._base("installationUpdate", action="add")

    def uninstall(self) -> dict:
        return self._base("installationUpdate", action="remove")

    def members_added(self) -> dict:
        activity = self._base("conversationUpdate", membersAdded=[{"id": f"28:{APP_ID}"}])
        activity["channelData"] = {"tenant": {"id": self.tenant}, "eventType": "teamMemberAdded"}
        return activity

    def added_to_team(self, team_id: str, team_name: str) -> dict:
        """Teams' conversationUpdate when someone adds goalbot to a team: in the team's General channel."""
        activity = self._base("conversationUpdate", membersAdded=[{"id": f"28:{APP_ID}"}])
        activity["conversation"] = {"conversationType": "channel", "tenantId": self.tenant, "id": team_id,
                                    "isGroup": True}
        activity["channelData"] = {"tenant": {"id": self.tenant}, "eventType": "teamMemberAdded",
                                   "team": {"id": team_id, "name": team_name}}
        return activity

    def search(self, query: str, dataset: str = "goals") -> dict:
        return self._base("invoke", name="application/search",
                          value={"queryText": query, "queryOptions": {"skip": 0, "top": 15}, "dataset": dataset})


def serve_alone(per_tenant_per_second: int | None) -> None:
    """Run a connector in this process until it is stopped, printing its port first (for benchmarks, so the
    connector's work is not done by the process being measured)."""
    connector = FakeConnector(per_tenant_per_second=per_tenant_per_second)
    connector.start()
    print(connector.port, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    import sys

    serve_alone(int(sys.argv[1]) if len(sys.argv) > 1 else None)
