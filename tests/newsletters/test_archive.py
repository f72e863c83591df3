"""The archive: issues that went out, for anyone signed in, with the placeholders
filled for the viewer and without anyone's personal sections; the email's "view in
browser" link leads there (after signing in)."""

from __future__ import annotations

import re
from urllib.parse import unquote

from engage.accounts.models import Role
from engage.clock import utcnow
from engage.mail.models import OutboxMessage
from engage.mail.render import Renderer
from engage.newsletters.archive import archive_issues, archived_issue
from engage.newsletters.models import IssueStatus, Newsletter
from engage.newsletters.sending import run_send
from engage.newsletters.services import create_newsletter, send_newsletter

BODY = (
    'Dear {{ preferred_name | "colleague" }} of {{ country }},\n\n'
    "## News\n\nThe [report](https://example.org/report). <script>alert(1)</script>"
)


async def _sent(staff, subject="News for {{ preferred_name }}", **fields):
    issue = await create_newsletter(
        staff,
        {"subject": subject, "body": BODY, "filter": {}, "sections": ["events"], **fields},
    )
    await send_newsletter(staff, issue.id)
    return await run_send(issue.id, owner="test")


async def test_alumni_read_issues_that_went_out_filled_for_them(
    client, settings, make_user, make_alumnus, sign_in, actor_for
):
    staff = await actor_for(Role.STAFF)
    user = await make_user(role=Role.ALUMNUS)
    await make_alumnus(country="KE", given_name="Amani", preferred_name="Ami", user=user)
    sent = await _sent(staff)
    older = await _sent(staff, subject="Older news")
    draft = await create_newsletter(staff, {"subject": "Draft", "body": "x", "filter": {}})
    scheduled = await create_newsletter(staff, {"subject": "Later", "body": "x", "filter": {}})
    await Newsletter.filter(id=scheduled.id).update(status=IssueStatus.SCHEDULED)
    await Newsletter.filter(id=older.id).update(started_at=utcnow().replace(year=2020))
    await sign_in(client, user)

    listing = await client.get("/newsletters/archive")
    assert listing.status_code == 200
    assert 'href="/newsletters/archive"' in listing.text  # in the navigation
    titles = re.findall(
        r'<a href="http://testserver/newsletters/archive/(\d+)">([^<]*)</a>', listing.text
    )
    assert titles == [(str(sent.id), "News for Ami"), (str(older.id), "Older news")]

    page = await client.get(f"/newsletters/archive/{sent.id}")
    assert page.status_code == 200
    assert '<h1 id="issue-subject">News for Ami</h1>' in page.text
    assert "Dear Ami of Kenya," in page.text
    assert '<a href="https://example.org/report"' in page.text
    assert "<script>alert" not in page.text
    assert "events they may attend" in page.text  # personal sections stay in the email
    for hidden in (draft, scheduled):
        assert (await client.get(f"/newsletters/archive/{hidden.id}")).status_code == 404
    assert (await client.get("/newsletters/archive/999999")).status_code == 404


async def test_staff_see_the_fallbacks(db, settings, make_alumnus, actor_for):
    staff = await actor_for(Role.STAFF)
    await make_alumnus(country="KE")
    sent = await _sent(staff, subject='For {{ preferred_name | "everyone" }}')
    shown = await archived_issue(staff, sent.id)
    assert shown.subject == "For everyone"
    assert "Dear colleague of ," in shown.html
    assert [entry.subject for entry in await archive_issues(staff)] == ["For everyone"]


async def test_the_emails_view_in_browser_link_opens_the_archive_after_sign_in(
    client, settings, make_user, make_alumnus, sign_in, actor_for
):
    staff = await actor_for(Role.STAFF)
    user = await make_user(role=Role.ALUMNUS)
    person = await make_alumnus(country="KE", preferred_name="Ami", user=user)
    sent = await _sent(staff)
    row = await OutboxMessage.get(campaign=f"newsletter:{sent.id}", recipient_id=person.id)
    message = await Renderer(settings).render(row, now=utcnow())
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    link = f"{settings.app.base_url}/newsletters/archive/{sent.id}"
    assert f'href="{link}"' in html and link in text
    path = link.removeprefix(settings.app.base_url)

    anonymous = await client.get(path)
    assert anonymous.status_code == 303
    assert unquote(anonymous.headers["location"]) == f"/login?next={path}"
    await sign_in(client, user)
    assert (await client.get(path)).status_code == 200
