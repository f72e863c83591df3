"""Alumni registration and email confirmation, through the pages, the outbox and a
real SMTP server."""

from __future__ import annotations

from engage.accounts.models import Role, User
from engage.mail.models import OutboxMessage
from tests.accounts.conftest import link_in, text_of
from tests.factories import PASSWORD


async def test_register_confirm_and_sign_in(client, mailbox, csrf):
    csrf(client)
    page = await client.get("/register")
    assert page.status_code == 200
    assert 'name="csrf_token"' in page.text

    response = await client.post(
        "/register", data={"email": "Amani.Wanjiru@Example.KE", "password": PASSWORD}
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
