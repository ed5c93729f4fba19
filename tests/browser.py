"""Headless Chromium from the system's packages (Debian's chromium and chromium-driver), driven by Selenium
against a real `goalbot serve`. Nothing is downloaded: the browser and its driver are the ones installed.

Where they are not installed the browser tests skip, saying so; with GOALBOT_REQUIRE_BROWSER=1 (CI) they fail.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("GOALBOT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = os.environ.get("GOALBOT_CHROMEDRIVER") or shutil.which("chromedriver")
REQUIRE = os.environ.get("GOALBOT_REQUIRE_BROWSER") == "1"
ARTIFACTS = Path(os.environ.get("GOALBOT_TEST_ARTIFACTS") or ROOT / "test-artifacts")
# Chromium's own background traffic (updates, sync, metrics) is switched off: the machine may have no network.
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--metrics-recording-only", "--mute-audio")


def missing() -> str | None:
    if not CHROMIUM:
        return "Chromium is not installed (Debian: apt-get install chromium chromium-driver)"
    if not CHROMEDRIVER:
        return "ChromeDriver is not installed (Debian: apt-get install chromium-driver)"
    return None


def require_browser() -> None:
    """Skip (or, in CI, fail) the calling test when there is no browser to run it in."""
    problem = missing()
    if problem:
        if REQUIRE:
            pytest.fail(problem + " (GOALBOT_REQUIRE_BROWSER=1)")
        pytest.skip(problem + "; the goal map's browser tests need it")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(database_url: str, port: int):
    """`goalbot serve` on the port, as an operator runs it (no platform credentials: the map and /healthz)."""
    env = {**os.environ, "GOALBOT_PUBLIC_URL": f"http://127.0.0.1:{port}", "GOALBOT_DATABASE_URL": database_url}
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_CLIENT_ID", "MICROSOFT_APP_ID",
                 "GOALBOT_TEAMS_INSECURE_LOCAL"):
        env.pop(name, None)
    log = tempfile.TemporaryFile()
    server = subprocess.Popen([sys.executable, "-m", "adapters.cli", "serve", "--port", str(port), "--no-scheduler"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError("goalbot serve did not start:\n" + log.read().decode(errors="replace"))
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def chromium(width: int = 1280, height: int = 900):
    """A headless Chromium of the system's, `width` × `height`, its console log kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='goalbot-chromium-')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The driver is named, so Selenium looks nothing up and downloads nothing.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    # A window is at least 500 pixels wide: a phone's screen is emulated instead, as its browser shows pages.
    driver.metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}
    if width < 600:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", driver.metrics)
    return driver


def screenshot(driver, name: str) -> Path:
    """A PNG of the whole page, kept in the artifacts folder."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    width = driver.execute_script("return document.documentElement.scrollWidth")
    height = driver.execute_script("return Math.min(document.documentElement.scrollHeight, 4000)")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**driver.metrics, "width": width, "height": height})
    try:
        driver.save_screenshot(str(path))
    finally:
        if driver.metrics["mobile"]:
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", driver.metrics)
        else:
            driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return path


def run(coroutine):
    """Run set-up work of the core from a plain (not asyncio) test."""
    return asyncio.run(coroutine)
