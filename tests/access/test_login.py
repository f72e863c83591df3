from __future__ import annotations

import re
from datetime import timedelta

from engage.accounts.models import AuditEvent, Role, Session
from engage.accounts.sessions import load_session
from engage.clock import utcnow
from engage.web.identity import csrf_cookie_name, session_cookie_name
from tests.factories import PASSWORD


async def _csrf(client) -> str:
    page = await client.get("/login")
    assert page.status_code == 200
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


async def _login(client, email, password=PASSWORD, next_url=None):
    token = await _csrf(client)
    data = {"csrf_token": token, "email": email, "password": password}
    if next_url is not None:
        data["next"] = next_url
    return await client.post("/login", data=data)


async def test_login_page_carries_a_csrf_token_and_cookie(client, settings):
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    assert client.cookies.get(csrf_cookie_name(settings)) == token
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie


async def test_post_without_csrf_token_is_refused(client, make_user, settings):
    user = await make_user()
    response = await client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 403
    assert await Session.filter(user_id=user.id).count() == 0
    await _csrf(client)  # a cookie, but a wrong field
    response = await client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": "x" * 43}
    )
    assert response.status_code == 403
    assert await Session.filter(user_id=user.id).count() == 0


async def test_alumnus_signs_in_and_out(client, make_user, settings):
    user = await make_user(email="Minh.Nguyen@Example.VN")
    response = await _login(client, "minh.nguyen@example.vn")
    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    cookie = next(c for c in response.headers.get_list("set-cookie") if "session" in c)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    key = client.cookies.get(session_cookie_name(settings))
    account = await client.get("/account")
    assert account.status_code == 200
    assert "Minh.Nguyen@Example.VN" in account.text
    assert account.headers["cache-control"] == "no-store"
    assert await AuditEvent.filter(action="user.login", actor_id=user.id).count() == 1
    # Signing in again opens a new session with a new key.
    await _login(client, user.email)
    assert client.cookies.get(session_cookie_name(settings)) != key
    token = await _csrf(client)
    out = await client.post("/logout", data={"csrf_token": token})
    assert out.status_code == 303
    assert (await client.get("/account")).status_code == 303


async def test_wrong_password_and_unknown_email_answer_alike(client, make_user):
    user = await make_user()
    wrong = await _login(client, user.email, "not-the-password-at-all")
    unknown = await _login(client, "nobody@example.org", "not-the-password-at-all")
    assert wrong.status_code == unknown.status_code == 422
    message = "The email address or the password is not right."
    assert message in wrong.text and message in unknown.text
    assert f'value="{user.email}"' in wrong.text  # what was typed is kept...
    assert "not-the-password-at-all" not in wrong.text  # ...but never the password


async def test_unverified_account_is_told_to_verify(client, make_user):
    user = await make_user(verified=False)
    response = await _login(client, user.email)
    assert response.status_code == 422
    assert "confirm your email address" in response.text


async def test_throttled_per_account_with_retry_after(client, make_user, settings):
    user = await make_user()
    limit = settings.security.throttle_per_account
    for _ in range(limit):
        assert (await _login(client, user.email, "wrong-password-x")).status_code == 422
    blocked = await _login(client, user.email, PASSWORD)
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    assert await Session.filter(user_id=user.id).count() == 0


async def test_next_survives_the_second_factor_step(client, make_user):
    staff = await make_user(role=Role.STAFF)
    response = await _login(client, staff.email, next_url="/admin/embassies?a=1&b=2")
    assert response.headers["location"] == (
        "/account/two-factor/setup?next=/admin/embassies%3Fa%3D1%26b%3D2"
    )


async def test_next_must_be_a_local_path(client, make_user):
    user = await make_user()
    response = await _login(client, user.email, next_url="//evil.example.org/x")
    assert response.headers["location"] == "/account"
    await client.post("/logout", data={"csrf_token": await _csrf(client)})
    response = await _login(client, user.email, next_url="/account?tab=1")
    assert response.headers["location"] == "/account?tab=1"


async def test_privileged_roles_must_pass_a_second_factor(client, make_user):
    staff = await make_user(role=Role.STAFF)
    response = await _login(client, staff.email)
    assert response.status_code == 303
    assert response.headers["location"] == "/account/two-factor/setup?next=/account"
    session = await Session.get(user_id=staff.id)
    assert session.mfa_passed is False
    # A partial session reaches nothing but the second-factor pages.
    blocked = await client.get("/account")
    assert blocked.status_code == 303
    assert blocked.headers["location"] == "/login/second-factor"


async def test_idle_and_absolute_timeouts_and_deactivation(make_user, settings, db):
    from engage.accounts.sessions import create_session

    user = await make_user()
    now = utcnow()
    sec = settings.security
    opened = await create_session(
        user, mfa_passed=True, ip="", user_agent="", now=now, security=sec
    )
    assert await load_session(opened.key, now=now + timedelta(minutes=5), security=sec)
    idle = now + timedelta(minutes=sec.session_idle_minutes + 10)
    assert await load_session(opened.key, now=idle, security=sec) is None
    assert await Session.filter(user_id=user.id).count() == 0  # ended, not just refused

    opened = await create_session(
        user, mfa_passed=True, ip="", user_agent="", now=now, security=sec
    )
    later = now
    for _ in range(sec.session_absolute_hours * 60 // sec.session_idle_minutes + 2):
        later += timedelta(minutes=sec.session_idle_minutes - 1)
        if await load_session(opened.key, now=later, security=sec) is None:
            break
    assert later - now >= timedelta(hours=sec.session_absolute_hours)

    opened = await create_session(
        user, mfa_passed=True, ip="", user_agent="", now=now, security=sec
    )
    user.is_active = False
    await user.save()
    assert await load_session(opened.key, now=now, security=sec) is None


async def test_secure_headers_on_html(client, make_user, sign_in):
    page = await client.get("/login")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    await sign_in(client, await make_user())
    assert (await client.get("/account")).headers["cache-control"] == "no-store"
