"""The web console in a real browser: headless Chromium driven by playwright, against a whole stack.

Debian's ``chromium`` is the browser (launched by its path; playwright never
downloads one), or the one ``CORRAL_CHROMIUM`` names. Where none is
installed the test is skipped, saying so.
The run also takes the screenshots in docs/console.md (docs/images/).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.harness import ADMIN_KEY, Stack

# CORRAL_CHROMIUM: another Chromium build to drive, where Debian's is not the one.
CHROMIUM = os.environ.get("CORRAL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "images"
ARGS = [
    *("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"),
    *("--disable-component-update", "--disable-sync", "--no-first-run"),
]
HOSTS = ("web-1.dev.local", "web-2.dev.local", "db-1.dev.local")
WAIT_MS = 30_000

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).is_file(),
    reason="no chromium found: install Debian's chromium (apt-get install -y chromium) "
    "to run the console's browser test",
)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as driver:
        launched = await driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"console-{name}.png"), full_page=True)


async def test_log_in_submit_a_broadcast_watch_it_live_and_filter_the_list(
    stack: Stack, browser: Browser
) -> None:
    await stack.start_agent(HOSTS[0], {"group": "web.dev"})
    await stack.start_agent(HOSTS[1], {"group": "web.dev"})
    await stack.start_agent(HOSTS[2], {"group": "db.dev"})
    failed = await stack.submit("test.fail", {"message": "disk full"}, target=HOSTS[2])
    await stack.final(failed)

    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    base = str(stack.api.base_url)

    # Log in: the console asks for the key once.
    await page.goto(base + "/ui/")
    await expect(page).to_have_url(base + "/ui/login?next=%2Fui%2F")
    await page.get_by_label("API key").fill(ADMIN_KEY)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Jobs")).to_be_visible()

    # Submit a broadcast from the form built from test.sleep's schema.
    await page.get_by_role("link", name="Submit a job").click()
    await page.get_by_label("Operation", exact=True).select_option("test.sleep")
    seconds = page.get_by_role("spinbutton", name="seconds (required)")
    await expect(seconds).to_be_visible()  # swapped in from the operation's schema
    await seconds.fill("1.5")
    await page.get_by_label("_all: every live agent").check()
    await shoot(page, "submit")
    await page.get_by_role("button", name="Submit").click()
    await expect(page.get_by_role("heading", name="Job")).to_be_visible()
    job_id = page.url.rsplit("/", 1)[1]

    # The grid turns green live: the same page, changed by its event stream.
    await page.evaluate("window.sameDocument = true")
    grid = page.locator("ul.grid li.cell")
    await expect(grid).to_have_count(3, timeout=WAIT_MS)
    await expect(page.locator('.cell[data-state="completed"]')).to_have_count(3, timeout=WAIT_MS)
    await expect(page.locator("#live")).to_have_attribute("data-final", "true")
    assert await page.evaluate("window.sameDocument === true")
    assert int(await page.locator("#live").get_attribute("data-refreshed") or 0) >= 1
    await expect(page.locator("#announce")).to_contain_text("3 of 3 agents finished")
    for host in HOSTS:
        await expect(grid.filter(has_text=host)).to_contain_text("completed")  # words, not colour

    # Open one agent's response from its cell.
    await page.locator(f'.cell[data-host="{HOSTS[0]}"] a').click()
    response = page.locator(f'details[id="response-{HOSTS[0]}"]')
    await expect(response).to_have_attribute("open", "")
    await expect(response.locator("pre.data")).to_be_visible()
    await shoot(page, "job")

    # Filter the list: the broadcast is among the completed, the failed job alone.
    await page.get_by_role("link", name="Jobs", exact=True).click()
    filters = page.get_by_role("navigation", name="Filter jobs by status")
    await filters.get_by_role("link", name="completed").click()
    await expect(page).to_have_url(base + "/ui/?status=completed")
    rows = page.locator("table.list tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows).to_contain_text(job_id[:8])
    await filters.get_by_role("link", name="failed").click()
    await expect(rows).to_have_count(1)
    await expect(rows).to_contain_text(failed[:8])
    await filters.get_by_role("link", name="all").click()
    await expect(rows).to_have_count(2)
    await shoot(page, "jobs")

    await page.get_by_role("link", name="Agents").click()
    await expect(page.locator("table.list tbody tr")).to_have_count(3)
    await shoot(page, "agents")
