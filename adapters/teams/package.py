"""The Teams app package: manifest.json and two icons in a zip, ready to upload to Teams.

The icons are drawn here (a target: rings around a centre), so the package
needs no image files: a 192×192 full-colour icon and a 32×32 white outline on
transparency, as Teams asks.
"""

from __future__ import annotations

import io
import json
import re
import struct
import zipfile
import zlib
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urlsplit

from adapters.teams.cards import MAP_TAB
from bot.commands import SUMMARY

MANIFEST_VERSION = "1.22"
SCHEMA = f"https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
ACCENT = "#3F51B5"
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
# The commands Teams suggests as someone types (at most ten, titles of at most 32 characters).
SUGGESTED = ("help", "add", "list", "checkin", "progress", "show", "map", "approve", "kudos", "settings")


class PackageError(ValueError):
    """A setting the package cannot be built with; the message says which and why."""


def app_version() -> str:
    try:
        found = version("goalbot")
    except PackageNotFoundError:
        return "1.0.0"
    match = re.match(r"^(\d+)\.(\d+)\.(\d+)", found)
    return ".".join(match.groups()) if match else "1.0.0"


def bot_commands() -> list[dict]:
    return [{"title": name, "description": SUMMARY[name][:128]} for name in SUGGESTED]


NAME_LIMIT = 30  # the manifest's name.short
DEVELOPER_LIMIT = 32  # developer.name


def manifest(app_id: str, host: str, *, name: str = "goalbot", developer: str = "goalbot") -> dict:
    if not GUID.match(app_id or ""):
        raise PackageError(f"--app-id must be the bot's Microsoft App ID, a GUID like 00000000-0000-0000-0000-000000000000, "
                           f"not `{app_id}`.")
    parts = urlsplit(host)
    if parts.scheme != "https" or not parts.hostname:
        raise PackageError(f"--host must be the https address goalbot serves, like https://bot.example.com, not `{host}`.")
    if len(name) > NAME_LIMIT:
        raise PackageError(f"--name is {len(name)} characters; Teams shows at most {NAME_LIMIT}: say it shorter.")
    if len(developer) > DEVELOPER_LIMIT:
        raise PackageError(f"--developer is {len(developer)} characters; Teams allows at most {DEVELOPER_LIMIT}.")
    base = f"https://{parts.netloc}{parts.path.rstrip('/')}"  # goalbot may be served under a path
    return {
        "$schema": SCHEMA,
        "manifestVersion": MANIFEST_VERSION,
        "version": app_version(),
        "id": app_id.lower(),
        "developer": {
            "name": developer,
            "websiteUrl": base + "/",
            "privacyUrl": base + "/privacy",
            "termsOfUseUrl": base + "/terms",
        },
        "name": {"short": name, "full": f"{name}: goals and check-ins"},
        "description": {
            "short": "Goals aligned from the company down to you, kept alive with check-ins."[:80],
            "full": (
                "goalbot keeps your goals lined up with your team's and the company's. Propose a goal in plain words "
                "and link it to the goal it supports; your manager approves it in one click. Answer a short weekly "
                "check-in in one message (G-12 60% at risk waiting on legal). Say help for every command."
            ),
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": ACCENT,
        "bots": [{
            "botId": app_id.lower(),
            # Personal chats for people; teams so channel summaries can be posted to a team's channels.
            "scopes": ["personal", "team"],
            "supportsFiles": False,
            "isNotificationOnly": False,
            "commandLists": [{"scopes": ["personal"], "commands": bot_commands()}],
        }],
        # The goal map as the app's own tab. The bot's map links open it (a deep link whose context carries the
        # link's token, which Teams puts in the content URL: {page.subPageId}, {subEntityId} in older clients),
        # so the tab needs no sign-in of its own; opened from the app bar it says how to get a link.
        "staticTabs": [{
            "entityId": MAP_TAB,
            "name": "My goals",
            "contentUrl": base + "/map/tab?t={page.subPageId}&t1={subEntityId}",
            "websiteUrl": base + "/map",
            "scopes": ["personal"],
        }],
        "validDomains": [parts.hostname],
    }


# Icons ------------------------------------------------------------------------------------


def png(width: int, height: int, pixel) -> bytes:
    """An RGBA PNG whose pixel at (x, y) is pixel(x, y) -> (r, g, b, a)."""
    rows = b"".join(b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def _on_target(x: float, y: float, size: int) -> bool:
    """Rings and a bullseye, in a square of `size`."""
    centre = (size - 1) / 2
    r = ((x - centre) ** 2 + (y - centre) ** 2) ** 0.5 / (size / 2)
    return r < 0.18 or 0.36 < r < 0.52 or 0.70 < r < 0.86


def color_icon() -> bytes:
    accent = tuple(int(ACCENT[i : i + 2], 16) for i in (1, 3, 5))
    return png(192, 192, lambda x, y: (255, 255, 255, 255) if _on_target(x, y, 192) else (*accent, 255))


def outline_icon() -> bytes:
    return png(32, 32, lambda x, y: (255, 255, 255, 255) if _on_target(x, y, 32) else (0, 0, 0, 0))


def build(app_id: str, host: str, **options) -> bytes:
    """The zip Teams takes: manifest.json, color.png and outline.png at its root."""
    content = manifest(app_id, host, **options)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(content, indent=2) + "\n")
        archive.writestr("color.png", color_icon())
        archive.writestr("outline.png", outline_icon())
    return buffer.getvalue()
