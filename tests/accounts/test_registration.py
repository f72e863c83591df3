"""Alumni registration and email confirmation, through the pages, the outbox and a
real SMTP server."""

from __future__ import annotations

from datetime import timedelta

from engage.accounts.models import Role, User
from engage.clock import utcnow
from engage.mail.models import OutboxMessage
from tests.accounts.conftest import PROFILE, link_in, text_of
from tests.factories import PASSWORD


async def test_register_confirm_and_sign_in(client, mailbox, csrf):
    csrf(client)
    page = await client.get("/register")
    assert page.status_code == 200
    assert 'name="csrf_token"' in page.text

    response = await client.post(
        "/register", data={"email": "Amani.Wanjiru@Example.KE", "password": PASSWORD, **PROFILE}
    )
    assert response.status_code == 200
    assert "Check your inbox" in response.text
    user = await User.get(email_key="amani.wanjiru@example.ke")
    assert user.role == Role.ALUMNUS
    assert user.email == "Amani.Wanjiru@Example.KE"
    assert user.email_verified_at is None
    assert user.password_hash and user.password_hash.startswith("$argon2id$")

    # Not confirmed yet: signing in says so (only to whoever knows the password).
    login = await client.post(
        "/login", data={"email": "amani.wanjiru@example.ke", "password": PASSWORD}
    )
    assert login.status_code == 422
    assert "confirm your email address" in login.text

    assert await mailbox.deliver() == 1
    message = mailbox.last("amani.wanjiru@example.ke")
    assert "Confirm your email address" in str(message["Subject"])
    path = link_in(message)
    assert path.startswith("/verify/")
    # No token in the outbox row: it is derived at send time.
    row = await OutboxMessage.get(template="verify_email")
    assert path.split("/")[-1] not in str(row.context)

    confirm = await client.get(path)
    assert confirm.status_code == 200
    assert confirm.headers["referrer-policy"] == "no-referrer"
    assert "Confirm my address" in confirm.text
    await user.refresh_from_db()
    assert user.email_verified_at is None, "opening the link (a mail scanner) changes nothing"

    done = await client.post(path)
    assert done.status_code == 200
    assert "Address confirmed" in done.text
    await user.refresh_from_db()
    assert user.email_verified_at is not None

    # The link works once.
    again = await client.get(path)
    assert again.status_code == 404
    assert "This link is not valid" in again.text
    again = await client.post(path)
    assert again.status_code == 404
    assert "This link is not valid" in again.text

    login = await client.post(
        "/login", data={"email": "amani.wanjiru@example.ke", "password": PASSWORD}
    )
    assert login.status_code == 303
    assert login.headers["location"] == "/account"
    account = await client.get("/account")
    assert account.status_code == 200
    assert "Amani.Wanjiru@Example.KE" in account.text
    assert text_of(message).count("/verify/") == 1


async def test_a_known_address_gets_a_notice_not_a_second_account(client, mailbox, csrf, make_user):
    existing = await make_user(email="minh@example.vn")
    csrf(client)
    response = await client.post(
        "/register",
        data={"email": "MINH@example.vn", "password": "another-long-passphrase-77", **PROFILE},
    )
    assert response.status_code == 200
    assert await User.filter(email_key="minh@example.vn").count() == 1
    await existing.refresh_from_db()
    assert existing.password_hash is not None
    assert await mailbox.deliver() == 1
    message = mailbox.last("minh@example.vn")
    assert "already have an account" in str(message["Subject"])
    body = text_of(message)
    assert "/password/forgot" in body
    assert "/verify/" not in body


def _normalise(html: str, email: str) -> str:
    return html.replace(email, "EMAIL")


async def test_register_resend_and_reset_answer_alike_for_known_and_unknown(
    client, csrf, make_user
):
    await make_user(email="known@example.org")
    await make_user(email="unverified@example.org", verified=False)
    csrf(client)
    for path, extra in (
        ("/register", {"password": "amber-falcon-harbour-42", **PROFILE}),
        ("/verify/resend", {}),
        ("/password/forgot", {}),
    ):
        answers = []
        for email in ("known@example.org", "unverified@example.org", "nobody@example.org"):
            response = await client.post(path, data={"email": email, **extra})
            answers.append(
                (
                    response.status_code,
                    _normalise(response.text, email),
                    sorted(k for k in response.headers if k not in ("x-request-id",)),
                )
            )
        assert answers[0] == answers[1] == answers[2], path
        assert answers[0][0] == 200


