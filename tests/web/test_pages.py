from __future__ import annotations

import random

import pytest

from engage.accounts.models import Role
from engage.mail import outbox
from engage.mail.models import Category
from engage.mail.transport import SmtpTransport
from engage.worker.runner import Worker


async def test_home_page(client):
    response = await client.get("/")
    assert response.status_code == 200
    html = response.text
    assert '<html lang="en">' in html
    assert 'href="#main"' in html and 'id="main"' in html
    assert "<h1>" in html
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert len(response.headers["x-request-id"]) >= 8


async def test_request_id_is_kept_when_well_formed(client):
    response = await client.get("/", headers={"X-Request-ID": "abc-123-def-456"})
    assert response.headers["x-request-id"] == "abc-123-def-456"
    response = await client.get("/", headers={"X-Request-ID": "bad id <x>"})
    assert response.headers["x-request-id"] != "bad id <x>"


async def test_friendly_404_page(client):
    response = await client.get("/no/such/page")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "Page not found" in response.text
    assert "Go to the home page" in response.text


async def test_static_css(client):
    response = await client.get("/static/engage.css")
    assert response.status_code == 200
    assert ":focus-visible" in response.text


async def test_mailbox_shows_what_the_embedded_sink_received(
    client, app, settings, make_user, sign_in
):
    await sign_in(client, await make_user(role=Role.ADMIN))
    # The app was started without its worker; send through the real embedded sink.
    sink = app.state.mail.sink
    assert sink is not None
    await outbox.enqueue(
        "welcome",
        to="amani@example.ke",
        to_name="Amani Wanjiru",
        category=Category.TRANSACTIONAL,
        dedupe_key="w1",
    )
    transport = SmtpTransport(settings.smtp, host="127.0.0.1", port=sink.port)
    worker = Worker(settings, transport, rng=random.Random(1))
    assert await worker.run_until_empty() == 1
    await transport.close()

    index = await client.get("/admin/mailbox")
    assert index.status_code == 200
    assert "Welcome to Engage" in index.text
    assert "Amani Wanjiru" in index.text
    key = next(p.name for p in (settings.var_dir / "mailbox" / "new").iterdir())
    page = await client.get(f"/admin/mailbox/{key}")
    assert page.status_code == 200
    assert "Dear Amani Wanjiru," in page.text
    html = await client.get(f"/admin/mailbox/{key}/html")
    assert html.status_code == 200
    assert "sandbox" in html.headers["content-security-policy"]
    assert (await client.get("/admin/mailbox/nope")).status_code == 404
    assert (await client.get("/admin/mailbox/..%2Fsecret_key")).status_code == 404


@pytest.mark.parametrize(
    ("role", "status"), [(None, 303), (Role.ALUMNUS, 403), (Role.STAFF, 403), (Role.ADMIN, 200)]
)
async def test_mailbox_is_for_admins_only(client, make_user, sign_in, role, status):
    if role is not None:
        await sign_in(client, await make_user(role=role))
    response = await client.get("/admin/mailbox")
    assert response.status_code == status
    if status == 303:
        assert response.headers["location"] == "/login?next=%2Fadmin%2Fmailbox"
