"""Every route is classified, and each class answers each role as it should."""

from __future__ import annotations

import re
import secrets

import pytest
from starlette.routing import Mount, Route

from engage.accounts.actor import RANK
from engage.accounts.models import Role
from engage.web.identity import csrf_cookie_name
from engage.web.routing import MIN_ROLE, Access

#: Sensitive routes and the class they must keep. A change here is a security review.
EXPECTED = {
    ("GET", "/"): Access.PUBLIC,
    ("GET", "/healthz"): Access.PUBLIC,
    ("GET", "/login"): Access.PUBLIC,
    ("POST", "/login"): Access.PUBLIC,
    ("POST", "/logout"): Access.PARTIAL,
    ("GET", "/account"): Access.ALUMNUS,
    ("GET", "/admin/mailbox"): Access.ADMIN,
    ("GET", "/admin/mailbox/{key}"): Access.ADMIN,
    ("GET", "/admin/mailbox/{key}/html"): Access.ADMIN,
    ("GET", "/openapi.json"): Access.PUBLIC,
    ("GET", "/api/v1/meta"): Access.PUBLIC,
    ("GET", "/admin/ranks"): Access.STAFF,
    ("POST", "/admin/ranks/{mapping_id}"): Access.STAFF,
    ("GET", "/login/second-factor"): Access.PARTIAL,
    ("POST", "/login/second-factor"): Access.PARTIAL,
    ("GET", "/account/two-factor/setup"): Access.PARTIAL,
    ("POST", "/account/two-factor/setup"): Access.PARTIAL,
    ("POST", "/account/two-factor/disable"): Access.ALUMNUS,
    ("GET", "/admin/embassies"): Access.ATTACHE,
    ("GET", "/admin/countries"): Access.STAFF,
    ("GET", "/api/v1/countries"): Access.TOKEN,
    ("GET", "/api/v1/embassies"): Access.ATTACHE,
    # Data rights: one's own data; staff decide on erasure and read the audit log.
    ("GET", "/profile/export"): Access.ALUMNUS,
    ("POST", "/profile/export"): Access.ALUMNUS,
    ("GET", "/profile/erase"): Access.ALUMNUS,
    ("POST", "/profile/erase"): Access.ALUMNUS,
    ("POST", "/profile/erase/withdraw"): Access.ALUMNUS,
    ("GET", "/admin/erasures"): Access.STAFF,
    ("GET", "/admin/erasures/{id}"): Access.STAFF,
    ("POST", "/admin/erasures/{id}/confirm"): Access.STAFF,
    ("POST", "/admin/erasures/{id}/decline"): Access.STAFF,
    ("GET", "/admin/audit"): Access.STAFF,
    # Identity and vetting: attachés confirm in their scope; staff reject and merge.
    ("GET", "/register"): Access.PUBLIC,
    ("POST", "/register"): Access.PUBLIC,
    ("GET", "/alumni/pending"): Access.ATTACHE,
    ("POST", "/alumni/{id}/confirm"): Access.ATTACHE,
    ("GET", "/alumni/{id}/reject"): Access.STAFF,
    ("POST", "/alumni/{id}/reject"): Access.STAFF,
    ("GET", "/alumni/duplicates"): Access.STAFF,
    ("GET", "/alumni/{id}/merge"): Access.STAFF,
    ("POST", "/alumni/{id}/merge"): Access.STAFF,
    # CSV import: staff only, every step.
    ("GET", "/admin/import"): Access.STAFF,
    ("POST", "/admin/import"): Access.STAFF,
    ("GET", "/admin/import/template.csv"): Access.STAFF,
    ("POST", "/admin/import/confirm"): Access.STAFF,
    ("GET", "/admin/import/jobs/{id}"): Access.STAFF,
    ("POST", "/admin/import/jobs/{id}/resume"): Access.STAFF,
    # Event pages: attachés and staff manage; every signed-in person may open an event
    # page or its calendar file (the service shows alumni only what they may see).
    ("GET", "/events"): Access.ATTACHE,
    ("GET", "/events/new"): Access.ATTACHE,
    ("POST", "/events/new"): Access.ATTACHE,
    ("GET", "/events/{id}"): Access.ALUMNUS,
    ("GET", "/events/{id}.ics"): Access.ALUMNUS,
    ("GET", "/events/{id}/edit"): Access.ATTACHE,
    ("POST", "/events/{id}/edit"): Access.ATTACHE,
    ("POST", "/events/{id}/publish"): Access.ATTACHE,
    ("GET", "/events/{id}/cancel"): Access.ATTACHE,
    ("POST", "/events/{id}/cancel"): Access.ATTACHE,
    ("GET", "/my/events"): Access.ALUMNUS,
    # The directory, its export and segments: attachés within their scope, and staff.
    ("GET", "/alumni"): Access.ATTACHE,
    ("GET", "/alumni/export.csv"): Access.ATTACHE,
    ("GET", "/segments"): Access.ATTACHE,
    ("POST", "/segments"): Access.ATTACHE,
    ("GET", "/segments/{id}"): Access.ATTACHE,
    ("POST", "/segments/{id}"): Access.ATTACHE,
    ("POST", "/segments/{id}/delete"): Access.ATTACHE,
    ("GET", "/api/v1/alumni"): Access.ATTACHE,
    ("GET", "/api/v1/segments"): Access.ATTACHE,
    ("POST", "/api/v1/segments"): Access.ATTACHE,
    ("GET", "/api/v1/segments/{id}/count"): Access.ATTACHE,
    # Events: everyone signed in reads (services decide what); attachés and staff write.
    ("GET", "/api/v1/events"): Access.TOKEN,
    ("POST", "/api/v1/events"): Access.ATTACHE,
    ("GET", "/api/v1/events/{id}"): Access.TOKEN,
    ("PATCH", "/api/v1/events/{id}"): Access.ATTACHE,
    ("POST", "/api/v1/events/{id}/publish"): Access.ATTACHE,
    ("POST", "/api/v1/events/{id}/cancel"): Access.ATTACHE,
    # Invitations: attachés for their embassies' events, and staff.
    ("POST", "/api/v1/events/{id}/invitations"): Access.ATTACHE,
    ("GET", "/api/v1/events/{id}/invitations"): Access.ATTACHE,
    ("POST", "/api/v1/invitations/{id}/revoke"): Access.ATTACHE,
    ("GET", "/events/{id}/invite"): Access.ATTACHE,
    ("POST", "/events/{id}/invite"): Access.ATTACHE,
    ("GET", "/events/{id}/invite/{job_id}"): Access.ATTACHE,
    ("POST", "/events/{id}/invite/{job_id}/resume"): Access.ATTACHE,
    ("GET", "/events/{id}/invitations.csv"): Access.ATTACHE,
    ("POST", "/events/{id}/invitations/{inv_id}/revoke"): Access.ATTACHE,
    # Messages to invitees: attachés of the event's embassy, and staff.
    ("GET", "/events/{id}/messages"): Access.ATTACHE,
    ("GET", "/events/{id}/messages/new"): Access.ATTACHE,
    ("POST", "/events/{id}/messages/new"): Access.ATTACHE,
    # RSVP: the personal link is the credential (no sign-in); one's own invitations.
    ("GET", "/rsvp/{token}"): Access.PUBLIC,
    ("POST", "/rsvp/{token}"): Access.PUBLIC,
    ("GET", "/rsvp/{token}/event.ics"): Access.PUBLIC,
    ("GET", "/my/invitations"): Access.ALUMNUS,
    ("POST", "/my/invitations/{id}"): Access.ALUMNUS,
    ("GET", "/events/{id}/reply"): Access.ALUMNUS,
    ("POST", "/events/{id}/reply"): Access.ALUMNUS,
    # At the door: attachés of the event's embassy and staff. The check-in link is
    # public, but opens only for them (anyone else gets the same "not valid" page).
    ("GET", "/events/{id}/door"): Access.ATTACHE,
    ("POST", "/events/{id}/door/{invitation}/arrived"): Access.ATTACHE,
    ("POST", "/events/{id}/door/{invitation}/undo"): Access.ATTACHE,
    ("GET", "/events/{id}/door/walk-in"): Access.ATTACHE,
    ("POST", "/events/{id}/door/walk-in"): Access.ATTACHE,
    ("GET", "/checkin/{token}"): Access.PUBLIC,
    ("POST", "/checkin/{token}"): Access.PUBLIC,
    # Unsubscribing: the link is the credential. The one-click POST (RFC 8058) is the
    # only CSRF-exempt route; the preference page's form carries the CSRF token.
    ("GET", "/unsubscribe/{token}"): Access.PUBLIC,
    ("POST", "/unsubscribe/{token}"): Access.PUBLIC,
    ("POST", "/unsubscribe/{token}/preferences"): Access.PUBLIC,
    # The mail page: staff follow the queue, send failed mail again, lift suppressions.
    ("GET", "/admin/mail"): Access.STAFF,
    ("POST", "/admin/mail/messages/{id}/retry"): Access.STAFF,
    ("POST", "/admin/mail/suppressions/{id}/lift"): Access.STAFF,
    # Newsletters: staff write, preview, test, send, pause and follow issues and series;
    # everyone signed in reads the archive; tracking links need no sign-in (signed).
    ("GET", "/newsletters"): Access.STAFF,
    ("GET", "/newsletters/new"): Access.STAFF,
    ("POST", "/newsletters/new"): Access.STAFF,
    ("GET", "/newsletters/{id}"): Access.STAFF,
    ("GET", "/newsletters/{id}/edit"): Access.STAFF,
    ("POST", "/newsletters/{id}/edit"): Access.STAFF,
    ("GET", "/newsletters/{id}/preview"): Access.STAFF,
    ("GET", "/newsletters/{id}/preview.html"): Access.STAFF,
    ("POST", "/newsletters/{id}/test"): Access.STAFF,
    ("POST", "/newsletters/{id}/send"): Access.STAFF,
    ("POST", "/newsletters/{id}/pause"): Access.STAFF,
    ("POST", "/newsletters/{id}/resume"): Access.STAFF,
    ("POST", "/newsletters/{id}/unschedule"): Access.STAFF,
    ("GET", "/newsletters/series"): Access.STAFF,
    ("GET", "/newsletters/series/new"): Access.STAFF,
    ("POST", "/newsletters/series/new"): Access.STAFF,
    ("GET", "/newsletters/series/{id}"): Access.STAFF,
    ("GET", "/newsletters/series/{id}/edit"): Access.STAFF,
    ("POST", "/newsletters/series/{id}/edit"): Access.STAFF,
    ("GET", "/newsletters/archive"): Access.ALUMNUS,
    ("GET", "/newsletters/archive/{id}"): Access.ALUMNUS,
    ("GET", "/t/o/{token}.gif"): Access.PUBLIC,
    ("GET", "/t/c/{token}"): Access.PUBLIC,
    # Newsletters API: staff and admins.
    ("GET", "/api/v1/newsletters"): Access.STAFF,
    ("POST", "/api/v1/newsletters"): Access.STAFF,
    ("GET", "/api/v1/newsletters/{id}"): Access.STAFF,
    ("PATCH", "/api/v1/newsletters/{id}"): Access.STAFF,
    ("POST", "/api/v1/newsletters/{id}/send"): Access.STAFF,
    ("POST", "/api/v1/newsletters/{id}/pause"): Access.STAFF,
    ("GET", "/api/v1/newsletters/{id}/stats"): Access.STAFF,
    # Insights: attachés (their countries and embassies' events), staff and admins.
    ("GET", "/insights"): Access.ATTACHE,
    ("GET", "/insights/coverage"): Access.ATTACHE,
    ("GET", "/insights/coverage.csv"): Access.ATTACHE,
    ("GET", "/insights/lapsed"): Access.ATTACHE,
    ("GET", "/insights/lapsed.csv"): Access.ATTACHE,
    ("GET", "/insights/lapsed/work-list.csv"): Access.ATTACHE,
    ("POST", "/insights/lapsed/segment"): Access.ATTACHE,
    ("GET", "/insights/funnel"): Access.ATTACHE,
    ("GET", "/insights/funnel.csv"): Access.ATTACHE,
    ("GET", "/insights/careers"): Access.ATTACHE,
    ("GET", "/insights/careers.csv"): Access.ATTACHE,
    ("GET", "/insights/careers/recent.csv"): Access.ATTACHE,
    ("GET", "/insights/capabilities"): Access.ATTACHE,
    ("GET", "/insights/capabilities.csv"): Access.ATTACHE,
    ("GET", "/insights/capabilities/people.csv"): Access.ATTACHE,
    ("GET", "/api/v1/insights/coverage"): Access.ATTACHE,
    ("GET", "/api/v1/insights/lapsed"): Access.ATTACHE,
    ("GET", "/api/v1/insights/funnel"): Access.ATTACHE,
    ("GET", "/api/v1/insights/careers"): Access.ATTACHE,
    ("GET", "/api/v1/insights/capabilities"): Access.ATTACHE,
}
OPTIONAL_EXPECTED = {
    ("GET", "/admin/users"): Access.ADMIN,
    ("GET", "/api/v1/me"): Access.TOKEN,
    ("POST", "/api/v1/embassies"): Access.STAFF,
    ("PATCH", "/api/v1/embassies/{code}"): Access.STAFF,
}
ROLES = [None, Role.ALUMNUS, Role.ATTACHE, Role.STAFF, Role.ADMIN]


