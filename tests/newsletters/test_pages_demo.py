"""The demo's newsletters (engage.cli.demo_newsletters): a sent issue in the archive,
a draft for the senior officers' segment and a monthly series, made once, and the
pages that show them."""

from __future__ import annotations

import pytest

from engage.accounts.users import find_user
from engage.alumni.models import Engagement, EngagementKind
from engage.cli.demo import load_demo
from engage.cli.demo_newsletters import SERIES_NAME, seed_demo_newsletters
from engage.clock import utcnow
from engage.mail.models import OutboxMessage, Status
from engage.newsletters.models import IssueStatus, Newsletter, Series


@pytest.fixture
async def demo(app, settings):
    await load_demo(settings)
    # engage demo may already call it (then it makes nothing here).
    await seed_demo_newsletters(settings)


async def test_the_demo_newsletters_are_made_once(demo, settings, client, sign_in):
    sent = await Newsletter.get(status=IssueStatus.SENT)
    assert sent.written > 10 and sent.sections == ["events", "news"]
    # Delivered a month ago, as the worker would have: the mailbox keeps the welcomes.
    copies = await OutboxMessage.filter(campaign=f"newsletter:{sent.id}")
    assert len(copies) == sent.written and {c.status for c in copies} == {Status.SENT}
    assert sent.started_at is not None and (utcnow() - sent.started_at).days >= 29
    lines = await Engagement.filter(kind=EngagementKind.NEWSLETTER, ref_id=sent.id).count()
    assert lines == sent.written
    draft = await Newsletter.get(status=IssueStatus.DRAFT)
    assert "segment_id" in draft.audience
    series = await Series.get(name=SERIES_NAME)
    assert series.active and not series.automatic and series.next_run_at is not None
    assert await seed_demo_newsletters(settings) == 0
    assert await Newsletter.all().count() == 2 and await Series.all().count() == 1

    await sign_in(client, await find_user("staff@engage.example"))
    for path in (
        "/newsletters",
        f"/newsletters/{sent.id}",
        f"/newsletters/{sent.id}/preview",
        f"/newsletters/{draft.id}",
        f"/newsletters/{draft.id}/preview",
        f"/newsletters/{draft.id}/preview.html",
        "/newsletters/series",
        f"/newsletters/series/{series.id}",
    ):
        assert (await client.get(path)).status_code == 200, path
    figures = await client.get(f"/newsletters/{sent.id}")
    assert f'id="figure-delivered">{sent.written}<' in figures.text
    assert "refresh" not in figures.headers  # nothing in flight
    client.cookies.clear()
    await sign_in(client, await find_user("amani.wanjiru@example.ke"))
    archive = await client.get("/newsletters/archive")
    assert f"/newsletters/archive/{sent.id}" in archive.text
    page = await client.get(f"/newsletters/archive/{sent.id}")
    assert page.status_code == 200 and "Alumni bulletin: news for Amani" in page.text
