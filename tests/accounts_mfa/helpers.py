"""Signing in through the real forms, reading pages, and TOTP codes."""

from __future__ import annotations

import re
import time

import httpx
import pyotp

from tests.factories import PASSWORD

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_KEY = re.compile(r'<code id="totp-key"[^>]*>([A-Z2-7 ]+)</code>')
_RECOVERY = re.compile(r"<li><code>([a-z2-7]{6}(?:-[a-z2-7]{6}){3})</code></li>")


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has a form with a CSRF token"
    return match.group(1)


def key_of(html: str) -> str:
    match = _KEY.search(html)
    assert match, "the setup page shows the key for manual entry"
    return match.group(1).replace(" ", "")


def recovery_codes_of(html: str) -> list[str]:
    return _RECOVERY.findall(html)


def code(secret: str, *, steps: int = 0) -> str:
    """The TOTP code ``steps`` periods from now (the server accepts one either side)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps)


async def login(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, next_url: str | None = None
) -> httpx.Response:
    page = await client.get("/login")
    data = {"csrf_token": csrf_of(page.text), "email": email, "password": password}
    if next_url is not None:
        data["next"] = next_url
    return await client.post("/login", data=data)


async def post_form(client: httpx.AsyncClient, page_path: str, action: str, **fields: str):
    """Load ``page_path`` for its CSRF token, then post ``fields`` to ``action``."""
    page = await client.get(page_path)
    assert page.status_code == 200, (page_path, page.status_code)
    return await client.post(action, data={"csrf_token": csrf_of(page.text), **fields})


async def enrol(
    client: httpx.AsyncClient, path: str = "/account/two-factor/setup"
) -> tuple[str, list[str], httpx.Response]:
    """Through the setup page: (secret, recovery codes, the response showing them)."""
    page = await client.get(path)
    assert page.status_code == 200
    secret = key_of(page.text)
    next_url = re.search(r'name="next" value="([^"]*)"', page.text).group(1)
    done = await client.post(
        "/account/two-factor/setup",
        data={"csrf_token": csrf_of(page.text), "code": code(secret), "next": next_url},
    )
    assert done.status_code == 200, done.text
    return secret, recovery_codes_of(done.text), done


async def second_factor(client: httpx.AsyncClient, typed: str, next_url: str = "/account"):
    page = await client.get(f"/login/second-factor?next={next_url}")
    assert page.status_code == 200
    return await client.post(
        "/login/second-factor",
        data={"csrf_token": csrf_of(page.text), "code": typed, "next": next_url},
    )


async def sign_in_form(client: httpx.AsyncClient, user) -> str:
    """Sign ``user`` in through /login; return where the form sent them."""
    response = await login(client, user.email)
    assert response.status_code == 303, response.text
    return response.headers["location"]
