"""Forgotten passwords: the reset email arrives through the outbox at a real SMTP
server; its link works once, for a few hours, and ends every session."""

from __future__ import annotations

from datetime import timedelta

from engage.accounts.models import AuditEvent, Session, User
from engage.accounts.passwords import verify_password
from engage.clock import utcnow
from engage.tokens import make_token
from tests.accounts.conftest import link_in, text_of
from tests.conftest import TEST_SECRET
from tests.factories import PASSWORD

NEW_PASSWORD = "copper-lantern-meadow-19"


async def _ask(client, email: str) -> None:
    response = await client.post("/password/forgot", data={"email": email})
    assert response.status_code == 200
    assert "Check your inbox" in response.text


async def test_reset_by_email_works_once_and_ends_every_session(
    client, app, mailbox, csrf, make_user, sign_in, settings
):
    import httpx

    user = await make_user(email="Amani@example.ke")
    # A session elsewhere (another device) that the reset must end.
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    await sign_in(other, user)
    assert (await other.get("/account")).status_code == 200

    csrf(client)
    assert (await client.get("/password/forgot")).status_code == 200
    await _ask(client, "amani@EXAMPLE.ke")
    assert await mailbox.deliver() == 1
    message = mailbox.last("amani@example.ke")
    assert "new password" in str(message["Subject"])
    assert "2 hours" in text_of(message)
    path = link_in(message)
    assert path.startswith("/password/reset/")

    form = await client.get(path)
    assert form.status_code == 200
    assert form.headers["referrer-policy"] == "no-referrer"
    assert 'autocomplete="new-password"' in form.text

    weak = await client.post(path, data={"password": "password"})
    assert weak.status_code == 422
    assert "too easy to guess" in weak.text
    assert (await client.get(path)).status_code == 200, "a refused password keeps the link"

    done = await client.post(path, data={"password": NEW_PASSWORD})
    assert done.status_code == 200
    assert "Password saved" in done.text
    assert "Sign in" in done.text
    # Nobody is signed in by the link.
    assert (await client.get("/account")).status_code == 303

    await user.refresh_from_db()
    ok, _rehash = await verify_password(user.password_hash, NEW_PASSWORD, settings.security)
    assert ok
    assert await Session.filter(user_id=user.id).count() == 0
    assert (await other.get("/account")).status_code == 303
    await other.aclose()
    assert await AuditEvent.filter(action="user.password_reset", target_id=str(user.id)).exists()

    # Used once: the same page for a used link as for a forged one.
    used = await client.get(path)
    assert used.status_code == 404
    assert "This link is not valid" in used.text
    again = await client.post(path, data={"password": "yet-another-fine-phrase-5"})
    assert again.status_code == 404
    forged = await client.get("/password/reset/" + path.rsplit("/", 1)[1][:-2] + "xx")
    assert forged.status_code == 404
    assert _main(forged.text) == _main(used.text)

    # A notice of the change went to the address.
    await mailbox.deliver()
    assert "password was changed" in str(mailbox.last("amani@example.ke")["Subject"])

    login = await client.post("/login", data={"email": "amani@example.ke", "password": PASSWORD})
    assert login.status_code == 422
    login = await client.post(
        "/login", data={"email": "amani@example.ke", "password": NEW_PASSWORD}
    )
    assert login.status_code == 303


def _main(html: str) -> str:
    return html[html.index("<main") : html.index("</main>")]


async def test_only_the_newest_link_works(client, mailbox, csrf, make_user, monkeypatch):
    await make_user(email="minh@example.vn")
    csrf(client)
    await _ask(client, "minh@example.vn")
    await _ask(client, "minh@example.vn")
    assert await mailbox.deliver() == 2
    # The worker sends in parallel: order the links by the version they carry.
    links = sorted(
        (link_in(m) for m in mailbox.messages("minh@example.vn")),
        key=lambda link: int(link.rsplit("/", 1)[1].split(".")[1]),
    )
    first, second = links
    assert first != second
    assert (await client.get(first)).status_code == 404
    assert (await client.get(second)).status_code == 200


async def test_an_expired_link_is_not_valid(client, mailbox, csrf, make_user, monkeypatch):
    await make_user(email="jose@example.co")
    csrf(client)
    await _ask(client, "jose@example.co")
    await mailbox.deliver()
    path = link_in(mailbox.last("jose@example.co"))
    later = utcnow() + timedelta(hours=2, minutes=1)
    monkeypatch.setattr("engage.web.password.utcnow", lambda: later)
    response = await client.get(path)
    assert response.status_code == 404
    assert "This link is not valid" in response.text
    response = await client.post(path, data={"password": NEW_PASSWORD})
    assert response.status_code == 404


async def test_a_token_of_another_purpose_does_not_reset(client, make_user):
    user = await make_user()
    verify_token = make_token(TEST_SECRET, "verify", user.id, user.reset_version)
    assert (await client.get(f"/password/reset/{verify_token}")).status_code == 404


async def test_unknown_and_deactivated_addresses_get_nothing(client, mailbox, csrf, make_user):
    await make_user(email="gone@example.org", is_active=False)
    csrf(client)
    await _ask(client, "gone@example.org")
    await _ask(client, "nobody@example.org")
    assert await mailbox.deliver() == 0


async def test_reset_confirms_an_unconfirmed_address(client, mailbox, csrf, make_user):
    user = await make_user(email="late@example.org", verified=False)
    csrf(client)
    await _ask(client, "late@example.org")
    await mailbox.deliver()
    path = link_in(mailbox.last("late@example.org"))
    assert (await client.post(path, data={"password": NEW_PASSWORD})).status_code == 200
    await user.refresh_from_db()
    assert user.email_verified_at is not None
    assert (await User.get(id=user.id)).reset_expires_at is None


async def test_reset_without_csrf_token_changes_nothing(client, mailbox, csrf, make_user):
    user = await make_user(email="csrf@example.org")
    csrf(client)
    await _ask(client, "csrf@example.org")
    await mailbox.deliver()
    path = link_in(mailbox.last("csrf@example.org"))
    del client.headers["X-CSRF-Token"]
    response = await client.post(path, data={"password": NEW_PASSWORD})
    assert response.status_code == 403
    before = user.password_hash
    await user.refresh_from_db()
    assert user.password_hash == before
    assert (await client.get(path)).status_code == 200, "the link is still unused"


async def test_reset_requests_are_throttled(client, csrf, make_user, settings):
    await make_user(email="t@example.org")
    csrf(client)
    for _ in range(settings.security.throttle_per_account):
        await _ask(client, "t@example.org")
    response = await client.post("/password/forgot", data={"email": "T@example.org"})
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0


async def test_link_tokens_stay_out_of_the_access_log(client, mailbox, csrf, make_user, caplog):
    import logging

    await make_user(email="log@example.org")
    csrf(client)
    await _ask(client, "log@example.org")
    await mailbox.deliver()
    path = link_in(mailbox.last("log@example.org"))
    token = path.rsplit("/", 1)[1]
    with caplog.at_level(logging.INFO, logger="engage.access"):
        assert (await client.get(path)).status_code == 200
        assert (await client.get("/verify/" + token)).status_code == 404
        assert (await client.get("/verify/resend")).status_code == 200
    paths = [getattr(r, "path", "") for r in caplog.records if r.name == "engage.access"]
    assert paths == ["/password/reset/<token>", "/verify/<token>", "/verify/resend"]
    assert token not in caplog.text
