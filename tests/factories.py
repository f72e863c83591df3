"""Factory fixtures: saved objects with sensible defaults, and signed-in clients.

::

    async def test_x(make_user, make_embassy, sign_in):
        embassy = await make_embassy(code="NBO", accredited=["KE", "SO"])
        attache = await make_user(role=Role.ATTACHE, embassies=["NBO"])
        await sign_in(client, attache)
"""

from __future__ import annotations

import itertools
import secrets
from typing import Any

import httpx
import pytest

from engage.accounts.models import Role, User
from engage.accounts.sessions import create_session
from engage.accounts.users import create_user
from engage.clock import utcnow
from engage.places.models import Accreditation, Country, Embassy
from engage.web.identity import csrf_cookie_name, session_cookie_name

_seq = itertools.count(1)
#: A password zxcvbn accepts.
PASSWORD = "amber-falcon-harbour-42"


@pytest.fixture
def make_user(settings):
    async def make(
        *,
        role: Role = Role.ALUMNUS,
        email: str | None = None,
        password: str | None = PASSWORD,
        embassies: list[str] = (),
        verified: bool = True,
        **fields: Any,
    ) -> User:
        user = await create_user(
            email or f"{role}{next(_seq)}@example.org",
            role=role,
            password=password,
            security=settings.security,
            embassy_codes=list(embassies),
            verified=verified,
        )
        if fields:
            await User.filter(id=user.id).update(**fields)
            await user.refresh_from_db()
        return user

    return make


async def ensure_country(code: str, name: str | None = None, **fields: Any) -> Country:
    country = await Country.get_or_none(code=code)
    if country is None:
        country = await Country.create(
            code=code, alpha3=f"{code}X", name=name or f"Country {code}", **fields
        )
    return country


@pytest.fixture
def make_embassy(settings):
    async def make(
        *,
        code: str | None = None,
        country: str = "KE",
        accredited: list[str] | None = None,
        timezone: str = "Africa/Nairobi",
        city: str = "Nairobi",
    ) -> Embassy:
        code = code or f"E{next(_seq)}"
        home = await ensure_country(country)
        embassy = await Embassy.create(
            code=code, name=f"Embassy {code}", country=home, city=city, timezone=timezone
        )
        for other in accredited or [country]:
            await Accreditation.create(embassy=embassy, country=await ensure_country(other))
        return embassy

    return make


@pytest.fixture
def sign_in(settings):
    """Give ``client`` a full session (second factor passed) for ``user``."""

    async def sign(client: httpx.AsyncClient, user: User, *, mfa_passed: bool = True) -> str:
        opened = await create_session(
            user,
            mfa_passed=mfa_passed,
            ip="127.0.0.1",
            user_agent="pytest",
            now=utcnow(),
            security=settings.security,
        )
        client.cookies.set(session_cookie_name(settings), opened.key)
        csrf = secrets.token_urlsafe(32)
        client.cookies.set(csrf_cookie_name(settings), csrf)
        client.headers["X-CSRF-Token"] = csrf
        return opened.key

    return sign
