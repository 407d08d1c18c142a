"""A real server process and a real browser (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import httpx
import pytest
from playwright.async_api import async_playwright

from tests.fake_stripe import FakeStripe

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def stripe_for_browser():
    """The fake Stripe the live server pays through; its events reach the server's webhook."""
    with FakeStripe() as fake:
        yield fake


@pytest.fixture(scope="session")
def live_server(database, stripe_for_browser):
    """`kippu serve` on a free loopback port, on the same database as the tests, with card
    payments through the fake Stripe."""
    port = _free_port()
    env = {
        **os.environ, "RUN_SCHEDULER": "false", "BASE_URL": f"http://127.0.0.1:{port}",
        "STRIPE_SECRET_KEY": stripe_for_browser.api_key, "STRIPE_WEBHOOK_SECRET": stripe_for_browser.webhook_secret,
        "STRIPE_API_BASE": stripe_for_browser.api_base,
    }
    # The server's output goes to a file, never a pipe: a pipe nobody reads fills up and stops the
    # server, and reading a pipe before the process has ended waits for ever.
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    # Generous for a loaded machine; past it the run fails with the server's output, never hangs.
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait(timeout=10)
            log.seek(0)
            raise RuntimeError(f"the server did not start within 90 s:\n{log.read().decode(errors='replace')}")
        time.sleep(0.2)
    stripe_for_browser.webhook_url = f"{url}/webhooks/stripe"
    yield url
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    log.close()


@pytest.fixture(scope="session")
async def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail("chromium is not installed: run `make test` (it installs it) or apt-get install chromium")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield chromium
        await chromium.close()


@pytest.fixture
async def new_page(browser, live_server):
    """Open a fresh browser context (its own cookies) per person in a test. Any page that breaks
    the Content-Security-Policy (a blocked script, style or frame) fails the test."""
    contexts = []
    violations: list[str] = []

    async def open_page():
        context = await browser.new_context(base_url=live_server, locale="ja-JP")
        contexts.append(context)
        page = await context.new_page()
        page.on("console", lambda message: violations.append(f"{page.url}: {message.text}")
                if "Content Security Policy" in message.text else None)
        return page

    yield open_page
    for context in contexts:
        await context.close()
    assert not violations, "\n".join(violations)
