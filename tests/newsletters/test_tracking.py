"""Open and click tracking: off by default (nothing rewritten, nothing recorded); when
on, a pixel and signed redirects that only go where the newsletter pointed."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from engage.errors import NotFound
from engage.mail.models import Category, OutboxMessage, Topic
from engage.mail.outbox import enqueue
from engage.newsletters.models import Newsletter, Tracking, TrackingKind
from engage.newsletters.tracking import (
    PIXEL,
    click_url,
    follow_click,
    link_signature,
    open_pixel_url,
    record_open,
    track_links,
    tracking_token,
)
from tests.conftest import make_settings

BODY = (
    '<p>Read <a href="https://example.org/report?a=1&amp;b=2">the report</a>, '
    '<a href="mailto:desk@example.org">write</a>, '
    '<a href="http://127.0.0.1:8000/unsubscribe/abc">unsubscribe</a>.</p>'
)


@pytest.fixture
def tracking_on(settings, tmp_path):
    return make_settings(settings.database.url, tmp_path / "var-on", newsletters={"tracking": True})


async def _copy(campaign_of: Newsletter | None = None, n: int = 1) -> OutboxMessage:
    newsletter = campaign_of or await Newsletter.create(subject="News", audience={"filter": {}})
    queued = await enqueue(
        "newsletter",
        to=f"reader{n}@example.org",
        category=Category.BULK,
        dedupe_key=f"newsletter:{newsletter.id}:{n}",
        context={"newsletter": newsletter.id},
        topic=Topic.NEWSLETTER,
        campaign=f"newsletter:{newsletter.id}",
    )
    return queued.message


def _links(html: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'href="([^"]*)"', html)]


async def test_off_by_default_nothing_is_rewritten_or_recorded(settings, db):
    assert settings.newsletters.tracking is False
    row = await _copy()
    assert track_links(BODY, settings, row) == BODY
    assert open_pixel_url(settings, row) is None

    token = tracking_token(settings, row)
    assert await record_open(settings, token) is False
    url = "https://example.org/report?a=1&b=2"
    click = await follow_click(settings, token, url, link_signature(settings, row.id, url))
    assert click.url == url  # a link sent while tracking was on still leads there
    assert await Tracking.all().count() == 0


async def test_links_go_through_signed_redirects_when_on(tracking_on, db):
    row = await _copy()
    tracked = track_links(BODY, tracking_on, row)
    report, mailto, unsubscribe = _links(tracked)
    assert mailto == "mailto:desk@example.org"
    assert unsubscribe == "http://127.0.0.1:8000/unsubscribe/abc"  # never counted
    parts = urlsplit(report)
    assert parts.path == f"/t/c/{tracking_token(tracking_on, row)}"
    query = parse_qs(parts.query)
    assert query["u"] == ["https://example.org/report?a=1&b=2"]
    assert query["s"] == [link_signature(tracking_on, row.id, "https://example.org/report?a=1&b=2")]
    assert report == click_url(tracking_on, row, "https://example.org/report?a=1&b=2")

    click = await follow_click(
        tracking_on, tracking_token(tracking_on, row), query["u"][0], query["s"][0]
    )
    assert click.url == "https://example.org/report?a=1&b=2"
    assert click.message_id == row.id
    recorded = await Tracking.get(kind=TrackingKind.CLICK)
    assert (recorded.message_id, recorded.url) == (row.id, click.url)  # type: ignore[attr-defined]
    assert recorded.newsletter_id == int(row.campaign.split(":")[1])  # type: ignore[attr-defined]


async def test_a_changed_target_is_not_followed(tracking_on, db):
    row = await _copy()
    token = tracking_token(tracking_on, row)
    url = "https://example.org/report"
    good = link_signature(tracking_on, row.id, url)
    other = await _copy(n=2)
    attempts = [
        (token, "https://evil.example/", good),  # u changed
        (token, "https://example.org/report/", good),  # even slightly
        (token, url, good[:-1] + ("A" if good[-1] != "A" else "B")),  # signature changed
        (token, url, ""),
        (tracking_token(tracking_on, other), url, good),  # another copy's token
        ("1.0.forged", url, good),
    ]
    for attempt_token, attempt_url, signature in attempts:
        with pytest.raises(NotFound):
            await follow_click(tracking_on, attempt_token, attempt_url, signature)
    # Even a signed link is only ever followed to a web address.
    script = "javascript:alert(1)"
    with pytest.raises(NotFound):
        await follow_click(tracking_on, token, script, link_signature(tracking_on, row.id, script))
    assert await Tracking.all().count() == 0


async def test_the_pixel_records_the_first_open_of_each_copy(tracking_on, db):
    newsletter = await Newsletter.create(subject="News", audience={"filter": {}})
    first, second = await _copy(newsletter, 1), await _copy(newsletter, 2)
    pixel = open_pixel_url(tracking_on, first)
    assert pixel == f"http://127.0.0.1:8000/t/o/{tracking_token(tracking_on, first)}.gif"
    assert await record_open(tracking_on, tracking_token(tracking_on, first)) is True
    assert await record_open(tracking_on, tracking_token(tracking_on, first)) is False
    assert await record_open(tracking_on, tracking_token(tracking_on, second)) is True
    assert await record_open(tracking_on, "1.0.forged") is False
    opens = (
        await Tracking.filter(kind=TrackingKind.OPEN)
        .order_by("id")
        .values_list("message_id", flat=True)
    )
    assert opens == [first.id, second.id]
    assert PIXEL.startswith(b"GIF89a")


async def test_only_newsletter_copies_are_tracked(tracking_on, db):
    queued = await enqueue(
        "verify_email",
        to="someone@example.org",
        category=Category.TRANSACTIONAL,
        dedupe_key="verify:1",
    )
    token = tracking_token(tracking_on, queued.message)
    assert await record_open(tracking_on, token) is False
    url = "https://example.org/"
    click = await follow_click(
        tracking_on, token, url, link_signature(tracking_on, queued.message.id, url)
    )
    assert click.url == url
    assert await Tracking.all().count() == 0


def test_the_redirect_quotes_the_target(tmp_path):
    settings = make_settings("sqlite://x.sqlite3", tmp_path, newsletters={"tracking": True})
    row = OutboxMessage(id=7, campaign="newsletter:1")
    url = "https://example.org/a b?x=1&y=é#top"
    link = click_url(settings, row, url)
    assert f"u={quote(url, safe='')}&" in link
    assert parse_qs(urlsplit(link).query)["u"] == [url]
