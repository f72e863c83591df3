"""The Nairobi attaché invites a saved segment to the demo's reception in Debian's
Chromium, against a real `engage serve` with the demo loaded (see tests/test_browser.py):
the preview, the sending, the progress page, and the counts on the event page."""

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

ATTACHE = "attache.nairobi@engage.example"
EVENT = "Evening reception at the Residence"
SEGMENT = "Kenyan graduates, classes of 2015 to 2024"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EngageServer]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    server = start_server(tmp_path / "site", f"sqlite://{tmp_path}/site/var/engage.sqlite3")
    yield server
    server.stop()


def _count(page, key: str) -> int:
    return int(page.locator(f"#count-{key}").inner_text())


def test_attache_invites_a_saved_segment_and_sees_the_counts(server: EngageServer):
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

        def csp_violations() -> None:
            problems.extend(page.evaluate("window.__cspViolations || []"))

        page.goto(server.url + "/login")
        page.get_by_label("Email address").fill(ATTACHE)
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/login/second-factor**")
        page.get_by_label("Code").fill(pyotp.TOTP(demo_totp_secret(ATTACHE)).now())
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url("**/account")

        # The event, from the events list; its invitations block before.
        page.get_by_role("link", name="Events", exact=True).click()
        page.get_by_role("link", name=EVENT).click()
        page.wait_for_url(re.compile(r"/events/\d+$"))
        event_url = page.url
        invited_before = _count(page, "invited")
        csp_violations()

        # Choose the segment, preview.
        page.get_by_role("link", name="Invite alumni").click()
        page.wait_for_url("**/invite")
        assert page.locator("h1").inner_text() == f"Invite alumni to {EVENT}"
        assert page.get_by_label("Override the programme suspension for this run").count() == 0
        page.get_by_label("A saved segment").check()
        page.get_by_label("Segment", exact=True).select_option(label=f"{SEGMENT} (NBO)")
        page.get_by_role("button", name="Preview").click()
        page.wait_for_load_state("load")
        preview = page.locator("#preview-invite").inner_text()
        match = re.fullmatch(r"(\d+) (?:person|people) will be invited\.", preview)
        assert match, preview
        to_invite = int(match.group(1))
        assert to_invite > 0
        # The choice is kept for sending.
        assert page.get_by_label("A saved segment").is_checked()
        csp_violations()

        # Send: the progress page, done, then back to the event.
        page.get_by_role("button", name="Send invitations").click()
        page.wait_for_url(re.compile(r"/events/\d+/invite/\d+$"))
        expect(page.locator("#job-status")).to_contain_text("Done:", timeout=30_000)
        assert page.locator("#job-invited").inner_text() == str(to_invite)
        csp_violations()
        page.get_by_role("link", name="Back to the event").last.click()
        page.wait_for_url(re.compile(r"/events/\d+#invitations$"))
        assert page.url.split("#")[0] == event_url

        assert _count(page, "invited") == invited_before + to_invite
        assert _count(page, "not_answered") >= to_invite
        table = page.get_by_role("table", name="Answers so far")
        assert table.get_by_role("rowheader", name="Invited").count() == 1
        assert page.locator("details.revoke summary").count() >= to_invite
        csp_violations()

        # Revoke one: two steps (the disclosure, then the button), then the notice.
        first = page.locator("details.revoke").first
        first.locator("summary").click()
        first.get_by_role("button", name=re.compile(r"^Revoke the invitation")).click()
        page.wait_for_url(re.compile(r"/events/\d+\?invitations=revoked#invitations$"))
        assert "its link no longer works" in page.get_by_role("status").first.inner_text()
        assert _count(page, "revoked") == 1
        assert _count(page, "invited") == invited_before + to_invite - 1

        # Previewing again: the same people are now skipped as already invited.
        page.get_by_role("link", name="Invite alumni").click()
        page.get_by_label("A saved segment").check()
        page.get_by_label("Segment", exact=True).select_option(label=f"{SEGMENT} (NBO)")
        page.get_by_role("button", name="Preview").click()
        page.wait_for_load_state("load")
        assert page.locator("#preview-invite").inner_text() == "0 people will be invited."
        skipped = page.get_by_role("table", name="Skipped, and why")
        assert skipped.get_by_role(
            "row", name=re.compile(r"^Already invited")
        ).inner_text().split()[-1] == str(to_invite)
        csp_violations()
        browser.close()
    assert problems == []
