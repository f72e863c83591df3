"""In a real browser (Debian's Chromium through Playwright): register, follow the
verification email from the embedded server's Maildir, sign in and see /account.

The page runs under the app's own Content-Security-Policy; violations, console
errors and uncaught exceptions fail the test.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engage.mail.sink import read_mailbox
from tests.conftest import unavailable
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, CSP_RECORDER, Watched
from tests.test_demo_pages import EngageServer, start_server

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ADDRESS = "nguyen.thi.lan@example.vn"
PASSWORD = "lotus-river-morning-58"
_VERIFY = re.compile(r"https?://\S+?(/verify/[A-Za-z0-9._-]+)")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngageServer]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    workdir = tmp_path_factory.mktemp("browser-register")
    server = start_server(workdir, f"sqlite://{workdir}/var/engage.sqlite3")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(server: EngageServer) -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, server: EngageServer) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.add_init_script(CSP_RECORDER)
    watched = Watched(context.new_page(), server.url)
    yield watched
    context.close()


def _verification_path(maildir: Path, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for stored in read_mailbox(maildir):
            if ADDRESS in stored.to and "Confirm your email" in stored.subject:
                match = _VERIFY.search(stored.text)
                assert match, stored.text
                return match.group(1)
        time.sleep(0.25)
    pytest.fail(f"no verification email for {ADDRESS} within {timeout:.0f}s")


def test_register_confirm_sign_in_and_see_the_account(page: Watched, server: EngageServer):
    p = page.page
    page.goto("/login")
    p.get_by_role("link", name="Create an alumni account").click()
    p.wait_for_load_state("load")
    assert p.url == server.url + "/register"
    assert p.locator("h1").inner_text() == "Create an alumni account"

    # A weak password is refused (422), the address stays, the error is tied to the field.
    page.expected_errors.add(server.url + "/register")
    p.get_by_label("Given name", exact=True).fill("Amani")
    p.get_by_label("Family name", exact=True).fill("Wanjiru")
    p.get_by_label("Country").select_option("KE")
    p.get_by_label("Service").select_option("army")
    p.get_by_label("Email address").fill(ADDRESS)
    p.get_by_label("Password").fill("password123")
    p.get_by_role("button", name="Create my account").click()
    p.wait_for_load_state("load")
    assert p.get_by_label("Email address").input_value() == ADDRESS
    assert p.get_by_label("Family name", exact=True).input_value() == "Wanjiru"
    assert p.get_by_label("Country").input_value() == "KE"
    password = p.get_by_label("Password")
    assert password.get_attribute("aria-invalid") == "true"
    assert "password-error" in (password.get_attribute("aria-describedby") or "")

    password.fill(PASSWORD)
    p.get_by_role("button", name="Create my account").click()
    p.wait_for_load_state("load")
    assert p.locator("h1").inner_text() == "Check your inbox"
    assert ADDRESS in p.locator("main").inner_text()

    path = _verification_path(server.var_dir / "mailbox")
    page.goto(path)
    assert p.locator("h1").inner_text() == "Confirm your email address"
    p.get_by_role("button", name="Confirm my address").click()
    p.wait_for_load_state("load")
    assert p.locator("h1").inner_text() == "Address confirmed"

    p.get_by_role("link", name="Sign in").last.click()
    p.wait_for_load_state("load")
    p.get_by_label("Email address").fill(ADDRESS)
    p.get_by_label("Password").fill(PASSWORD)
    p.get_by_role("button", name="Sign in").click()
    p.wait_for_load_state("load")
    assert p.url == server.url + "/account"
    assert p.locator("h1").inner_text() == "Your account"
    assert ADDRESS in p.locator("main").inner_text()
    assert p.locator("nav a[aria-current=page]").inner_text() == "Your account"

    # The link worked once.
    page.expected_errors.add(server.url + path)
    page.goto(path, status=404)
    assert p.locator("h1").inner_text() == "This link is not valid"
    page.assert_clean()
