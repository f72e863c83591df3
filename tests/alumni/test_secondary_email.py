"""A secondary address is used only once its owner confirms it (end to end)."""

from __future__ import annotations

import re

from engage.accounts.actor import load_actor
from engage.accounts.models import Role
from engage.alumni import profiles
from engage.alumni.models import Alumnus

_LINK = re.compile(r"https?://[^/\s]+(/profile/secondary-email/[A-Za-z0-9._-]+)")


async def test_secondary_email_is_verified_by_a_link_that_works_once(
    client, make_user, make_alumnus, worker, smtp_server, clock
):
    user = await make_user(role=Role.ALUMNUS, email="amani@example.ke")
    person = await make_alumnus(email="amani@example.ke", user=user)
    actor = await load_actor(user)
    await profiles.update_alumnus(
        person.id, {"secondary_email": "amani.w@example.org"}, actor=actor
    )
    await person.refresh_from_db()
    assert person.secondary_verified_at is None
    clock.advance(minutes=1)
    assert await worker.run_until_empty() == 1
    message = smtp_server.messages()[-1]
    assert "amani.w@example.org" in str(message["To"])
    path = _LINK.search(message.get_body(("plain",)).get_content()).group(1)

    page = await client.get(path)
    assert page.status_code == 200
    assert page.headers["referrer-policy"] == "no-referrer"
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    await person.refresh_from_db()
    assert person.secondary_verified_at is None  # opening the link changes nothing
    done = await client.post(path, data={"csrf_token": token})
    assert done.status_code == 200
    await person.refresh_from_db()
    assert person.secondary_verified_at is not None
    again = await client.post(path, data={"csrf_token": token})
    assert again.status_code == 404
    assert "This link is not valid" in again.text


async def test_changing_the_secondary_address_kills_the_old_link(
    client, make_user, make_alumnus, worker, smtp_server, clock
):
    user = await make_user(role=Role.ALUMNUS)
    person = await make_alumnus(user=user)
    actor = await load_actor(user)
    await profiles.update_alumnus(person.id, {"secondary_email": "one@example.org"}, actor=actor)
    await profiles.update_alumnus(person.id, {"secondary_email": "two@example.org"}, actor=actor)
    clock.advance(minutes=1)
    await worker.run_until_empty()
    links = {
        str(m["To"]): _LINK.search(m.get_body(("plain",)).get_content()).group(1)
        for m in smtp_server.messages()
    }
    old = next(v for k, v in links.items() if "one@" in k)
    new = next(v for k, v in links.items() if "two@" in k)
    assert (await client.get(old)).status_code == 404
    assert (await client.get(new)).status_code == 200
    person = await Alumnus.get(id=person.id)
    assert person.secondary_email == "two@example.org"
