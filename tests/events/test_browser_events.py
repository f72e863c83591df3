"""An attaché creates and publishes an event through the real form, in Debian's
Chromium, against a real `engage serve` with the demo loaded (see tests/test_browser.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest

from engage.cli.demo import DEMO_PASSWORD, demo_totp_secret
from tests.conftest import unavailable
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, CSP_RECORDER
from tests.test_demo_pages import EngageServer, start_server

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ATTACHE = "attache.nairobi@engage.example"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EngageServer]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    server = start_server(tmp_path / "site", f"sqlite://{tmp_path}/site/var/engage.sqlite3")
    yield server
    server.stop()


def test_attache_creates_and_publishes_an_event(server: EngageServer):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    year = datetime.now(UTC).year + 1
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(locale="en-GB")
        context.add_init_script(CSP_RECORDER)
        page = context.new_page()
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

        page.goto(server.url + "/login")
        page.get_by_label("Email address").fill(ATTACHE)
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/login/second-factor**")
        page.get_by_label("Code").fill(pyotp.TOTP(demo_totp_secret(ATTACHE)).now())
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url("**/account")

        # From the navigation to the form: the kind first, its defaults next.
        page.get_by_role("link", name="Events", exact=True).click()
        page.wait_for_url("**/events")
        assert page.locator("h1").inner_text() == "Events"
        page.get_by_role("link", name="New event").click()
        page.get_by_label("Reception", exact=True).check()
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url("**/events/new?kind=reception**")
        assert page.get_by_label("Capacity").input_value() == "80"
        assert page.get_by_label("Guests must be named").is_checked()
        starts = page.get_by_label(re.compile(r"^Starts \(Nairobi time\)"))
        assert starts.input_value()  # two weeks ahead, 18:00

        page.get_by_label("Title", exact=True).fill("Reception for the class of 2026")
        page.get_by_label("Description").fill("Welcome **home**, graduates.")
        page.get_by_label("Venue").fill("The Residence")
        starts.fill(f"{year}-02-12T18:30")
        page.get_by_label(re.compile(r"^Ends \(Nairobi time\)")).fill(f"{year}-02-12T21:00")
        page.get_by_label("Capacity").fill("40")
        page.get_by_label("Label").nth(2).fill("Which course did you attend?")
        page.get_by_role("button", name="Save and publish").click()
        page.wait_for_url(re.compile(r"/events/\d+\?saved=published$"))

        assert page.locator("h1").inner_text() == "Reception for the class of 2026"
        assert page.locator(".badge").inner_text() == "Published"
        details = page.locator("dl.headers").inner_text()
        # Nairobi has no daylight saving time: UTC+3 all year.
        assert f"12 February {year}, 18:30 Nairobi time (UTC+3)" in details
        assert "40 seats" in details
        assert page.locator(".description strong").inner_text() == "home"
        assert "Which course did you attend?" in page.locator("#questions + ul").inner_text()
        assert page.get_by_role("button", name="Publish").count() == 0
        problems.extend(page.evaluate("window.__cspViolations || []"))

        page.get_by_role("link", name="Events", exact=True).click()
        assert page.get_by_role("link", name="Reception for the class of 2026").count() == 1
        browser.close()
    assert problems == []
