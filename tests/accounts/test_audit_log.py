"""The audit log page: staff and admins only, newest first, filters, pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from engage.accounts.actor import load_actor
from engage.accounts.audit_log import AuditFilters, list_audit_events, parse_filters
from engage.accounts.models import AuditEvent, Role
from engage.errors import InvalidInput, PermissionDenied


async def _event(action, *, actor=None, target=("", ""), at=None, details=None, ip=""):
    return await AuditEvent.create(
        at=at or datetime.now(UTC),
        actor=actor,
        action=action,
        target_type=target[0],
        target_id=str(target[1]),
        details=details or {},
        ip=ip,
    )


def _actions(html: str) -> list[str]:
    return re.findall(r"<td><code>([^<]+)</code></td>", html)


@pytest.mark.parametrize("role", [Role.ALUMNUS, Role.ATTACHE])
async def test_alumni_and_attaches_may_not_read_it(client, make_user, make_embassy, sign_in, role):
    embassies = []
    if role is Role.ATTACHE:
        embassies = [(await make_embassy(code="NBO")).code]
    await sign_in(client, await make_user(role=role, embassies=embassies))
    response = await client.get("/admin/audit")
    assert response.status_code == 403
    assert "alumnus.erased" not in response.text


async def test_signed_out_people_are_sent_to_sign_in(client):
    response = await client.get("/admin/audit?action=user.", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("role", [Role.STAFF, Role.ADMIN])
async def test_staff_and_admins_read_it_newest_first(client, make_user, sign_in, role):
    reader = await make_user(role=role, email=f"reader-{role}@example.org")
    await _event(
        "user.login",
        actor=reader,
        target=("user", reader.id),
        at=datetime(2024, 5, 1, 9, tzinfo=UTC),
        ip="203.0.113.9",
    )
    await _event(
        "alumnus.erased",
        actor=reader,
        target=("alumnus", 42),
        at=datetime(2024, 5, 2, 9, tzinfo=UTC),
        details={"profiles": 1},
    )
    await sign_in(client, reader)
    response = await client.get("/admin/audit")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    html = response.text
    assert html.count("<h1") == 1
    shown = _actions(html)
    assert shown.index("alumnus.erased") < shown.index("user.login")
    assert f"reader-{role}@example.org" in html and "203.0.113.9" in html
    assert "2024-05-02 09:00:00" in html and "profiles: 1" in html
    assert 'href="http://testserver/alumni/42"' in html
    assert 'href="/admin/audit"' in html  # the staff navigation links it


async def test_filters(client, make_user, sign_in):
    staff = await make_user(role=Role.STAFF, email="kim.staff@example.org")
    other = await make_user(role=Role.ADMIN, email="lee.admin@example.org")
    await AuditEvent.all().delete()  # the accounts' own creation events
    await _event(
        "alumnus.update", actor=staff, target=("alumnus", 7), at=datetime(2024, 1, 10, tzinfo=UTC)
    )
    await _event(
        "alumnus.erased", actor=other, target=("alumnus", 8), at=datetime(2024, 2, 10, tzinfo=UTC)
    )
    await _event(
        "user.login", actor=other, target=("user", other.id), at=datetime(2024, 3, 10, tzinfo=UTC)
    )
    await _event("user.login_failed", target=("", ""), at=datetime(2024, 3, 11, tzinfo=UTC))
    await sign_in(client, staff)

    async def shown(query: str) -> list[str]:
        response = await client.get(f"/admin/audit?{query}")
        assert response.status_code == 200, response.text
        return _actions(response.text)

    assert await shown("action=alumnus.") == ["alumnus.erased", "alumnus.update"]
    assert await shown("action=user.login") == ["user.login_failed", "user.login"]
    assert await shown("actor=KIM.STAFF") == ["alumnus.update"]
    assert await shown("actor=system") == ["user.login_failed"]
    assert await shown("target_type=alumnus&target_id=8") == ["alumnus.erased"]
    assert await shown("since=2024-02-10&until=2024-03-10") == ["user.login", "alumnus.erased"]
    assert await shown("until=2024-01-10") == ["alumnus.update"]
    # The form keeps what was typed.
    response = await client.get("/admin/audit?action=alumnus.&actor=kim")
    assert 'value="alumnus."' in response.text and 'value="kim"' in response.text


async def test_bad_filters_say_what_is_wrong_and_keep_the_input(client, make_user, sign_in):
    await sign_in(client, await make_user(role=Role.STAFF))
    response = await client.get("/admin/audit?since=31/05/2024&action=user.")
    assert response.status_code == 422
    assert "A date like 2024-05-31." in response.text
    assert 'value="31/05/2024"' in response.text and 'aria-invalid="true"' in response.text
    assert _actions(response.text) == []
    backwards = await client.get("/admin/audit?since=2024-06-01&until=2024-05-01")
    assert backwards.status_code == 422 and "comes before" in backwards.text


async def test_pages_of_fifty_keep_the_filters(client, make_user, sign_in):
    staff = await make_user(role=Role.STAFF)
    await AuditEvent.bulk_create(
        [
            AuditEvent(
                at=datetime(2024, 1, 1, tzinfo=UTC),
                action="rank.map",
                target_type="rank_mapping",
                target_id=str(n),
                details={"n": n},
            )
            for n in range(60)
        ]
    )
    await sign_in(client, staff)
    first = await client.get("/admin/audit?action=rank.")
    assert first.status_code == 200
    assert len(_actions(first.text)) == 50 and "Page 1 of 2" in first.text
    assert "60 events" in first.text
    assert 'href="?action=rank.&amp;page=2"' in first.text
    second = await client.get("/admin/audit?action=rank.&page=2")
    assert len(_actions(second.text)) == 10 and "Page 2 of 2" in second.text
    # Same time: the latest written comes first, across pages.
    assert "rank_mapping #59" in first.text and "rank_mapping #0" in second.text
    beyond = await client.get("/admin/audit?action=rank.&page=99")
    assert "Page 2 of 2" in beyond.text


async def test_service_rules(db, make_user):
    for role in (Role.ALUMNUS, Role.ATTACHE):
        actor = await load_actor(await make_user(role=role))
        with pytest.raises(PermissionDenied):
            await list_audit_events(AuditFilters(), actor=actor)
    with pytest.raises(InvalidInput) as caught:
        parse_filters({"action": "x" * 65, "until": "soon"})
    assert set(caught.value.fields) == {"action", "until"}
    filters = parse_filters({"action": " alumnus. ", "actor": "Kim@Example.org"})
    assert filters.action == "alumnus." and filters.actor == "kim@example.org"
    assert filters.query_string(page=2) == "action=alumnus.&actor=kim%40example.org&page=2"
