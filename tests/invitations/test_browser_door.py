"""At the door on a phone, JavaScript off: the Nairobi attaché opens the door list of
the past reception in Debian's Chromium, searches a name, marks the person arrived,
undoes it and marks again (see tests/test_browser.py for the browser set-up)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest

from engage.cli.demo import DEMO_PASSWORD, demo_totp_secret
from engage.cli.demo_invitations import PAST
from tests.conftest import unavailable
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.test_demo_pages import EngageServer, start_server

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ATTACHE = "attache.nairobi@engage.example"
#: A phone (iPhone 12/13/14 CSS pixels).
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EngageServer]:
    """`engage serve` with the demo, whose past reception has answers and attendance
    (engage.cli.demo_invitations)."""
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    server = start_server(tmp_path / "site", f"sqlite://{tmp_path}/site/var/engage.sqlite3")
    yield server
    server.stop()


def test_the_attache_marks_an_arrival_on_a_phone_without_javascript(server: EngageServer):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport=PHONE,
            is_mobile=True,
            has_touch=True,
            locale="en-GB",
            java_script_enabled=False,
        )
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

        # From the past events to the reception's door list.
        page.goto(server.url + "/events?when=past")
        page.get_by_role("link", name=PAST.title).click()
        page.wait_for_url(re.compile(r"/events/\d+$"))
        # (The event page's invitations table is wider than a phone: followed, not tapped.)
        page.goto(page.get_by_role("link", name="Door list").get_attribute("href"))
        page.wait_for_url(re.compile(r"/events/\d+/door$"))
        assert page.locator("h1").inner_text() == "Door list"
        counts = page.locator("#door-counts").inner_text()
        arrived_before = int(re.search(r"Arrived: (\d+) of", counts).group(1))

        # Someone who said yes and has not been marked (the demo's no-shows).
        waiting = page.locator("li.card").filter(has_text="Not arrived yet")
        name = waiting.first.locator("h3").inner_text()
        family = name.split()[-1]
        page.get_by_label("Search by name").fill(family)
        page.get_by_role("button", name="Search").click()
        page.wait_for_url(re.compile(r"/door\?q="))
        card = page.locator("li.card").filter(has_text=name)
        button = card.get_by_role("button", name="Arrived")
        box = button.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        assert box["height"] >= 30  # a finger's target
        button.click()

        page.wait_for_url(re.compile(r"/door\?q=.*&arrived=\d+#entry-\d+$"))
        assert page.get_by_role("status").inner_text() == f"{name} is marked arrived."
        card = page.locator("li.card").filter(has_text=name)
        assert "Arrived" in card.locator(".door-arrived").inner_text()
        assert page.get_by_label("Search by name").input_value() == family

        # A mistake: undo, then mark again.
        card.get_by_role("button", name="Undo").click()
        page.wait_for_url(re.compile(r"&undone=\d+"))
        assert page.get_by_role("status").inner_text() == f"{name} is no longer marked arrived."
        page.locator("li.card").filter(has_text=name).get_by_role("button", name="Arrived").click()
        page.wait_for_url(re.compile(r"&arrived=\d+"))
        page.get_by_role("link", name="Show everyone").click()
        counts = page.locator("#door-counts").inner_text()
        assert f"Arrived: {arrived_before + 1} of" in counts
        # Nothing sticks out sideways on the phone's screen.
        for index in range(min(5, page.locator("li.card").count())):
            box = page.locator("li.card").nth(index).bounding_box()
            assert box is not None and box["x"] + box["width"] <= PHONE["width"]
        browser.close()
    assert problems == []
