"""Enrolment: a new secret (sealed in the database), confirmed by a code, then ten
recovery codes shown once and stored hashed."""

from __future__ import annotations

import hashlib

from engage.accounts.mfa import start_enrolment
from engage.accounts.models import AuditEvent, RecoveryCode, Role, Session, User
from engage.accounts.secretbox import SealedValueError, unseal
from engage.accounts.sessions import create_session
from engage.clock import utcnow
from engage.web.identity import session_cookie_name
from tests.accounts_mfa.helpers import (
    code,
    csrf_of,
    enrol,
    key_of,
    login,
    recovery_codes_of,
    sign_in_form,
)


async def test_setup_page_shows_a_qr_code_and_the_key(client, make_user):
    user = await make_user(email="Ілля@example.ua")
    await sign_in_form(client, user)
    page = await client.get("/account/two-factor/setup")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert '<img src="data:image/svg+xml;' in page.text
    assert 'alt="QR code to add Engage to your authenticator app"' in page.text
    secret = key_of(page.text)
    assert len(secret) == 32
    # Reloading shows the same secret: the app scanned a moment ago stays valid.
    again = await client.get("/account/two-factor/setup")
    assert key_of(again.text) == secret
    await user.refresh_from_db()
    assert user.totp_enabled_at is None  # not until a code confirms it


async def test_a_wrong_code_is_refused_and_the_right_one_enables(client, make_user, settings):
    user = await make_user()
    await sign_in_form(client, user)
    key_before = client.cookies.get(session_cookie_name(settings))
    page = await client.get("/account/two-factor/setup")
    secret = key_of(page.text)
    wrong = str((int(code(secret)) + 1) % 1_000_000).zfill(6)
    refused = await client.post(
        "/account/two-factor/setup", data={"csrf_token": csrf_of(page.text), "code": wrong}
    )
    assert refused.status_code == 422
    assert "That code is not right" in refused.text
    assert key_of(refused.text) == secret  # the same secret, to try again
    await user.refresh_from_db()
    assert user.totp_enabled_at is None
    assert await RecoveryCode.filter(user_id=user.id).count() == 0

    done = await client.post(
        "/account/two-factor/setup", data={"csrf_token": csrf_of(page.text), "code": code(secret)}
    )
    assert done.status_code == 200
    assert done.headers["cache-control"] == "no-store"
    assert "Two-factor authentication is on" in done.text
    await user.refresh_from_db()
    assert user.totp_enabled_at is not None
    assert user.totp_last_step is not None  # the confirming code cannot be used again
    # A new session key, and the old one is gone.
    key_after = client.cookies.get(session_cookie_name(settings))
    assert key_after != key_before
    assert await Session.filter(user_id=user.id).count() == 1
    assert await AuditEvent.filter(action="mfa.enable", target_id=str(user.id)).count() == 1


async def test_recovery_codes_are_shown_once_and_stored_hashed(client, make_user):
    user = await make_user()
    await sign_in_form(client, user)
    _secret, codes, _done = await enrol(client)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    stored = await RecoveryCode.filter(user_id=user.id).values_list("code_hash", flat=True)
    assert len(stored) == 10
    for item in codes:
        bare = item.replace("-", "")
        assert all(bare not in digest and item not in digest for digest in stored)
    assert all(len(digest) == 64 for digest in stored)
    # Never shown again: the manage page counts them, the setup page is closed.
    manage = await client.get("/account/two-factor")
    assert manage.status_code == 200
    assert "You have 10 unused recovery codes." in manage.text
    assert recovery_codes_of(manage.text) == []
    assert all(item not in manage.text for item in codes)
    setup = await client.get("/account/two-factor/setup")
    assert setup.status_code == 303
    assert setup.headers["location"] == "/account/two-factor"


async def test_the_totp_secret_is_sealed_not_plain(client, make_user, settings):
    user = await make_user()
    other = await make_user()
    await sign_in_form(client, user)
    secret, _codes, _done = await enrol(client)
    await user.refresh_from_db()
    stored = user.totp_secret
    assert stored and secret not in stored and secret.lower() not in stored.lower()
    assert stored.startswith("v1.")
    assert unseal(settings.app.secret_key, "totp", stored, context=f"user:{user.id}") == secret
    # Another key, another row or another purpose cannot open it.
    for key, purpose, context in (
        ("another-secret-key-0123456789-abcdefghij", "totp", f"user:{user.id}"),
        (settings.app.secret_key, "totp", f"user:{other.id}"),
        (settings.app.secret_key, "other", f"user:{user.id}"),
    ):
        try:
            unseal(key, purpose, stored, context=context)
        except SealedValueError:
            pass
        else:
            raise AssertionError(f"opened with {purpose} {context}")
    # Copying the sealed value onto another account does not give it the secret.
    await User.filter(id=other.id).update(totp_secret=stored)
    enrolment = await start_enrolment(other, settings=settings)
    assert enrolment.secret != secret


async def test_a_privileged_account_without_totp_must_enrol_first(client, make_user, settings):
    staff = await make_user(role=Role.STAFF, email="staff.member@example.org")
    response = await login(client, staff.email, next_url="/account")
    assert response.status_code == 303
    assert response.headers["location"] == "/account/two-factor/setup?next=/account"
    partial_key = client.cookies.get(session_cookie_name(settings))
    # Nothing else is reachable until the second factor is set up.
    for path in ("/account", "/account/two-factor", "/admin/mailbox"):
        blocked = await client.get(path)
        assert blocked.status_code == 303, path
        assert blocked.headers["location"] == "/login/second-factor"
    waiting = await client.get("/login/second-factor")
    assert waiting.status_code == 303
    assert waiting.headers["location"].startswith("/account/two-factor/setup")
    page = await client.get("/account/two-factor/setup")
    assert page.status_code == 200
    assert "Your role requires a second step when you sign in." in page.text
    assert "Cancel and sign out" in page.text

    _secret, codes, done = await enrol(client)
    assert len(codes) == 10
    assert "I have saved my recovery codes" in done.text
    assert done.headers["cache-control"] == "no-store"
    assert 'href="/account"' in done.text and ">Sign out<" in done.text  # signed in now
    assert 'href="/account"' in done.text
    full_key = client.cookies.get(session_cookie_name(settings))
    assert full_key != partial_key
    account = await client.get("/account")
    assert account.status_code == 200
    assert await Session.filter(user_id=staff.id, mfa_passed=True).count() == 1
    assert await Session.filter(user_id=staff.id, mfa_passed=False).count() == 0
    assert await AuditEvent.filter(action="user.login", actor_id=staff.id).count() == 1


async def test_enrolling_ends_the_other_sessions(client, make_user, settings):
    user = await make_user()
    elsewhere = await create_session(
        user,
        mfa_passed=True,
        ip="192.0.2.1",
        user_agent="phone",
        now=utcnow(),
        security=settings.security,
    )
    await sign_in_form(client, user)
    assert await Session.filter(user_id=user.id).count() == 2
    await enrol(client)
    assert await Session.filter(user_id=user.id).count() == 1
    assert not await Session.exists(id=elsewhere.session.id)


async def test_recovery_code_hashes_are_bound_to_the_account(client, make_user):
    user = await make_user()
    await sign_in_form(client, user)
    _secret, codes, _done = await enrol(client)
    bare = codes[0].replace("-", "")
    plain_digest = hashlib.sha256(bare.encode()).hexdigest()
    assert not await RecoveryCode.exists(code_hash=plain_digest)
