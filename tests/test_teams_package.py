"""`goalbot teams package`: a Teams app package that Teams' manifest schema accepts, built and taken apart."""

from __future__ import annotations

import json
import re
import struct
import zipfile
import zlib

from click.testing import CliRunner

from adapters.cli import main
from bot import commands
from bot.errors import UserError

APP_ID = "6a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
# The top-level properties the app manifest schema requires, and the constraints it sets on what we fill in.
REQUIRED = ("manifestVersion", "version", "id", "developer", "name", "description", "icons", "accentColor")
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
HTTPS = re.compile(r"^[Hh][Tt][Tt][Pp][Ss]?://")
SEMVER = re.compile(r"^([0-9]|[1-9]+[0-9]*)\.([0-9]|[1-9]+[0-9]*)\.([0-9]|[1-9]+[0-9]*)$")


def read_png(data: bytes) -> tuple[int, int, list[list[tuple[int, ...]]]]:
    """Width, height and RGBA rows of a non-interlaced 8-bit RGBA PNG (the filters PNG defines)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat, header = 8, b"", None
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    width, height, depth, color_type, _, _, interlace = header
    assert (depth, color_type, interlace) == (8, 6, 0)
    raw, stride, rows, previous = zlib.decompress(idat), width * 4, [], bytes(width * 4)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - 4] if i >= 4 else 0
            up, corner = previous[i], previous[i - 4] if i >= 4 else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        rows.append([tuple(line[i : i + 4]) for i in range(0, stride, 4)])
        previous = bytes(line)
    return width, height, rows


def build(tmp_path, *extra: str):
    out = tmp_path / "goalbot-teams.zip"
    result = CliRunner().invoke(main, ["teams", "package", "--app-id", APP_ID, "--host", "https://bot.example.com",
                                       "--out", str(out), *extra])
    return result, out


def test_the_package_holds_a_manifest_teams_accepts_and_two_icons(tmp_path):
    result, out = build(tmp_path)
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(archive.read("manifest.json"))
        color, outline = archive.read("color.png"), archive.read("outline.png")

    for key in REQUIRED:
        assert key in manifest, key
    assert manifest["$schema"].endswith(f"/v{manifest['manifestVersion']}/MicrosoftTeams.schema.json")
    assert float(manifest["manifestVersion"]) >= 1.22
    assert SEMVER.match(manifest["version"])
    assert GUID.match(manifest["id"]) and manifest["id"] == APP_ID
    developer = manifest["developer"]
    assert developer["name"] and len(developer["name"]) <= 32
    for url in ("websiteUrl", "privacyUrl", "termsOfUseUrl"):
        assert HTTPS.match(developer[url]) and developer[url].startswith("https://bot.example.com/")
    assert 0 < len(manifest["name"]["short"]) <= 30 and len(manifest["name"]["full"]) <= 100
    assert 0 < len(manifest["description"]["short"]) <= 80 and 0 < len(manifest["description"]["full"]) <= 4000
    assert re.match(r"^#[0-9a-fA-F]{6}$", manifest["accentColor"])
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert manifest["validDomains"] == ["bot.example.com"]

    [bot] = manifest["bots"]
    assert bot["botId"] == APP_ID and bot["scopes"] == ["personal", "team"]
    [command_list] = bot["commandLists"]
    assert command_list["scopes"] == ["personal"]
    suggested = command_list["commands"]
    assert 0 < len(suggested) <= 10
    for command in suggested:
        assert 0 < len(command["title"]) <= 32 and 0 < len(command["description"]) <= 128
        # Every suggested command is one the parser knows (a usage error is fine, an unknown verb is not).
        try:
            commands.parse(command["title"])
        except UserError as error:
            assert "I don't know the command" not in error.message, command["title"]
        assert command["description"] == commands.SUMMARY[command["title"]][:128]

    width, height, _ = read_png(color)
    assert (width, height) == (192, 192)
    width, height, rows = read_png(outline)
    assert (width, height) == (32, 32)
    pixels = [pixel for row in rows for pixel in row]
    assert all(a == 0 or (r, g, b) == (255, 255, 255) for r, g, b, a in pixels)  # white on transparency
    assert any(a == 0 for *_, a in pixels) and any(a == 255 for *_, a in pixels)


def test_the_package_refuses_what_teams_would_refuse(tmp_path):
    out = tmp_path / "x.zip"
    for app_id, host, problem in (
        ("not-a-guid", "https://bot.example.com", "--app-id"),
        (APP_ID, "http://bot.example.com", "--host"),
        (APP_ID, "bot.example.com", "--host"),
    ):
        result = CliRunner().invoke(main, ["teams", "package", "--app-id", app_id, "--host", host, "--out", str(out)])
        assert result.exit_code != 0 and problem in result.output
        assert not out.exists()
    # A name longer than Teams shows is refused, never cut.
    result, out = build(tmp_path, "--name", "Goals and check-ins for everyone at Acme")
    assert result.exit_code != 0 and "--name is 40 characters; Teams shows at most 30" in result.output
    assert not out.exists()


def test_goalbot_served_under_a_path_keeps_it_in_the_package(tmp_path):
    out = tmp_path / "goalbot-teams.zip"
    result = CliRunner().invoke(main, ["teams", "package", "--app-id", APP_ID, "--host", "https://example.com/goalbot/",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["developer"]["privacyUrl"] == "https://example.com/goalbot/privacy"
    assert manifest["validDomains"] == ["example.com"]


async def test_the_privacy_and_terms_pages_the_manifest_names_are_served(db, tmp_path):
    import aiohttp
    from aiohttp.test_utils import TestServer

    from adapters.server import build as build_app
    from adapters.settings import Settings

    app, _ = await build_app(Settings(GOALBOT_DATABASE_URL="sqlite+aiosqlite:///unused.db"), db=db)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            for path in ("/privacy", "/terms"):
                async with http.get(str(server.make_url(path))) as response:
                    assert response.status == 200 and "goalbot" in await response.text()
    finally:
        await server.close()
