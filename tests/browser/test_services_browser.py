"""Queries and lotteries in a real browser: the form drawn from the schema, the answer as
cards, a provider that is down said on the form, a lottery's page; accessible, with
screenshots."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser.world import WebWorld

pytestmark = pytest.mark.slow  # a real browser: seconds a test


async def test_a_visitor_looks_up_air_quality_and_sees_a_lottery(
    page: Page, world: WebWorld, screenshot: Any, accessible: Any
) -> None:
    await page.goto("/c/webtown")
    await page.locator("a.service-name[href$='/query/air-quality']").click()
    await expect(page.locator("label[for=p_district]")).to_contain_text("区")
    await page.fill("#p_district", "浦东新区")
    await page.locator("form[action$='/query/air-quality'] button").click()
    answer = page.locator("[data-testid=answer]")
    await expect(answer.locator("[data-testid=record]").first).to_contain_text("浦东新区")
    await screenshot(page, "portal-query-answer")
    await accessible(page)

    world.sim.set("environment/sh-env", down=True)
    await page.fill("#p_district", "黄浦区")
    await page.locator("form[action$='/query/air-quality'] button").click()
    await expect(page.locator("[data-testid=problem]")).to_have_attribute(
        "data-code", "provider_unavailable"
    )
    await expect(page.locator("#p_district")).to_have_value("黄浦区")
    await screenshot(page, "portal-provider-down")
    await accessible(page)

    await page.goto("/c/webtown/lottery/car-plates")
    await expect(page.locator("h1")).to_have_text("小客车号牌摇号")
    await screenshot(page, "portal-lottery")
    await accessible(page)
