"""The staff mail page /admin/mail: figures, campaigns, failed messages with Retry,
bounces with lifting a suppression, reloading while mail goes out, who may reach it.
Forms are posted as a browser would: the fields the page holds, its CSRF token."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from engage.accounts.models import AuditEvent, Role
from engage.clock import utcnow
from engage.mail.models import (
    Bounce,
    BounceKind,
    Status,
    Suppression,
    SuppressionReason,
    SuppressionScope,
)
from tests.events.test_pages_events import form_of, links_to, submit
from tests.mail.test_mail_status import put


@pytest.fixture
async def staff(client, make_user, sign_in):
    user = await make_user(role=Role.STAFF)
    await sign_in(client, user)
    return user


def count_of(html: str, key: str) -> int:
    match = re.search(rf'id="count-{key}">(\d+)<', html)
    assert match, key
    return int(match.group(1))


async def hard_bounce(address: str) -> tuple[Bounce, Suppression]:
    now = utcnow()
    row = await put(Status.FAILED, to=address, last_error="550 5.1.1 user unknown")
    bounce = await Bounce.create(
        received_at=now,
        kind=BounceKind.HARD,
        address_key=address,
        message=row,
        status_code="5.1.1",
        diagnostic=f"smtp; 550 5.1.1 <{address}>: Recipient address rejected: User unknown",
        reporter="mx.example.net",
    )
    suppression = await Suppression.create(
        address_key=address,
        scope=SuppressionScope.ALL,
        reason=SuppressionReason.HARD_BOUNCE,
        detail="550 5.1.1",
        created_at=now,
        message=row,
    )
    return bounce, suppression


async def test_staff_see_the_figures_campaigns_failures_and_bounces(client, staff):
    now = utcnow()
    for minutes in (1, 2):
        await put(Status.SENT, campaign="invite:4", sent_at=now - timedelta(minutes=minutes))
    await put(Status.QUEUED, campaign="invite:4", next_attempt_at=now + timedelta(hours=1))
    await put(Status.SKIPPED, campaign="invite:4", skip_reason="suppressed")
    failed = await put(Status.FAILED, last_error="550 5.7.1 Message rejected as spam")
    await put(Status.DEAD, last_error="421 4.4.2 connection timed out")
    deferred = await put(
        Status.DEFERRED,
        last_error="451 4.7.1 greylisted",
        next_attempt_at=now + timedelta(minutes=10),
    )
    await Suppression.create(
        address_key="left@example.org",
        scope=SuppressionScope.NEWSLETTER,
        reason=SuppressionReason.UNSUBSCRIBED,
        created_at=now,
    )
    bounce, suppression = await hard_bounce("gone@example.org")

    response = await client.get("/admin/mail")
    assert response.status_code == 200
    html = response.text
    assert html.count("<h1") == 1 and "<h1>Mail</h1>" in html
    # Nothing due or held by a worker: no reloading.
    assert "refresh" not in response.headers
    assert "Nothing is being sent now." in html
    assert count_of(html, "queued") == 1
    assert count_of(html, "sent") == 2
    assert count_of(html, "skipped") == 1
    assert count_of(html, "failed") == 2  # the bounce's message failed too
    assert count_of(html, "dead") == 1
    assert count_of(html, "deferred") == 1
    assert count_of(html, "sending") == 0
    assert count_of(html, "suppressed") == 2
    # The campaign: its bar, its numbers beside it, its rate over five minutes.
    assert 'id="campaign-invite-4"' in html
    assert "2 of 4 sent" in html
    assert "0.4 a minute" in html
    assert "Invitations" in html
    assert '<svg width="240"' in html and 'aria-hidden="true"' in html
    # Failed messages with the server's reply and a Retry form.
    assert "550 5.7.1 Message rejected as spam" in html
    assert "421 4.4.2 connection timed out" in html
    form_of(html, f"/admin/mail/messages/{failed.id}/retry")
    # A deferred message shows its reply and when it is tried again, with no Retry.
    assert "451 4.7.1 greylisted" in html
    assert f"/admin/mail/messages/{deferred.id}/retry" not in html
    next_try = deferred.next_attempt_at.strftime("%Y-%m-%d %H:%M")
    assert f"Next try {next_try}" in html
    # The bounce, its raw reason, and the suppression it caused (which may be lifted).
    assert f'id="bounce-{bounce.id}"' in html
    assert "Recipient address rejected: User unknown" in html
    assert "reported by mx.example.net" in html
    form_of(html, f"/admin/mail/suppressions/{suppression.id}/lift")
    # The navigation leads here, marked as the current page.
    assert '<a href="/admin/mail" aria-current="page">Mail</a>' in html


async def test_the_page_reloads_itself_while_mail_goes_out(client, staff):
    await put(Status.QUEUED, campaign="invite:1")  # due now
    response = await client.get("/admin/mail?failed=1&done=retried")
    assert response.status_code == 200
    # The notice is said once: the reload goes to the page without it.
    assert response.headers["refresh"] == "5; url=/admin/mail?failed=1"
    assert "This page reloads every 5 seconds." in response.text
    assert "<script" not in response.text
    await put(Status.SENDING)
    assert "refresh" in (await client.get("/admin/mail")).headers


async def test_retry_queues_a_failed_message_again(client, staff):
    row = await put(Status.FAILED, attempts=1, last_error="550 mailbox unavailable")
    page = await client.get("/admin/mail")
    action = f"/admin/mail/messages/{row.id}/retry"
    response = await submit(client, action, form_of(page.text, action))
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/mail?done=retried#failed"
    await row.refresh_from_db()
    assert row.status == Status.QUEUED and row.attempts == 0
    after = await client.get(response.headers["location"])
    assert "The message is queued again" in after.text
    assert "550 mailbox unavailable" not in after.text
    # Once queued it is not "failed" any more: retrying again is refused.
    again = await submit(client, action, form_of(page.text, action))
    assert again.status_code == 422


async def test_retry_needs_the_forms_token(client, staff):
    row = await put(Status.FAILED, last_error="550 no")
    client.headers.pop("X-CSRF-Token")
    response = await client.post(f"/admin/mail/messages/{row.id}/retry", data={})
    assert response.status_code == 403
    await row.refresh_from_db()
    assert row.status == Status.FAILED


async def test_retry_of_an_unknown_message_is_404(client, staff):
    assert (await client.post("/admin/mail/messages/999999/retry")).status_code == 404
    assert (await client.post("/admin/mail/messages/abc/retry")).status_code == 404


async def test_lifting_a_suppression_is_audit_logged(client, staff):
    _bounce, suppression = await hard_bounce("back@example.org")
    page = await client.get("/admin/mail")
    action = f"/admin/mail/suppressions/{suppression.id}/lift"
    response = await submit(client, action, form_of(page.text, action))
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/mail?done=lifted#bounces"
    assert not await Suppression.exists(id=suppression.id)
    audit = await AuditEvent.filter(actor_id=staff.id).order_by("-id").first()
    assert audit is not None and "suppression" in audit.action
    after = await client.get(response.headers["location"])
    assert "The suppression is lifted" in after.text
    # The bounce stays on the page, as received; there is nothing left to lift.
    assert "Recipient address rejected" in after.text
    assert f"/admin/mail/suppressions/{suppression.id}/lift" not in after.text


async def test_each_list_is_paged(client, staff):
    for n in range(30):
        await put(Status.FAILED, last_error=f"550 reply number {n}")
    first = await client.get("/admin/mail")
    assert "550 reply number 29" in first.text and "550 reply number 4<" not in first.text
    assert "Page 1 of 2" in first.text
    assert links_to(first.text, "/admin/mail")
    assert 'href="/admin/mail?failed=2#failed"' in first.text
    second = await client.get("/admin/mail?failed=2")
    assert "550 reply number 0<" in second.text and "550 reply number 29" not in second.text
    # The forms on page 2 bring the reader back to page 2.
    row_id = re.search(r"/admin/mail/messages/(\d+)/retry", second.text).group(1)
    action = f"/admin/mail/messages/{row_id}/retry"
    response = await submit(client, action, form_of(second.text, action))
    assert response.headers["location"] == "/admin/mail?failed=2&done=retried#failed"
    # Nonsense page numbers show the first page.
    assert (await client.get("/admin/mail?failed=abc&bounces=-1")).status_code == 200


@pytest.mark.parametrize("role", [Role.ALUMNUS, Role.ATTACHE])
async def test_only_staff_reach_the_page(client, make_user, make_embassy, sign_in, role):
    row = await put(Status.FAILED, last_error="550 no")
    _bounce, suppression = await hard_bounce("x@example.org")
    await make_embassy(code="NBO")
    user = await make_user(role=role, embassies=["NBO"] if role is Role.ATTACHE else [])
    await sign_in(client, user)
    assert (await client.get("/admin/mail")).status_code == 403
    assert (await client.post(f"/admin/mail/messages/{row.id}/retry")).status_code == 403
    lift = await client.post(f"/admin/mail/suppressions/{suppression.id}/lift")
    assert lift.status_code == 403
    await row.refresh_from_db()
    assert row.status == Status.FAILED
    assert await Suppression.exists(id=suppression.id)
    home = await client.get("/account")
    assert 'href="/admin/mail"' not in home.text


async def test_admins_reach_it_and_strangers_sign_in_first(client, make_user, sign_in):
    anonymous = await client.get("/admin/mail")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?next=")
    await sign_in(client, await make_user(role=Role.ADMIN))
    assert (await client.get("/admin/mail")).status_code == 200
