"""The demo in a real browser: Debian's Chromium driven by Playwright.

Chromium is ``/usr/bin/chromium`` (``apt-get install chromium``); Playwright's own
browser downloads are never used. Without it these tests skip, saying why (and fail
under CI). The server is a real `engage serve` process with the demo loaded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest

from engage.cli.demo import DEMO_PASSWORD, demo_totp_secret
from tests.conftest import unavailable
from tests.test_demo_pages import DEMO_ADDRESSES, EngageServer, start_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Records Content-Security-Policy violations in every document, frames included.
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngageServer]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    workdir = tmp_path_factory.mktemp("browser")
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


class Watched:
    """A page that records console errors, uncaught exceptions and CSP violations."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.problems: list[str] = []
        #: Addresses expected to answer an error status (Chromium logs each one).
        self.expected_errors: set[str] = {
            # No page links an icon yet, so Chromium asks for /favicon.ico and logs its 404.
            f"{base_url}/favicon.ico"
        }
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))

    def _on_console(self, msg: Any) -> None:
        if msg.type not in ("error", "warning"):
            return
        source = msg.location.get("url", "")
        if source in self.expected_errors and msg.text.startswith("Failed to load resource"):
            return
        self.problems.append(f"console {msg.type}: {msg.text} ({source})")

    def goto(self, path: str, *, status: int = 200) -> None:
        response = self.page.goto(self.base_url + path, wait_until="load")
        assert response is not None
        assert response.status == status, f"{path}: {response.status}"

    def assert_clean(self) -> None:
        for frame in self.page.frames:
            violations = frame.evaluate("window.__cspViolations || []")
            self.problems.extend(f"CSP violation in {frame.url}: {v}" for v in violations)
        assert self.problems == []


@pytest.fixture
def page(browser: Any, server: EngageServer) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.add_init_script(CSP_RECORDER)
    watched = Watched(context.new_page(), server.url)
    yield watched
    context.close()


def test_home_page_is_accessible(page: Watched, tmp_path: Path):
    page.goto("/")
    p = page.page
    assert p.title() == "Welcome · Engage"
    assert p.get_attribute("html", "lang") == "en"
    assert p.locator("h1").count() == 1
    assert p.locator("h1").inner_text() == "Engage"

    skip = p.locator("a.skip-link")
    assert skip.get_attribute("href") == "#main"
    assert not _in_viewport(skip.bounding_box()), "the skip link hides until focused"
    p.keyboard.press("Tab")
    assert p.evaluate("document.activeElement.className") == "skip-link"
    assert _in_viewport(skip.bounding_box()), "a focused skip link is visible"
    outline = p.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), "keyboard focus is visible"
    p.keyboard.press("Enter")
    p.wait_for_function("document.activeElement && document.activeElement.id === 'main'")
    assert p.url.endswith("#main")

    shot = tmp_path / "home.png"
    p.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 1000
    assert shot.read_bytes().startswith(b"\x89PNG")
    page.assert_clean()


def sign_in_as_admin(page: Watched) -> None:
    """The demo admin signs in: password, then the code of the printed TOTP secret."""
    email = "admin@engage.example"
    page.goto("/login")
    p = page.page
    p.get_by_label("Email address").fill(email)
    p.get_by_label("Password").fill(DEMO_PASSWORD)
    p.get_by_role("button", name="Sign in").click()
    p.wait_for_url("**/login/second-factor**")
    p.get_by_label("Code").fill(pyotp.TOTP(demo_totp_secret(email)).now())
    p.get_by_role("button", name="Continue").click()
    p.wait_for_url("**/account")


def test_mailbox_shows_the_welcome_emails(page: Watched):
    sign_in_as_admin(page)
    p = page.page
    deadline = time.monotonic() + 60
    rows = 0
    # The demo also sends invitations and event mail: the welcomes are among them.
    welcomes = p.locator("table tbody tr", has_text="Welcome to Engage")
    while time.monotonic() < deadline:
        page.goto("/admin/mailbox")
        rows = welcomes.count()
        if rows >= len(DEMO_ADDRESSES):
            break
        time.sleep(0.25)
    assert rows == len(DEMO_ADDRESSES)
    assert p.locator("h1").inner_text() == "Mailbox"
    assert p.locator("nav a[aria-current=page]").inner_text() == "Mailbox"
    table = p.locator("table").inner_text()
    for address in DEMO_ADDRESSES:
        assert address in table

    welcomes.locator("a").first.click()
    p.wait_for_load_state("load")
    assert "/admin/mailbox/" in p.url
    assert p.locator("h1").inner_text() == "Welcome to Engage"
    frame = p.frame_locator("iframe.mail-html")
    frame.locator("body").wait_for()
    assert "Dear " in frame.locator("body").inner_text()
    assert "Dear " in p.locator("pre.mail-text").inner_text()
    page.assert_clean()


def test_not_found_page_is_friendly(page: Watched):
    page.expected_errors.add(page.base_url + "/no-such-page")
    page.goto("/no-such-page", status=404)
    p = page.page
    assert p.title() == "Page not found · Engage"
    assert p.locator("h1").inner_text() == "Page not found"
    home = p.get_by_role("link", name="Go to the home page")
    home.click()
    p.wait_for_load_state("load")
    assert p.url == page.base_url + "/"
    page.assert_clean()


def _in_viewport(box: dict[str, float] | None) -> bool:
    return box is not None and box["x"] >= 0 and box["y"] >= 0 and box["width"] > 0
