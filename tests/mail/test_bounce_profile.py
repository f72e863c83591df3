"""The "primary email failing" flag on the profile: shown to staff and the attaché (not to the
person), saying where mail goes now; cleared when the primary address changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engage.accounts.actor import load_actor
from engage.accounts.models import Role
from engage.alumni.models import Alumnus
from engage.alumni.profiles import update_alumnus
from tests.factories import ensure_country

BOUNCED = datetime(2026, 3, 10, 9, 14, tzinfo=UTC)


async def _person(**fields) -> Alumnus:
    await ensure_country("KE")
    fields.setdefault("email", "amani@example.org")
    return await Alumnus.create(
        given_name="Amani",
        family_name="Wanjiru",
        email_key=fields["email"].lower(),
        country_id="KE",
        **fields,
    )


@pytest.fixture
async def signed_in(client, make_user, make_embassy, sign_in):
    async def sign(role: Role):
        embassies = []
        if role is Role.ATTACHE:
            embassies = [(await make_embassy(country="KE", accredited=["KE"])).code]
        user = await make_user(role=role, embassies=embassies)
        await sign_in(client, user)
        return user

    return sign


@pytest.mark.parametrize("role", [Role.STAFF, Role.ATTACHE])
async def test_staff_and_attache_see_the_flag(client, signed_in, role):
    person = await _person(email_failing_at=BOUNCED)
    await signed_in(role)
    page = await client.get(f"/alumni/{person.id}")
    assert page.status_code == 200
    assert "Primary email failing." in page.text
    assert "Mail to amani@example.org bounced on 2026-03-10." in page.text
    assert "No mail reaches this person until the address is corrected." in page.text


async def test_flag_says_mail_goes_to_the_verified_secondary(client, signed_in):
    person = await _person(
        email_failing_at=BOUNCED,
        secondary_email="amani.home@example.net",
        secondary_verified_at=BOUNCED,
    )
    await signed_in(Role.STAFF)
    page = await client.get(f"/alumni/{person.id}")
    assert "Mail now goes to the verified secondary address amani.home@example.net." in page.text


async def test_no_flag_without_a_bounce(client, signed_in):
    person = await _person()
    await signed_in(Role.STAFF)
    page = await client.get(f"/alumni/{person.id}")
    assert page.status_code == 200
    assert "Primary email failing" not in page.text


async def test_the_person_does_not_see_it(client, signed_in):
    user = await signed_in(Role.ALUMNUS)
    await _person(email_failing_at=BOUNCED, user=user)
    page = await client.get("/profile")
    assert page.status_code == 200
    assert "Primary email failing" not in page.text


async def test_a_new_primary_address_clears_the_flag(db, make_user):
    person = await _person(email_failing_at=BOUNCED)
    staff = await load_actor(await make_user(role=Role.STAFF))
    await update_alumnus(person.id, {"phone": "+254 700 000000"}, actor=staff)
    await person.refresh_from_db()
    assert person.email_failing_at == BOUNCED  # another change keeps it
    await update_alumnus(person.id, {"email": "amani.new@example.org"}, actor=staff)
    await person.refresh_from_db()
    assert person.email_failing_at is None