def _walk(routes, prefix=""):
    for route in routes:
        if isinstance(route, Mount):
            if route.path == "/static":
                continue  # files, public by nature
            yield from _walk(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                yield method, prefix + route.path, route.endpoint


def classified(app):
    return {(m, p): getattr(e, "__access__", None) for m, p, e in _walk(app.routes)}


async def test_every_route_is_classified(app):
    table = classified(app)
    assert table
    missing = [key for key, access in table.items() if access is None]
    assert not missing, f"unclassified routes: {missing}"


async def test_sensitive_routes_keep_their_class(app):
    table = classified(app)
    for key, access in EXPECTED.items():
        assert table.get(key) == access, f"{key} is {table.get(key)}, expected {access}"
    for key, access in OPTIONAL_EXPECTED.items():
        if key in table:
            assert table[key] == access, f"{key} is {table[key]}, expected {access}"


async def test_only_unsubscribe_is_csrf_exempt(app):
    exempt = [(m, p) for m, p, e in _walk(app.routes) if getattr(e, "__csrf_exempt__", False)]
    assert all("unsubscribe" in p for _, p in exempt), exempt


def _fill(path: str) -> str:
    return re.sub(r"{[^}]+}", "x1", path)


@pytest.mark.parametrize("role", ROLES, ids=lambda r: str(r or "anonymous"))
async def test_each_class_answers_each_role(app, client, make_user, sign_in, settings, role):
    if role is None:
        token = secrets.token_urlsafe(32)
        client.cookies.set(csrf_cookie_name(settings), token)
        client.headers["X-CSRF-Token"] = token
    else:
        await sign_in(client, await make_user(role=role))
    checked = 0
    for (method, path), access in classified(app).items():
        minimum = MIN_ROLE[access]
        if access in (Access.PUBLIC, Access.PARTIAL) or minimum is None:
            continue
        allowed = role is not None and RANK[role] >= RANK[minimum]
        if allowed:
            continue
        response = await client.request(method, _fill(path), follow_redirects=False)
        api = path.startswith("/api/")
        expected = (401 if api else 303) if role is None else 403
        assert response.status_code == expected, (method, path, role, response.status_code)
        if role is None and not api:
            assert response.headers["location"].startswith("/login?next=")
        checked += 1
    if role in (None, Role.ALUMNUS):
        assert checked > 0
