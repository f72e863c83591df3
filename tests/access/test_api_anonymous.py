"""An API call with no credentials at all answers 401 with the JSON error body,
whatever its method (not 403 for the missing CSRF token)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/events"),
        ("POST", "/api/v1/events"),
        ("PATCH", "/api/v1/events/1"),
        ("POST", "/api/v1/segments"),
    ],
)
async def test_anonymous_api_call_is_unauthenticated(client, method, path):
    response = await client.request(method, path, json={})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


async def test_signed_in_write_without_csrf_token_is_still_refused(client, make_user, sign_in):
    from engage.accounts.models import Role

    user = await make_user(role=Role.STAFF)
    await sign_in(client, user)
    del client.headers["X-CSRF-Token"]
    response = await client.post("/api/v1/segments", json={})
    assert response.status_code == 403
