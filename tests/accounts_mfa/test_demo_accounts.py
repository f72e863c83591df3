"""`engage demo`'s accounts: every role, known passwords, privileged ones enrolled in
TOTP with the printed secret, and nothing added twice."""

from __future__ import annotations

import re

from engage.accounts.actor import load_actor
from engage.accounts.models import EmbassyAssignment, RecoveryCode, Role, User
from engage.accounts.secretbox import unseal
from engage.cli.demo import DEMO_ACCOUNTS, DEMO_PASSWORD, demo_totp_secret, load_demo
from engage.places.models import Embassy
from tests.accounts_mfa.helpers import code, login, second_factor

_ROW = re.compile(r"^  (admin|staff|attache|alumnus)\s+(\S+@\S+)\s+(\S+)\s+(\S+)\s+(\S+)")


async def test_demo_creates_every_role_once(db, settings):
    lines = await load_demo(settings)
    rows = [m.groups() for line in lines if (m := _ROW.match(line))]
    assert {row[0] for row in rows} == {"admin", "staff", "attache", "alumnus"}
    assert len(rows) == len(DEMO_ACCOUNTS) == await User.all().count()
    assert all(row[2] == DEMO_PASSWORD for row in rows)
    printed = {row[1]: row[4] for row in rows}
    for user in await User.all():
        account = next(a for a in DEMO_ACCOUNTS if a.email == user.email)
        assert user.role == account.role
        assert user.email_verified_at is not None
        if account.role is not Role.ALUMNUS:
            assert user.totp_enabled_at is not None, user.email
        if user.totp_enabled_at is not None:
            secret = unseal(
                settings.app.secret_key, "totp", user.totp_secret, context=f"user:{user.id}"
            )
            assert secret == demo_totp_secret(user.email) == printed[user.email]
        else:
            assert printed[user.email] == "-"
    # Two attachés at embassies in different time zones, scoped to their countries.
    zones = set()
    for email, country in (
        ("attache.nairobi@engage.example", "KE"),
        ("attache.bogota@engage.example", "CO"),
    ):
        attache = await User.get(email=email)
        assignment = await EmbassyAssignment.get(user_id=attache.id).prefetch_related("embassy")
        zones.add(assignment.embassy.timezone)
        assert attache.timezone == assignment.embassy.timezone
        actor = await load_actor(attache)
        assert actor.can_see_country(country)
    assert len(zones) == 2
    assert any("Ілля Коваленко" in line for line in lines)

    again = await load_demo(settings)
    assert "Demo accounts: 0 added, 0 embassies added." in again
    assert "Demo data loaded: 0 welcome email(s) queued for 6 graduates." in again
    assert await User.all().count() == len(DEMO_ACCOUNTS)
    assert await Embassy.all().count() == 2
    assert await RecoveryCode.all().count() == 0


async def test_demo_admin_signs_in_with_the_printed_secret(db, settings, client):
    await load_demo(settings)
    response = await login(client, "admin@engage.example", DEMO_PASSWORD)
    assert response.headers["location"].startswith("/login/second-factor")
    done = await second_factor(client, code(demo_totp_secret("admin@engage.example")))
    assert done.status_code == 303
    assert (await client.get("/admin/mailbox")).status_code == 200
