"""``/account``: password, address, preferences, sessions, API tokens; ``/api/v1/me``."""

from __future__ import annotations

import httpx

from engage.accounts.models import ApiToken, Role, Session, User
from engage.accounts.passwords import verify_password
from engage.web.identity import session_cookie_name
from tests.accounts.conftest import link_in, text_of
from tests.factories import PASSWORD

NEW_PASSWORD = "velvet-tundra-compass-31"


def _other_client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_account_page_shows_the_person(client, make_user, make_embassy, sign_in):
    await make_embassy(code="NBO")
    user = await make_user(role=Role.ATTACHE, email="att@example.org", embassies=["NBO"])
    await sign_in(client, user)
    response = await client.get("/account")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    html = response.text
    for text in ("att@example.org", "Embassy attaché", "NBO", "Two-factor authentication"):
        assert text in html
    assert '<option value="Africa/Nairobi">Africa/Nairobi</option>' in html
    assert '<option value="UTC" selected>UTC</option>' in html
    assert "This browser" in html
    assert "pytest" in html  # the session's device


async def test_change_password_ends_other_sessions_and_keeps_this_one(
    client, app, mailbox, make_user, sign_in, settings
):
    user = await make_user(email="pw@example.org")
    other = _other_client(app)
    await sign_in(other, user)
    old_key = await sign_in(client, user)

    wrong = await client.post(
        "/account/password",
        data={"current_password": "not-it-at-all-11", "new_password": NEW_PASSWORD},
    )
    assert wrong.status_code == 422
    assert 'id="password-current-error"' in wrong.text
    assert NEW_PASSWORD not in wrong.text
    weak = await client.post(
        "/account/password", data={"current_password": PASSWORD, "new_password": "12345678"}
    )
    assert weak.status_code == 422
    assert 'id="password-new-error"' in weak.text

    response = await client.post(
        "/account/password", data={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/account?done=password"
    new_key = response.cookies.get(session_cookie_name(settings))
    assert new_key and new_key != old_key, "a new session id after a credential change"
    page = await client.get(response.headers["location"])
    assert page.status_code == 200
    assert "Your password has been changed" in page.text
    assert (await other.get("/account")).status_code == 303
    await other.aclose()
    assert await Session.filter(user_id=user.id).count() == 1

    await user.refresh_from_db()
    assert (await verify_password(user.password_hash, NEW_PASSWORD, settings.security))[0]
    await mailbox.deliver()
    assert "password was changed" in str(mailbox.last("pw@example.org")["Subject"])


async def test_change_email_applies_when_the_new_address_confirms(
    client, mailbox, make_user, sign_in
):
    user = await make_user(email="old@example.org")
    await sign_in(client, user)
    wrong = await client.post(
        "/account/email", data={"new_email": "new@example.org", "current_password": "nope-nope-1"}
    )
    assert wrong.status_code == 422
    assert 'value="new@example.org"' in wrong.text
    same = await client.post(
        "/account/email", data={"new_email": "OLD@example.org", "current_password": PASSWORD}
    )
    assert same.status_code == 422

    response = await client.post(
        "/account/email", data={"new_email": "New@Example.org", "current_password": PASSWORD}
    )
    assert response.status_code == 303
    page = await client.get("/account")
    assert "New@Example.org" in page.text and "waiting for confirmation" in page.text
    await user.refresh_from_db()
    assert user.email == "old@example.org", "nothing changes before the link is followed"

    assert await mailbox.deliver() == 2
    notice = mailbox.last("old@example.org")
    assert "change of email address" in str(notice["Subject"])
    assert "New@Example.org" in text_of(notice)
    assert "/verify/" not in text_of(notice)
    link = link_in(mailbox.last("new@example.org"))
    assert (await client.get(link)).status_code == 200
    assert (await client.post(link)).status_code == 200
    await user.refresh_from_db()
    assert user.email == "New@Example.org"
    assert user.email_key == "new@example.org"
    assert user.pending_email is None
    assert (await client.post(link)).status_code == 404


async def test_a_newer_change_kills_the_older_link_and_cancel_works(
    client, mailbox, make_user, sign_in
):
    user = await make_user(email="me@example.org")
    await sign_in(client, user)
    data = {"current_password": PASSWORD}
    await client.post("/account/email", data={**data, "new_email": "first@example.org"})
    await client.post("/account/email", data={**data, "new_email": "second@example.org"})
    await mailbox.deliver()
    first = link_in(mailbox.last("first@example.org"))
    second = link_in(mailbox.last("second@example.org"))
    assert (await client.post(first)).status_code == 404
    assert (await client.post("/account/email/cancel")).status_code == 303
    assert (await client.post(second)).status_code == 404
    await user.refresh_from_db()
    assert user.email == "me@example.org" and user.pending_email is None


async def test_an_address_taken_by_someone_else_answers_alike(client, mailbox, make_user, sign_in):
    await make_user(email="taken@example.org")
    user = await make_user(email="me@example.org")
    await sign_in(client, user)
    response = await client.post(
        "/account/email", data={"new_email": "taken@example.org", "current_password": PASSWORD}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/account?done=email"
    await mailbox.deliver()
    to_owner = mailbox.last("taken@example.org")
    assert "already have an account" in str(to_owner["Subject"])
    assert "/verify/" not in text_of(to_owner)


async def test_preferences(client, make_user, sign_in):
    user = await make_user()
    await sign_in(client, user)
    response = await client.post(
        "/account/preferences", data={"timezone": "America/Bogota", "language": "es"}
    )
    assert response.status_code == 303
    await user.refresh_from_db()
    assert (user.timezone, user.language) == ("America/Bogota", "es")
    bad = await client.post(
        "/account/preferences", data={"timezone": "Mars/Olympus", "language": "xx"}
    )
    assert bad.status_code == 422
    assert 'id="timezone-error"' in bad.text and 'id="language-error"' in bad.text
    assert 'aria-invalid="true"' in bad.text
    await user.refresh_from_db()
    assert user.timezone == "America/Bogota"


async def test_sessions_end_one_and_everywhere(client, app, make_user, sign_in):
    user = await make_user()
    phone = _other_client(app)
    await sign_in(phone, user)
    await sign_in(client, user)
    sessions = await Session.filter(user_id=user.id).order_by("id")
    assert len(sessions) == 2
    page = await client.get("/account")
    assert f"/account/sessions/{sessions[0].id}/end" in page.text
    assert f"/account/sessions/{sessions[1].id}/end" not in page.text  # this browser

    response = await client.post(f"/account/sessions/{sessions[0].id}/end")
    assert response.status_code == 303
    assert (await phone.get("/account")).status_code == 303
    assert (await client.get("/account")).status_code == 200
    stranger = await make_user()
    foreign = await Session.create(
        key_hash="f" * 64,
        user=stranger,
        user_version=0,
        created_at=sessions[0].created_at,
        last_seen_at=sessions[0].last_seen_at,
        expires_at=sessions[0].expires_at,
    )
    assert (await client.post(f"/account/sessions/{foreign.id}/end")).status_code == 404
    assert await Session.filter(id=foreign.id).exists()

    await sign_in(phone, user)
    response = await client.post("/account/sessions/end-all")
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert await Session.filter(user_id=user.id).count() == 0
    assert (await client.get("/account")).status_code == 303
    assert (await phone.get("/account")).status_code == 303
    await phone.aclose()


async def test_api_tokens_create_use_revoke(client, app, make_user, make_embassy, sign_in):
    await make_embassy(code="NBO")
    user = await make_user(role=Role.ATTACHE, email="api@example.org", embassies=["NBO"])
    await sign_in(client, user)
    created = await client.post("/account/tokens", data={"name": "reporting script"})
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    raw = created.text.split('id="raw-token" type="text" readonly value="')[1].split('"')[0]
    assert raw.startswith("eng_")
    stored = await ApiToken.get(user_id=user.id)
    assert raw not in (stored.token_hash, stored.prefix)

    page = await client.get("/account")
    assert "reporting script" in page.text
    assert raw not in page.text, "shown once only"

    api = _other_client(app)
    me = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"})
    assert me.status_code == 200
    assert me.json() == {
        "id": user.id,
        "email": "api@example.org",
        "role": "attache",
        "email_verified": True,
        "timezone": "UTC",
        "language": "en",
        "embassies": ["NBO"],
        "two_factor_enabled": False,
    }
    # A bearer token does not act on the account pages (no minting more tokens).
    minted = await api.post(
        "/account/tokens", data={"name": "x"}, headers={"Authorization": f"Bearer {raw}"}
    )
    assert minted.status_code == 403
    assert await ApiToken.filter(user_id=user.id).count() == 1

    revoke = await client.post(f"/account/tokens/{stored.id}/revoke")
    assert revoke.status_code == 303
    me = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"})
    assert me.status_code == 401
    assert me.json()["error"]["code"] == "unauthenticated"
    assert (await client.post(f"/account/tokens/{stored.id}/revoke")).status_code == 404
    empty = await client.post("/account/tokens", data={"name": "  "})
    assert empty.status_code == 422
    assert 'id="token-name-error"' in empty.text
    await api.aclose()


async def test_me_with_a_session_and_without_anything(client, make_user, sign_in):
    assert (await client.get("/api/v1/me")).status_code == 401
    user = await make_user(email="s@example.org")
    await sign_in(client, user)
    body = (await client.get("/api/v1/me")).json()
    assert body["email"] == "s@example.org" and body["role"] == "alumnus"
    assert body["embassies"] == []
    user.is_active = False
    await user.save()
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_account_actions_without_csrf_change_nothing(client, make_user, sign_in):
    user = await make_user()
    await sign_in(client, user)
    del client.headers["X-CSRF-Token"]
    for path, data in (
        ("/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        ("/account/email", {"new_email": "x@example.org", "current_password": PASSWORD}),
        ("/account/preferences", {"timezone": "Asia/Ho_Chi_Minh", "language": "en"}),
        ("/account/tokens", {"name": "sneaky"}),
        ("/account/sessions/end-all", {}),
    ):
        assert (await client.post(path, data=data)).status_code == 403, path
    fresh = await User.get(id=user.id)
    assert fresh.password_hash == user.password_hash
    assert fresh.pending_email is None and fresh.timezone == "UTC"
    assert fresh.session_version == user.session_version
    assert await ApiToken.filter(user_id=user.id).count() == 0
    assert await Session.filter(user_id=user.id).count() == 1
