"""The README's tour runs as written: every line of it, in a fresh demo, as the person it says, and none
answers with a refusal."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def tour_lines() -> list[str]:
    """The tour's lines as a person pastes them into the console, comments and all (the console reads two
    spaces and a # as the start of a comment); the replies shown under them are left out."""
    text = README.read_text()
    section = text[text.index("## A short tour"):]
    block = section[section.index("```\n") + 4:]
    block = block[:block.index("```")]
    return [line for line in block.splitlines() if line and not line.startswith(" ")]


def test_the_tour_has_the_lines_it_is_about():
    lines = tour_lines()
    assert lines[0].startswith("goals add ") and any(line.startswith(":as bo@example.com") for line in lines)
    assert len(lines) > 15
    assert all(not line.endswith(" ") for line in lines) and any("  # " in line for line in lines)


def test_every_line_of_the_tour_works_in_a_fresh_demo(tmp_path):
    env = {**os.environ, "GOALBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'goalbot.db'}"}
    done = subprocess.run([sys.executable, "-m", "adapters.cli", "console", "--demo"],
                          input="\n".join(tour_lines()) + "\n", capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=180, check=False)
    # A refused or failed line makes a script's exit status 1 and is counted on standard error.
    assert done.returncode == 0, done.stderr + done.stdout
    shown_first = README.read_text().split("## A short tour", 1)[1].split("```\n", 1)[1].splitlines()[1:4]
    for line in shown_first:  # what the tour shows under its first line is what goalbot answers
        assert line.strip() in done.stdout, line


def test_goalbot_help_lists_the_test_command_the_readme_gives():
    from click.testing import CliRunner

    from adapters.cli import main

    shown = CliRunner().invoke(main, ["--help"]).output
    assert re.search(r"^\s+test\s+Run the test suite", shown, re.MULTILINE), shown
    assert "./goalbot test" in README.read_text()


async def test_the_documented_health_answer_is_what_healthz_says(db):
    import json

    import aiohttp
    from aiohttp.test_utils import TestServer

    from adapters.server import build
    from adapters.settings import Settings

    documented = re.search(r"`/healthz`\s+answers `(\{.*?\})`", README.read_text(), re.DOTALL)
    assert documented is not None
    settings = Settings(GOALBOT_DATABASE_URL="sqlite+aiosqlite:///unused.db", SLACK_BOT_TOKEN="xoxb-1",
                        SLACK_SIGNING_SECRET="s" * 32)
    app, _ = await build(settings, db=db)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http, http.get(str(server.make_url("/healthz"))) as response:
            assert await response.json() == json.loads(" ".join(documented.group(1).split()))
    finally:
        await server.close()


def test_the_goal_map_section_works_as_written(tmp_path):
    """`goals map` in the console gives a link; `./goalbot serve`, run beside it, opens it."""
    import urllib.request

    from browser import free_port, serving

    section = README.read_text().split("## The goal map", 1)[1].split("\n## ", 1)[0]
    assert "./goalbot serve" in section and "goals map" in section
    port = free_port()
    url = f"sqlite:///{tmp_path / 'goalbot.db'}"
    # The port is the test's own (the README's is 3000); the links point where serve listens either way.
    env = {**os.environ, "GOALBOT_DATABASE_URL": url, "GOALBOT_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    done = subprocess.run([sys.executable, "-m", "adapters.cli", "console", "--demo"], input="goals map\n",
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    link = re.search(r"Open the goal map: (http://\S+)", done.stdout).group(1)
    with serving(url, port) as base:
        assert link.startswith(base + "/map?t=")
        with urllib.request.urlopen(link, timeout=10) as page:
            html = page.read().decode()
    assert "Shown to Ana Silva" in html and "Grow ARR to $12M" in html
