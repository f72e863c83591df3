"""The tracking addresses as a mail client meets them: the pixel always answers a
GIF, a signed link always redirects where it pointed (and only there), and either is
recorded only when ``newsletters.tracking`` is on."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from engage.mail.models import Category, Topic
from engage.mail.outbox import enqueue
from engage.newsletters.models import Newsletter, Tracking, TrackingKind
from engage.newsletters.tracking import PIXEL, click_url, link_signature, tracking_token
from tests.conftest import make_settings

TARGET = "https://example.org/report?year=2026&part=2"


@pytest.fixture(params=[True, False], ids=["tracking-on", "tracking-off"])
def settings(db_url, tmp_path, request):
    return make_settings(db_url, tmp_path / "var", newsletters={"tracking": request.param})


@pytest.fixture
async def copy(app):
    newsletter = await Newsletter.create(subject="News", audience={"filter": {}})
    queued = await enqueue(
        "newsletter",
        to="reader@example.org",
        category=Category.BULK,
        dedupe_key=f"newsletter:{newsletter.id}:1",
        context={"newsletter": newsletter.id},
        topic=Topic.NEWSLETTER,
        campaign=f"newsletter:{newsletter.id}",
    )
    return queued.message


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


async def test_the_pixel(client, settings, copy):
    path = f"/t/o/{tracking_token(settings, copy)}.gif"
    for _ in range(2):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/gif"
        assert response.content == PIXEL
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["referrer-policy"] == "no-referrer"
    opens = await Tracking.filter(kind=TrackingKind.OPEN).count()
    assert opens == (1 if settings.newsletters.tracking else 0)  # the first open only
    forged = await client.get("/t/o/1.0.AAAA.gif")
    assert forged.status_code == 200 and forged.content == PIXEL


async def test_a_signed_link_redirects_where_it_pointed(client, settings, copy):
    response = await client.get(_path(click_url(settings, copy, TARGET)))
    assert response.status_code == 302
    assert response.headers["location"] == TARGET
    assert response.headers["referrer-policy"] == "no-referrer"
    clicks = await Tracking.filter(kind=TrackingKind.CLICK).values_list("url", flat=True)
    assert clicks == ([TARGET] if settings.newsletters.tracking else [])


async def test_a_changed_link_is_not_an_open_redirect(client, settings, copy):
    token = tracking_token(settings, copy)
    signature = link_signature(settings, copy.id, TARGET)
    for query in (
        f"u=https%3A%2F%2Fevil.example%2F&s={signature}",
        f"u=%2F%2Fevil.example&s={signature}",
        "u=https%3A%2F%2Fexample.org%2Freport&s=",
        "u=&s=",
        "",
    ):
        response = await client.get(f"/t/c/{token}?{query}")
        assert response.status_code == 404, query
        assert "location" not in response.headers
    other = f"/t/c/1.0.{'A' * 43}?u=https%3A%2F%2Fexample.org&s={signature}"
    assert (await client.get(other)).status_code == 404
    assert await Tracking.all().count() == 0
