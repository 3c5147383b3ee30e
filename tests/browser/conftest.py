"""Browser tests: a real hub served over HTTP (uvicorn on a free port, embedded outbox worker,
the simulators beside it) on the test's database, driven by Debian's Chromium through
Playwright. One browser for the whole run; a fresh context (cookies) per test.

Screenshots of the key pages go to var/test-artifacts/screenshots/<db>/ (git-ignored).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from cityhub.app import create_app
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators import RunningServer, serve_app_in_background
from tests.browser.world import WebWorld, web_world
from tests.simulators.fixtures import Sim, connector_settings, sim, simulator

__all__ = ["sim", "simulator"]

CHROMIUM = os.environ.get("CITYHUB_TEST_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking switches Chromium waits on the network of an offline box.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "test-artifacts" / "screenshots"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PHONE = (360, 740)  # the narrowest phone the portal is made for


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, shared by every browser test of the run."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make install`"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    """The hub's settings: the simulators, and the embedded worker on (as `cityhub serve`)."""
    settings = connector_settings(settings, simulator.url)
    settings.embedded_worker = True
    settings.outbox_poll_seconds = 0.1
    return settings


@pytest.fixture
async def world(db: Database, sim: Sim) -> WebWorld:
    """Two cities with services, the portal channel, staff in each city, a few residents."""
    return await web_world(db, sim)


@pytest.fixture
def hub(settings: Settings, world: WebWorld) -> Iterator[str]:
    """The hub serving the world over real HTTP; its base URL."""
    app = create_app(settings)  # its own engine, opened and disposed in the server's loop
    running = serve_app_in_background(app, port=0, lifespan="on")
    try:
        yield running.url
    finally:
        running.stop()


@pytest.fixture
async def context(chromium: Browser, hub: str) -> AsyncIterator[BrowserContext]:
    """A visitor with no cookies, on a phone-sized screen, pointed at the hub."""
    ctx = await chromium.new_context(
        base_url=hub, viewport={"width": PHONE[0], "height": PHONE[1]}, locale="zh-CN"
    )
    ctx.set_default_timeout(15_000)
    yield ctx
    await ctx.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    """A tab of the visitor's browser."""
    return await context.new_page()


@pytest.fixture
def screenshot(db_kind: str, request: pytest.FixtureRequest) -> Any:
    """`await screenshot(page, "name")`: a full-page PNG kept as an artefact of the run."""
    folder = ARTIFACTS / db_kind
    folder.mkdir(parents=True, exist_ok=True)

    async def take(page: Page, name: str) -> Path:
        path = folder / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 0
        return path

    return take


@pytest.fixture(scope="session")
def axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


@pytest.fixture
def accessible(axe_source: str) -> Any:
    """`await accessible(page)`: axe-core run in the page; fails on serious or critical
    violations of WCAG 2 A/AA (titles, labels, contrast, names of links and buttons...)."""

    async def check(page: Page) -> list[dict[str, Any]]:
        if not await page.evaluate("typeof window.axe !== 'undefined'"):
            # Evaluated by the browser's debugger protocol: the pages' CSP stays as it is.
            await page.evaluate(axe_source)
        result: dict[str, Any] = await page.evaluate(
            """() => axe.run(document, {
                runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
                resultTypes: ['violations'],
            })"""
        )
        bad = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
        assert not bad, "\n".join(
            f"{page.url}: {v['id']} ({v['impact']}): {v['help']}: "
            + "; ".join(n["html"][:120] for n in v["nodes"][:3])
            for v in bad
        )
        assert result["passes"] if "passes" in result else True
        return list(result["violations"])

    return check