async def test_resend_sends_the_same_link_again(client, mailbox, csrf, monkeypatch):
    csrf(client)
    await client.post(
        "/register", data={"email": "jose@example.co", "password": PASSWORD, **PROFILE}
    )
    # A double click right away sends nothing more.
    response = await client.post("/verify/resend", data={"email": "jose@example.co"})
    assert response.status_code == 200
    assert "Check your inbox" in response.text
    assert await mailbox.deliver() == 1
    first = link_in(mailbox.last("jose@example.co"))

    later = utcnow() + timedelta(minutes=15)
    monkeypatch.setattr("engage.web.registration.utcnow", lambda: later)
    response = await client.post("/verify/resend", data={"email": "jose@example.co"})
    assert response.status_code == 200
    assert await mailbox.deliver() == 1
    second = link_in(mailbox.last("jose@example.co"))
    assert first == second, "a resend carries the same link"
    assert (await client.post(second)).status_code == 200
    assert (await client.post(first)).status_code == 404


async def test_weak_password_and_bad_address_keep_what_was_typed(client, csrf):
    csrf(client)
    response = await client.post(
        "/register", data={"email": "not-an-address", "password": "password1"}
    )
    assert response.status_code == 422
    html = response.text
    assert 'value="not-an-address"' in html
    assert 'aria-invalid="true"' in html
    assert 'aria-describedby="email-hint email-error"' in html
    assert 'id="password-error"' in html
    assert "password1" not in html, "a password is never echoed"
    assert await User.all().count() == 0

    response = await client.post("/register", data={"email": "ok@example.org", "password": "short"})
    assert response.status_code == 422
    assert "at least 8 characters" in response.text
    assert await User.all().count() == 0


async def test_post_without_csrf_token_is_refused_and_changes_nothing(client, settings):
    from engage.web.identity import csrf_cookie_name

    for path, data in (
        ("/register", {"email": "x@example.org", "password": PASSWORD}),
        ("/verify/resend", {"email": "x@example.org"}),
        ("/password/forgot", {"email": "x@example.org"}),
    ):
        response = await client.post(path, data=data)
        assert response.status_code == 403, path
        # A cookie alone, or a token that does not match it, is not enough.
        client.cookies.set(csrf_cookie_name(settings), "a" * 43)
        response = await client.post(path, data={**data, "csrf_token": "b" * 43})
        assert response.status_code == 403, path
        client.cookies.clear()
    assert await User.all().count() == 0
    assert await OutboxMessage.all().count() == 0


async def test_registration_is_throttled_per_address_and_per_ip(client, csrf, settings):
    csrf(client)
    limit = settings.security.throttle_per_account
    for _ in range(limit):
        response = await client.post(
            "/register", data={"email": "busy@example.org", "password": PASSWORD, **PROFILE}
        )
        assert response.status_code == 200
    response = await client.post(
        "/register", data={"email": "busy@example.org", "password": PASSWORD, **PROFILE}
    )
    assert response.status_code == 429
    retry_after = int(response.headers["retry-after"])
    assert 0 < retry_after <= settings.security.throttle_window_seconds
    assert "Too many attempts" in response.text
    assert 'value="busy@example.org"' in response.text

    # Another address from the same IP still works, until the per-IP limit.
    response = await client.post(
        "/register", data={"email": "other@example.org", "password": PASSWORD, **PROFILE}
    )
    assert response.status_code == 200
    for _ in range(settings.security.throttle_per_ip):
        await client.post("/verify/resend", data={"email": "x@example.org"})
    response = await client.post("/verify/resend", data={"email": "fresh@example.org"})
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0


async def test_verification_link_for_a_forged_or_unknown_token(client):
    for token in ("garbage", "1.0." + "A" * 43, "999999.0." + "A" * 43):
        response = await client.get(f"/verify/{token}")
        assert response.status_code == 404
        assert "This link is not valid" in response.text


async def test_registration_hashes_the_password_for_known_and_unknown(
    client, csrf, make_user, monkeypatch
):
    import engage.accounts.registration as registration

    calls: list[str] = []
    real = registration.hash_password

    async def counting(password, settings):
        calls.append(password)
        return await real(password, settings)

    monkeypatch.setattr(registration, "hash_password", counting)
    await make_user(email="known@example.org")
    csrf(client)
    for email in ("known@example.org", "unknown@example.org"):
        response = await client.post(
            "/register", data={"email": email, "password": PASSWORD, **PROFILE}
        )
        assert response.status_code == 200
    assert calls == [PASSWORD, PASSWORD], "the slow step runs whether or not the address exists"
