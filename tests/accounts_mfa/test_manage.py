"""Managing the second factor: alumni may turn it off, privileged roles may not; new
recovery codes and a new authenticator need the password."""

from __future__ import annotations

from engage.accounts.models import AuditEvent, RecoveryCode, Role, Session, User
from engage.web.identity import session_cookie_name
from tests.accounts_mfa.helpers import (
    code,
    csrf_of,
    enrol,
    key_of,
    post_form,
    recovery_codes_of,
    sign_in_form,
)
from tests.factories import PASSWORD

MANAGE = "/account/two-factor"


async def _signed_in_with_totp(client, make_user, **fields):
    user = await make_user(**fields)
    await sign_in_form(client, user)
    secret, codes, _done = await enrol(client)
    return user, secret, codes


async def test_manage_page_without_totp_offers_setup(client, make_user):
    await sign_in_form(client, await make_user())
    page = await client.get(MANAGE)
    assert page.status_code == 200
    assert "Two-factor authentication is off." in page.text
    assert 'href="/account/two-factor/setup"' in page.text


async def test_alumnus_turns_it_off_with_the_password(client, make_user, settings):
    user, _secret, _codes = await _signed_in_with_totp(client, make_user)
    page = await client.get(MANAGE)
    assert "Turn off two-factor authentication" in page.text
    wrong = await post_form(client, MANAGE, f"{MANAGE}/disable", password="not-my-password-1")
    assert wrong.status_code == 422
    assert "That password is not right." in wrong.text
    await user.refresh_from_db()
    assert user.totp_enabled_at is not None
    key_before = client.cookies.get(session_cookie_name(settings))

    done = await post_form(client, MANAGE, f"{MANAGE}/disable", password=PASSWORD)
    assert done.status_code == 303
    assert done.headers["location"] == f"{MANAGE}?done=disabled"
    assert client.cookies.get(session_cookie_name(settings)) != key_before
    await user.refresh_from_db()
    assert user.totp_enabled_at is None and user.totp_secret is None
    assert await RecoveryCode.filter(user_id=user.id).count() == 0
    assert await AuditEvent.filter(action="mfa.disable", target_id=str(user.id)).count() == 1
    after = await client.get(done.headers["location"])
    assert "Two-factor authentication is off." in after.text


async def test_staff_cannot_turn_it_off(client, make_user):
    user, _secret, _codes = await _signed_in_with_totp(client, make_user, role=Role.STAFF)
    page = await client.get(MANAGE)
    assert "Turn off two-factor authentication" not in page.text
    assert "cannot be turned off" in page.text
    refused = await post_form(client, MANAGE, f"{MANAGE}/disable", password=PASSWORD)
    assert refused.status_code == 403
    await user.refresh_from_db()
    assert user.totp_enabled_at is not None
    assert await AuditEvent.filter(action="mfa.disable").count() == 0


async def test_new_recovery_codes_replace_the_old(client, make_user):
    user, _secret, old = await _signed_in_with_totp(client, make_user)
    wrong = await post_form(client, MANAGE, f"{MANAGE}/recovery-codes", password="nope-nope-nope")
    assert wrong.status_code == 422
    done = await post_form(client, MANAGE, f"{MANAGE}/recovery-codes", password=PASSWORD)
    assert done.status_code == 200
    assert done.headers["cache-control"] == "no-store"
    new = recovery_codes_of(done.text)
    assert len(new) == 10 and not set(new) & set(old)
    assert "Your previous codes no longer work." in done.text
    assert await RecoveryCode.filter(user_id=user.id).count() == 10
    assert (
        await AuditEvent.filter(
            action="mfa.recovery_codes_regenerated", target_id=str(user.id)
        ).count()
        == 1
    )


async def test_password_confirmation_is_throttled(client, make_user, settings):
    await _signed_in_with_totp(client, make_user)
    for _attempt in range(settings.security.throttle_per_account):
        wrong = await post_form(client, MANAGE, f"{MANAGE}/recovery-codes", password="nope-nope")
        assert wrong.status_code == 422
    throttled = await post_form(client, MANAGE, f"{MANAGE}/recovery-codes", password=PASSWORD)
    assert throttled.status_code == 429
    assert "retry-after" in throttled.headers


async def test_staff_moves_to_a_new_authenticator(client, make_user, settings):
    user, old_secret, _codes = await _signed_in_with_totp(client, make_user, role=Role.STAFF)
    done = await post_form(client, MANAGE, f"{MANAGE}/reset", password=PASSWORD)
    assert done.status_code == 303
    assert done.headers["location"] == "/account/two-factor/setup?next=/account/two-factor"
    assert await AuditEvent.filter(action="mfa.reset", target_id=str(user.id)).count() == 1
    # The session drops back to partial: the new authenticator comes before anything else.
    session = await Session.get(user_id=user.id)
    assert session.mfa_passed is False
    blocked = await client.get("/account")
    assert blocked.status_code == 303
    assert blocked.headers["location"] == "/login/second-factor"
    page = await client.get(done.headers["location"])
    assert page.status_code == 200
    new_secret = key_of(page.text)
    assert new_secret != old_secret
    refused = await client.post(
        "/account/two-factor/setup",
        data={"csrf_token": csrf_of(page.text), "code": code(old_secret, steps=1)},
    )
    assert refused.status_code == 422
    _secret, codes, finished = await enrol(client, done.headers["location"])
    assert len(codes) == 10
    assert 'href="/account/two-factor"' in finished.text
    assert (await client.get("/account")).status_code == 200
    await user.refresh_from_db()
    assert user.totp_enabled_at is not None


async def test_alumnus_resets_and_keeps_a_full_session(client, make_user):
    user, _old, _codes = await _signed_in_with_totp(client, make_user)
    done = await post_form(client, MANAGE, f"{MANAGE}/reset", password=PASSWORD)
    assert done.status_code == 303
    assert (await client.get("/account")).status_code == 200
    await user.refresh_from_db()
    assert user.totp_enabled_at is None
    assert await User.filter(id=user.id, totp_secret__isnull=True).exists()
