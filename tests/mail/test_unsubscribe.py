"""The unsubscribe pages: RFC 8058 one-click POST (no sign-in, cookie or CSRF token;
200, no redirect; idempotent), the preference page that a GET opens and that never
unsubscribes, and the same "not valid" page for every bad link."""

from __future__ import annotations

import httpx
import pytest

from engage.alumni.models import Alumnus
from engage.mail.models import (
    Category,
    Suppression,
    SuppressionReason,
    SuppressionScope,
    Topic,
)
from engage.mail.outbox import enqueue
from engage.mail.suppression import mailto_token, suppress, unsubscribe_token
from engage.web.identity import csrf_cookie_name
from engage.web.unsubscribe import masked_address
from tests.alumni import conftest as _alumni

#: The alumni factory fixture, for this module's tests.
make_alumnus = _alumni.make_alumnus
ONE_CLICK = {"content": b"List-Unsubscribe=One-Click"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def _message(person: Alumnus, *, topic: Topic | None, key: str = "m1"):
    queued = await enqueue(
        "test_message",
        to=str(person.email),
        category=Category.BULK,
        topic=topic,
        dedupe_key=key,
        recipient=("alumnus", person.id),
    )
    return queued.message


@pytest.fixture
async def bare(app):
    """A client as a mail program is: no session, no cookies kept."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", cookies=None
    ) as http:
        yield http


async def test_one_click_post_unsubscribes_without_cookie_or_csrf(bare, settings, make_alumnus):
    person = await make_alumnus(email="Amani@example.org")
    row = await _message(person, topic=Topic.INVITATIONS)
    url = f"/unsubscribe/{unsubscribe_token(settings, row)}"
    first = await bare.post(url, headers=FORM, follow_redirects=False, **ONE_CLICK)
    assert first.status_code == 200
    assert "location" not in first.headers
    assert "set-cookie" not in first.headers
    assert first.headers["referrer-policy"] == "no-referrer"
    assert "You are unsubscribed" in first.text
    assert "invitations and event mail" in first.text
    entry = await Suppression.get(address_key="amani@example.org")
    assert (entry.scope, entry.reason) == (
        SuppressionScope.INVITATIONS,
        SuppressionReason.UNSUBSCRIBED,
    )
    assert entry.message_id == row.id  # type: ignore[attr-defined]
    await person.refresh_from_db()
    assert person.accepts_invitations is False
    assert person.invitations_consent_source == "unsubscribe link"
    assert person.accepts_newsletter is True  # the other kind is untouched
    # Again: the same answer, nothing new.
    again = await bare.post(url, headers=FORM, follow_redirects=False, **ONE_CLICK)
    assert again.status_code == 200 and "You are unsubscribed" in again.text
    assert await Suppression.filter(address_key="amani@example.org").count() == 1


async def test_one_click_as_multipart_and_without_content_type(bare, settings, make_alumnus):
    person = await make_alumnus(email="multi@example.org")
    row = await _message(person, topic=Topic.NEWSLETTER)
    url = f"/unsubscribe/{unsubscribe_token(settings, row)}"
    multipart = await bare.post(
        url, files={"List-Unsubscribe": (None, "One-Click")}, follow_redirects=False
    )
    assert multipart.status_code == 200
    entry = await Suppression.get(address_key="multi@example.org")
    assert entry.scope == SuppressionScope.NEWSLETTER
    raw = await bare.post(url, **ONE_CLICK)
    assert raw.status_code == 200


async def test_a_post_without_the_one_click_body_changes_nothing(bare, settings, make_alumnus):
    person = await make_alumnus(email="scan@example.org")
    row = await _message(person, topic=Topic.NEWSLETTER)
    url = f"/unsubscribe/{unsubscribe_token(settings, row)}"
    huge = b"a=" + b"x" * 100_000 + b"&List-Unsubscribe=One-Click"  # read no further
    for body in (b"", b"List-Unsubscribe=Yes", b"one-click", huge):
        response = await bare.post(url, content=body, headers=FORM, follow_redirects=False)
        assert response.status_code == 400
    assert not await Suppression.exists(address_key="scan@example.org")


async def test_a_get_never_unsubscribes(bare, settings, make_alumnus):
    person = await make_alumnus(email="amani.wanjiru@example.org")
    row = await _message(person, topic=Topic.NEWSLETTER)
    url = f"/unsubscribe/{unsubscribe_token(settings, row)}"
    for _ in range(3):  # a link checker, a preview, the person
        page = await bare.get(url)
        assert page.status_code == 200
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
        assert "Your email choices" in page.text
        assert 'name="newsletter" value="yes" checked' in page.text
        assert 'name="invitations" value="yes" checked' in page.text
        assert "a…u@example.org" in page.text and "amani.wanjiru" not in page.text
    assert not await Suppression.exists()
    await person.refresh_from_db()
    assert person.accepts_newsletter and person.accepts_invitations


async def test_bad_links_get_one_page(bare, settings, make_alumnus):
    person = await make_alumnus(email="x@example.org")
    row = await _message(person, topic=Topic.NEWSLETTER)
    transactional = await enqueue(
        "test_message", to="x@example.org", category=Category.TRANSACTIONAL, dedupe_key="t"
    )
    good = unsubscribe_token(settings, row)
    bad = [
        good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
        "1.1.nonsense",
        unsubscribe_token(settings, transactional.message),
        f"{row.id + 100}.1.{good.split('.')[2]}",
    ]
    bodies = set()
    for token in bad:
        for method in ("GET", "POST"):
            response = await bare.request(
                method, f"/unsubscribe/{token}", headers=FORM, **ONE_CLICK
            )
            assert response.status_code == 404
            assert response.headers["referrer-policy"] == "no-referrer"
            bodies.add(response.text)
        choose = await bare.post(f"/unsubscribe/{token}/preferences", data={})
        assert choose.status_code == 403  # no CSRF token: refused before the link
    assert len(bodies) == 1 and "This link is not valid" in bodies.pop()
    assert not await Suppression.exists()


async def test_the_mailto_token_unsubscribes_too(settings, make_alumnus, db):
    from engage.mail.suppression import unsubscribe_by_token

    person = await make_alumnus(email="mailto@example.org")
    row = await _message(person, topic=Topic.NEWSLETTER)
    done = await unsubscribe_by_token(settings, mailto_token(settings, row).upper())
    assert done is not None and done.scope == SuppressionScope.NEWSLETTER
    await person.refresh_from_db()
    assert person.accepts_newsletter is False


async def _form(client: httpx.AsyncClient, url: str) -> str:
    page = await client.get(url)
    assert page.status_code == 200
    return page.text.split('name="csrf_token" value="')[1].split('"')[0]


async def test_preferences_need_csrf(client, settings, make_alumnus):
    person = await make_alumnus(email="csrf@example.org")
    row = await _message(person, topic=Topic.NEWSLETTER)
    url = f"/unsubscribe/{unsubscribe_token(settings, row)}"
    refused = await client.post(f"{url}/preferences", data={"invitations": "yes"})
    assert refused.status_code == 403
    assert not await Suppression.exists()


async def test_choose_then_resubscribe(client, settings, make_alumnus):
    person = await make_alumnus(email="choose@example.org")
    row = await _message(person, topic=Topic.NEWSLETTER)
    url = f"/unsubscribe/{unsubscribe_token(settings, row)}"
    csrf = await _form(client, url)
    saved = await client.post(
        f"{url}/preferences",
        data={"csrf_token": csrf, "invitations": "yes", "action": "save"},
        follow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"{url}?saved=1"
    entries = await Suppression.filter(address_key="choose@example.org")
    assert [(e.scope, e.reason) for e in entries] == [
        (SuppressionScope.NEWSLETTER, SuppressionReason.UNSUBSCRIBED)
    ]
    await person.refresh_from_db()
    assert not person.accepts_newsletter and person.accepts_invitations
    assert person.newsletter_consent_source == "preference page"
    page = await client.get(f"{url}?saved=1")
    assert "Your choices are saved." in page.text
    assert 'name="newsletter" value="yes">' in page.text
    assert "Resubscribe to everything" in page.text
    # Resubscribe: the person's own unsubscribes go, and the consent comes back.
    back = await client.post(
        f"{url}/preferences",
        data={"csrf_token": csrf, "action": "resubscribe"},
        follow_redirects=True,
    )
    assert back.status_code == 200  # followed to the page
    assert not await Suppression.exists(address_key="choose@example.org")
    await person.refresh_from_db()
    assert person.accepts_newsletter and person.accepts_invitations
    assert "Resubscribe to everything" not in back.text


async def test_resubscribing_leaves_a_hard_bounce_alone(client, settings, make_alumnus):
    person = await make_alumnus(email="bounced@example.org")
    row = await _message(person, topic=Topic.NEWSLETTER)
    await suppress(person.email, SuppressionScope.ALL, SuppressionReason.HARD_BOUNCE)
    await suppress(person.email, SuppressionScope.NEWSLETTER, SuppressionReason.UNSUBSCRIBED)
    url = f"/unsubscribe/{unsubscribe_token(settings, row)}"
    csrf = await _form(client, url)
    page = await client.post(
        f"{url}/preferences",
        data={"csrf_token": csrf, "action": "resubscribe"},
        follow_redirects=True,
    )
    assert "mail to this address could not be delivered" in page.text
    entries = await Suppression.filter(address_key="bounced@example.org")
    assert [(e.scope, e.reason) for e in entries] == [
        (SuppressionScope.ALL, SuppressionReason.HARD_BOUNCE)
    ]


async def test_an_unsubscribe_from_all_becomes_per_topic_when_one_is_chosen(
    client, settings, make_alumnus
):
    person = await make_alumnus(email="all@example.org")
    row = await _message(person, topic=None)  # a bulk message with no topic: all
    url = f"/unsubscribe/{unsubscribe_token(settings, row)}"
    response = await client.post(url, headers=FORM, **ONE_CLICK)
    assert response.status_code == 200
    entry = await Suppression.get(address_key="all@example.org")
    assert entry.scope == SuppressionScope.ALL
    await person.refresh_from_db()
    assert not person.accepts_newsletter and not person.accepts_invitations
    csrf = await _form(client, url)
    await client.post(f"{url}/preferences", data={"csrf_token": csrf, "invitations": "yes"})
    entries = await Suppression.filter(address_key="all@example.org")
    assert [e.scope for e in entries] == [SuppressionScope.NEWSLETTER]
    await person.refresh_from_db()
    assert person.accepts_invitations and not person.accepts_newsletter


def test_masked_address():
    assert masked_address("amani.wanjiru@example.org") == "a…u@example.org"
    assert masked_address("ab@example.org") == "a…@example.org"


async def test_only_the_one_click_route_skips_csrf(app):
    routes = {
        (method, route.path): route.endpoint
        for route in app.routes
        if getattr(route, "path", "").startswith("/unsubscribe")
        for method in route.methods or ()
    }
    assert routes[("POST", "/unsubscribe/{token}")].__csrf_exempt__ is True
    assert routes[("GET", "/unsubscribe/{token}")].__csrf_exempt__ is False
    assert routes[("POST", "/unsubscribe/{token}/preferences")].__csrf_exempt__ is False
    assert csrf_cookie_name  # the preference form uses the site's CSRF cookie


async def test_consent_given_back_on_the_profile_lifts_the_unsubscribe(
    db, settings, make_user, make_alumnus
):
    from engage.accounts.actor import load_actor
    from engage.accounts.models import Role
    from engage.alumni.eligibility import BulkKind, Reason, ineligibility
    from engage.alumni.profiles import update_alumnus
    from engage.mail.suppression import unsubscribe_by_token

    user = await make_user(role=Role.ALUMNUS, email="own@example.org")
    person = await make_alumnus(
        email="own@example.org", secondary_email="Alt@example.org", user=user
    )
    row = await _message(person, topic=None)  # unsubscribed from all bulk mail
    assert await unsubscribe_by_token(settings, unsubscribe_token(settings, row))
    await suppress("own@example.org", SuppressionScope.INVITATIONS, SuppressionReason.MANUAL)
    await suppress("alt@example.org", SuppressionScope.NEWSLETTER, SuppressionReason.UNSUBSCRIBED)
    await suppress("alt@example.org", SuppressionScope.ALL, SuppressionReason.HARD_BOUNCE)
    await person.refresh_from_db()
    assert Reason.NO_CONSENT in await ineligibility(person, BulkKind.NEWSLETTER)
    await update_alumnus(person.id, {"accepts_newsletter": True}, actor=await load_actor(user))
    await person.refresh_from_db()
    assert person.accepts_newsletter and not person.accepts_invitations
    assert await ineligibility(person, BulkKind.NEWSLETTER) == []
    entries = await Suppression.all()
    # Newsletters are back on both addresses; what remains is invitations (staff's
    # entry already stood there) and the secondary's hard bounce: never the
    # person's to lift.
    assert {(e.address_key, e.scope, e.reason) for e in entries} == {
        ("own@example.org", SuppressionScope.INVITATIONS, SuppressionReason.MANUAL),
        ("alt@example.org", SuppressionScope.ALL, SuppressionReason.HARD_BOUNCE),
    }
