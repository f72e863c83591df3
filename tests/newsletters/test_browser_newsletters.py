"""Staff compose, preview, test and send a newsletter in Debian's Chromium, against a
real `engage serve` with the demo loaded (see tests/test_browser.py): the form with
the directory's filter, the server-rendered preview (the HTML part in its sandboxed
frame, the text part, the audience count), "Send me a test", "Send now", the issue's
page and its page in the archive. No CSP violation, no script error."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest

from engage.cli.demo import DEMO_PASSWORD, demo_totp_secret
from tests.conftest import unavailable
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, CSP_RECORDER
from tests.test_demo_pages import EngageServer, start_server

pytestmark = [pytest.mark.slow, pytest.mark.browser]

STAFF = "staff@engage.example"
SUBJECT = 'Season\'s news for {{ preferred_name | "colleague" }}'
BODY = (
    'Dear {{ preferred_name | "colleague" }},\n\n'
    "## This season\n\nThe **alumni reception** is coming. "
    "Read [the programme's report](https://example.org/report)."
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EngageServer]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    server = start_server(tmp_path / "site", f"sqlite://{tmp_path}/site/var/engage.sqlite3")
    yield server
    server.stop()


def test_staff_compose_preview_and_send_a_newsletter(server: EngageServer):
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(locale="en-GB")
        context.add_init_script(CSP_RECORDER)
        page = context.new_page()
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        # The refused form answers 422 on purpose (Chromium logs it): nothing else may.
        refused = f"{server.url}/newsletters/new"

        def on_console(msg) -> None:
            if msg.type != "error":
                return
            expected = msg.location.get("url") == refused and "status of 422" in msg.text
            if not expected and "favicon" not in msg.location.get("url", ""):
                problems.append(f"console {msg.type}: {msg.text} ({msg.location.get('url')})")

        page.on("console", on_console)

        def csp_violations() -> None:
            problems.extend(page.evaluate("window.__cspViolations || []"))

        page.goto(server.url + "/login")
        page.get_by_label("Email address").fill(STAFF)
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/login/second-factor**")
        page.get_by_label("Code").fill(pyotp.TOTP(demo_totp_secret(STAFF)).now())
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url("**/account")

        # Compose, from the navigation.
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Newsletters").click()
        page.wait_for_url("**/newsletters")
        page.get_by_role("link", name="New newsletter").click()
        page.wait_for_url("**/newsletters/new")
        page.get_by_label("Subject").fill(SUBJECT)
        page.get_by_label("Text", exact=True).fill(BODY)
        page.get_by_label("Everyone matching a filter").check()
        page.locator("details summary", has_text="The directory's filters").click()
        page.get_by_label("Country").select_option(["KE", "CO"])
        assert page.get_by_label(re.compile(r"^Upcoming events each reader")).is_checked()
        csp_violations()

        # A misspelt placeholder is refused before anything is saved.
        page.get_by_label("Subject").fill("News for {{ nmae }}")
        page.get_by_role("button", name="Save and preview").click()
        page.wait_for_load_state("load")
        expect(page.locator("#subject-error")).to_contain_text("Unknown placeholder {{ nmae }}")
        assert page.get_by_label("Everyone matching a filter").is_checked()
        page.get_by_label("Subject").fill(SUBJECT)
        page.get_by_role("button", name="Save and preview").click()
        page.wait_for_url(re.compile(r"/newsletters/\d+/preview\?notice=created$"))

        # The preview: who receives it, and both parts as the first reader sees them.
        reach = page.locator("#reach-recipients").inner_text()
        match = re.fullmatch(r"(\d+) (?:person|people) will receive it\.", reach)
        assert match and int(match.group(1)) > 0, reach
        subject = page.locator("#preview-subject").inner_text()
        assert subject.startswith("Season's news for ") and "{{" not in subject
        text = page.locator("#preview-text").inner_text()
        assert "This season" in text and "https://example.org/report" in text
        frame = page.frame_locator("iframe.mail-html")
        expect(frame.locator("strong", has_text="alumni reception")).to_be_visible()
        expect(frame.get_by_role("link", name="the programme's report")).to_have_attribute(
            "href", "https://example.org/report"
        )
        csp_violations()

        # Test, then send now.
        page.get_by_role("link", name="Test and send").click()
        page.wait_for_url(re.compile(r"/newsletters/\d+#send$"))
        page.get_by_role("button", name="Send me a test").click()
        page.wait_for_url(re.compile(r"\?notice=test#status$"))
        expect(page.locator("#notice")).to_contain_text("A test copy is on its way")
        page.get_by_role("button", name="Send now").click()
        page.wait_for_url(re.compile(r"\?notice=sending#status$"))
        expect(page.locator("#issue-status")).to_have_text("Sent", timeout=30_000)
        progress = page.locator("label[for=progress]").inner_text()
        assert re.match(rf"{match.group(1)} of {match.group(1)} copies written", progress)
        assert page.get_by_role("table", name="What became of the copies").count() == 1
        expect(page.locator("#figure-recipients")).to_have_text(match.group(1))
        assert page.get_by_role("button", name="Send now").count() == 0  # sent once
        csp_violations()

        # Its page in the archive.
        page.get_by_role("link", name="Its page in the archive").click()
        page.wait_for_url(re.compile(r"/newsletters/archive/\d+$"))
        assert page.locator("h1").inner_text() == "Season's news for colleague"
        expect(page.locator("#issue-body strong")).to_have_text("alumni reception")
        csp_violations()
        browser.close()
    assert problems == []
