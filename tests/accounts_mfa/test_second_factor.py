"""Signing in with a second factor: a TOTP code or a recovery code, each accepted once,
wrong codes throttled, and a new session key on success."""

from __future__ import annotations

from datetime import timedelta

from engage.accounts.models import AuditEvent, RecoveryCode, Role, Session
from engage.accounts.sessions import load_session
from engage.clock import utcnow
from engage.web.identity import session_cookie_name
from tests.accounts_mfa.helpers import (
    code,
    csrf_of,
    enrol,
    key_of,
    login,
    second_factor,
    sign_in_form,
)


async def _enrolled(client, make_user, **fields):
    """A user with TOTP on (enrolled through the pages), signed out again."""
    user = await make_user(**fields)
    await sign_in_form(client, user)
    secret, codes, _done = await enrol(client)
    client.cookies.clear()
    return user, secret, codes


async def test_totp_login_partial_session_then_full(client, make_user, settings):
    user, secret, _codes = await _enrolled(client, make_user, email="minh@example.vn")
    response = await login(client, user.email, next_url="/account/two-factor")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login/second-factor?next=")
    partial_key = client.cookies.get(session_cookie_name(settings))
    # The password alone does not open the account.
    blocked = await client.get("/account")
    assert blocked.status_code == 303
    assert blocked.headers["location"] == "/login/second-factor"
    page = await client.get("/login/second-factor?next=/account/two-factor")
    assert page.status_code == 200
    assert 'autocomplete="one-time-code"' in page.text
    assert 'name="next" value="/account/two-factor"' in page.text

    done = await second_factor(client, code(secret, steps=1), "/account/two-factor")
    assert done.status_code == 303
    assert done.headers["location"] == "/account/two-factor"
    full_key = client.cookies.get(session_cookie_name(settings))
    assert full_key and full_key != partial_key
    account = await client.get("/account")
    assert account.status_code == 200
    assert "minh@example.vn" in account.text
    # The partial session is gone: its key opens nothing.
    assert await Session.filter(user_id=user.id, mfa_passed=False).count() == 0
    assert await load_session(partial_key, now=utcnow(), security=settings.security) is None
    # Signed in once before enrolling, once now: a login is recorded only when complete.
    assert await AuditEvent.filter(action="user.login", actor_id=user.id).count() == 2


async def test_a_code_is_never_accepted_twice(client, make_user):
    user, secret, _codes = await _enrolled(client, make_user)
    typed = code(secret, steps=1)
    await login(client, user.email)
    assert (await second_factor(client, typed)).status_code == 303
    client.cookies.clear()
    await login(client, user.email)
    replay = await second_factor(client, typed)
    assert replay.status_code == 422
    assert "it has been used already" in replay.text
    assert (await client.get("/account")).status_code == 303
    assert await AuditEvent.filter(action="mfa.failed", target_id=str(user.id)).count() == 1


async def test_the_enrolment_code_cannot_sign_in(client, make_user):
    user = await make_user()
    await sign_in_form(client, user)
    page = await client.get("/account/two-factor/setup")

    secret = key_of(page.text)
    typed = code(secret)
    done = await client.post(
        "/account/two-factor/setup", data={"csrf_token": csrf_of(page.text), "code": typed}
    )
    assert done.status_code == 200
    client.cookies.clear()
    await login(client, user.email)
    assert (await second_factor(client, typed)).status_code == 422


async def test_a_recovery_code_works_once(client, make_user, settings):
    user, _secret, codes = await _enrolled(client, make_user)
    await login(client, user.email)
    # Typed loosely: upper case, spaces instead of hyphens.
    loose = codes[3].upper().replace("-", " ")
    done = await second_factor(client, loose)
    assert done.status_code == 303
    assert (await client.get("/account")).status_code == 200
    assert await RecoveryCode.filter(user_id=user.id, used_at__isnull=False).count() == 1
    event = await AuditEvent.get(action="mfa.recovery_code_used", target_id=str(user.id))
    assert event.details == {"left": 9}
    manage = await client.get("/account/two-factor")
    assert "You have 9 unused recovery codes." in manage.text

    client.cookies.clear()
    await login(client, user.email)
    again = await second_factor(client, codes[3])
    assert again.status_code == 422
    assert (await client.get("/account")).status_code == 303
    other = await second_factor(client, codes[4])
    assert other.status_code == 303


async def test_wrong_codes_are_throttled(client, make_user, settings):
    user, secret, _codes = await _enrolled(client, make_user)
    await login(client, user.email)
    limit = settings.security.throttle_per_account
    for _attempt in range(limit):
        wrong = await second_factor(client, "000000" if code(secret) != "000000" else "111111")
        assert wrong.status_code == 422
    throttled = await second_factor(client, code(secret, steps=1))
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    assert "Too many attempts" in throttled.text
    assert (await client.get("/account")).status_code == 303
    assert await AuditEvent.filter(action="mfa.failed", target_id=str(user.id)).count() == limit


async def test_garbage_is_refused_politely(client, make_user):
    user, _secret, _codes = await _enrolled(client, make_user)
    await login(client, user.email)
    for typed in ("", "12345", "abc", "1234567", "x" * 500):
        response = await second_factor(client, typed)
        assert response.status_code == 422, typed
        assert "That code is not right" in response.text


async def test_second_factor_requires_a_signed_in_session(client):
    response = await client.get("/login/second-factor")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")
    setup = await client.get("/account/two-factor/setup")
    assert setup.status_code == 303
    assert setup.headers["location"].startswith("/login?next=")


async def test_a_full_session_skips_the_second_factor_page(client, make_user):
    await sign_in_form(client, await make_user())
    response = await client.get("/login/second-factor?next=/account")
    assert response.status_code == 303
    assert response.headers["location"] == "/account"


async def test_next_must_stay_on_this_site(client, make_user):
    user, secret, _codes = await _enrolled(client, make_user)
    await login(client, user.email)
    done = await second_factor(client, code(secret, steps=1), "//evil.example/x")
    assert done.status_code == 303
    assert done.headers["location"] == "/account"


async def test_the_second_factor_must_follow_the_password_soon(client, make_user):
    user, secret, _codes = await _enrolled(client, make_user)
    await login(client, user.email)
    session = await Session.get(user_id=user.id, mfa_passed=False)
    session.created_at = utcnow() - timedelta(minutes=16)
    await session.save(update_fields=["created_at"])
    late = await second_factor(client, code(secret, steps=1))
    assert late.status_code == 303
    assert late.headers["location"].startswith("/login?next=")
    assert await Session.filter(user_id=user.id, mfa_passed=False).count() == 0


async def test_attache_signs_in_with_totp(client, make_user, make_embassy):
    await make_embassy(code="NBO", accredited=["KE", "SO"])
    attache, secret, _codes = await _enrolled(
        client, make_user, role=Role.ATTACHE, embassies=["NBO"]
    )
    response = await login(client, attache.email)
    assert response.headers["location"].startswith("/login/second-factor")
    assert (await second_factor(client, code(secret, steps=1))).status_code == 303
    assert (await client.get("/account")).status_code == 200
