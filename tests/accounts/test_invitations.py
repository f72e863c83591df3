"""Admins invite staff and attachés by email and deactivate accounts."""

from __future__ import annotations

from datetime import timedelta

import httpx

from engage.accounts.models import AuditEvent, EmbassyAssignment, Role, Session, User
from engage.clock import utcnow
from tests.accounts.conftest import link_in, text_of

CHOSEN = "granite-orchid-violin-63"


async def test_admin_invites_an_attache_who_sets_a_password(
    client, app, mailbox, make_user, make_embassy, sign_in
):
    await make_embassy(code="NBO", country="KE", accredited=["KE", "SO"])
    await make_embassy(code="BOG", country="CO", timezone="America/Bogota", city="Bogotá")
    admin = await make_user(role=Role.ADMIN)
    await sign_in(client, admin)

    form = await client.get("/admin/users/invite")
    assert form.status_code == 200
    assert 'value="NBO"' in form.text and 'value="BOG"' in form.text

    response = await client.post(
        "/admin/users/invite",
        data={"email": "Attache.Nairobi@Example.gov", "role": "attache", "embassies": ["NBO"]},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/users?done=invited"
    listing = await client.get(response.headers["location"])
    assert "The invitation is on its way." in listing.text
    assert "Attache.Nairobi@Example.gov" in listing.text
    assert "Invited" in listing.text

    invited = await User.get(email_key="attache.nairobi@example.gov")
    assert invited.role == Role.ATTACHE
    assert invited.password_hash is None
    assert invited.email_verified_at is None
    codes = await EmbassyAssignment.filter(user_id=invited.id).values_list(
        "embassy__code", flat=True
    )
    assert codes == ["NBO"]
    assert await AuditEvent.filter(action="user.invite", actor_id=admin.id).exists()

    assert await mailbox.deliver() == 1
    message = mailbox.last("attache.nairobi@example.gov")
    assert "invited" in str(message["Subject"])
    assert "attaché" in text_of(message)
    assert "72 hours" in text_of(message)
    path = link_in(message)
    assert path.startswith("/invite/")

    guest = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    page = await guest.get(path)
    assert page.status_code == 200
    assert "Choose your password" in page.text
    token = page.cookies.get("engage_csrf") or guest.cookies.get("engage_csrf")
    done = await guest.post(path, data={"password": CHOSEN, "csrf_token": token})
    assert done.status_code == 200
    assert "Your account is ready" in done.text
    await invited.refresh_from_db()
    assert invited.password_hash is not None
    assert invited.email_verified_at is not None

    # Once only.
    assert (await guest.get(path)).status_code == 404
    again = await guest.post(path, data={"password": "other-fine-phrase-88", "csrf_token": token})
    assert again.status_code == 404

    # Signing in now asks for a second factor (attachés must use one).
    login = await guest.post(
        "/login",
        data={"email": "attache.nairobi@example.gov", "password": CHOSEN, "csrf_token": token},
    )
    assert login.status_code == 303
    assert login.headers["location"].startswith("/account/two-factor/setup")
    await guest.aclose()


async def test_invitation_rules(client, make_user, make_embassy, sign_in):
    await make_embassy(code="NBO")
    await sign_in(client, await make_user(role=Role.ADMIN))
    for data, field in (
        ({"email": "a@example.org", "role": "attache"}, "embassies-error"),
        ({"email": "a@example.org", "role": "staff", "embassies": ["NBO"]}, "embassies-error"),
        ({"email": "a@example.org", "role": "alumnus"}, "role-error"),
        ({"email": "a@example.org", "role": "admin"}, "role-error"),
        ({"email": "a@example.org"}, "role-error"),
        ({"email": "nope", "role": "staff"}, "email-error"),
    ):
        response = await client.post("/admin/users/invite", data=data)
        assert response.status_code == 422, data
        assert f'id="{field}"' in response.text, data
        assert 'value="' + data["email"] + '"' in response.text
    taken = await make_user(email="taken@example.org")
    response = await client.post(
        "/admin/users/invite", data={"email": "TAKEN@example.org", "role": "staff"}
    )
    assert response.status_code == 409
    assert "already exists" in response.text
    assert await User.filter(email_key="a@example.org").count() == 0
    assert await User.filter(id=taken.id).exists()


async def test_only_admins_reach_the_users_pages(client, make_user, make_embassy, sign_in):
    await make_embassy(code="NBO")
    assert (await client.get("/admin/users")).status_code == 303
    for role in (Role.ALUMNUS, Role.ATTACHE, Role.STAFF):
        client.cookies.clear()
        await sign_in(
            client, await make_user(role=role, embassies=["NBO"] if role == "attache" else [])
        )
        assert (await client.get("/admin/users")).status_code == 403, role
        response = await client.post(
            "/admin/users/invite", data={"email": "x@example.org", "role": "staff"}
        )
        assert response.status_code == 403, role
    assert not await User.filter(email_key="x@example.org").exists()


async def test_an_expired_invitation_and_a_new_one(
    client, app, mailbox, make_user, sign_in, monkeypatch
):
    await sign_in(client, await make_user(role=Role.ADMIN))
    await client.post("/admin/users/invite", data={"email": "s@example.org", "role": "staff"})
    await mailbox.deliver()
    old = link_in(mailbox.last("s@example.org"))
    later = utcnow() + timedelta(hours=73)
    monkeypatch.setattr("engage.web.password.utcnow", lambda: later)
    assert (await client.get(old)).status_code == 404
    monkeypatch.undo()

    staff = await User.get(email_key="s@example.org")
    response = await client.post(f"/admin/users/{staff.id}/reinvite")
    assert response.status_code == 303
    await mailbox.deliver()
    new = link_in(mailbox.last("s@example.org"))
    assert new != old
    assert (await client.get(old)).status_code == 404
    assert (await client.get(new)).status_code == 200


async def test_deactivate_ends_sessions_and_reactivate(client, app, make_user, sign_in):
    admin = await make_user(role=Role.ADMIN)
    person = await make_user(email="leaving@example.org")
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    await sign_in(other, person)
    assert (await other.get("/account")).status_code == 200
    await sign_in(client, admin)

    response = await client.post(f"/admin/users/{person.id}/deactivate")
    assert response.status_code == 303
    await person.refresh_from_db()
    assert not person.is_active
    assert await Session.filter(user_id=person.id).count() == 0
    assert (await other.get("/account")).status_code == 303
    assert await AuditEvent.filter(
        action="user.deactivate", actor_id=admin.id, target_id=str(person.id)
    ).exists()
    listing = await client.get("/admin/users?done=deactivated")
    assert "Deactivated" in listing.text

    response = await client.post(f"/admin/users/{person.id}/reactivate")
    assert response.status_code == 303
    await person.refresh_from_db()
    assert person.is_active
    assert await AuditEvent.filter(action="user.reactivate", target_id=str(person.id)).exists()
    await other.aclose()


async def test_an_admin_cannot_deactivate_themself(client, make_user, sign_in):
    admin = await make_user(role=Role.ADMIN)
    await sign_in(client, admin)
    response = await client.post(f"/admin/users/{admin.id}/deactivate")
    assert response.status_code == 422
    assert "cannot deactivate your own account" in response.text
    await admin.refresh_from_db()
    assert admin.is_active
    assert (await client.post("/admin/users/999999/deactivate")).status_code == 404


async def test_deactivate_without_csrf_changes_nothing(client, make_user, sign_in):
    await sign_in(client, await make_user(role=Role.ADMIN))
    person = await make_user()
    del client.headers["X-CSRF-Token"]
    response = await client.post(f"/admin/users/{person.id}/deactivate")
    assert response.status_code == 403
    await person.refresh_from_db()
    assert person.is_active


async def test_users_list_shows_role_embassies_state_and_last_login(
    client, make_user, make_embassy, sign_in
):
    await make_embassy(code="NBO")
    admin = await make_user(role=Role.ADMIN)
    await make_user(role=Role.ATTACHE, email="att@example.org", embassies=["NBO"])
    await make_user(email="alum@example.org", last_login_at=utcnow())
    await sign_in(client, admin)
    html = (await client.get("/admin/users")).text
    assert "att@example.org" in html and "NBO" in html and "Attaché" in html
    assert "alum@example.org" in html and "Alumnus" in html
    assert "3 accounts" in html
    only = (await client.get("/admin/users?role=attache")).text
    assert "att@example.org" in only and "alum@example.org" not in only
