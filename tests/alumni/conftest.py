"""Alumni factories: saved profiles and courses with sensible defaults, and actors.

::

    async def test_x(make_alumnus, actor_for):
        person = await make_alumnus(country="KE", email="amani@example.ke")
        staff = await actor_for(Role.STAFF)
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from engage.accounts.actor import Actor, load_actor
from engage.accounts.models import Role, User
from engage.accounts.users import email_key
from engage.alumni.models import Alumnus, Course, Service
from engage.alumni.names import refresh_search_tokens, search_key
from tests.factories import ensure_country

_seq = itertools.count(1)


@pytest.fixture
def make_alumnus(settings):
    async def make(
        *,
        country: str = "KE",
        given_name: str = "Amani",
        family_name: str | None = None,
        email: str | None = None,
        user: User | None = None,
        service: Service = Service.ARMY,
        **fields: Any,
    ) -> Alumnus:
        await ensure_country(country)
        n = next(_seq)
        family_name = family_name or f"Wanjiru{n}"
        email = email if email is not None else f"alumnus{n}@example.org"
        alumnus = await Alumnus.create(
            given_name=given_name,
            family_name=family_name,
            search_key=fields.pop(
                "search_key",
                search_key(
                    given_name,
                    family_name,
                    fields.get("given_name_latin", ""),
                    fields.get("family_name_latin", ""),
                    fields.get("preferred_name", ""),
                ),
            ),
            email=email or None,
            email_key=email_key(email) if email else None,
            country_id=country,
            service=service,
            user=user,
            **fields,
        )
        await refresh_search_tokens([alumnus.id])  # as every write of names does
        return alumnus

    return make


@pytest.fixture
def make_course(settings):
    async def make(**fields: Any) -> Course:
        n = next(_seq)
        fields.setdefault("title", f"Course {n}")
        fields.setdefault("school", "Staff College")
        return await Course.create(**fields)

    return make


@pytest.fixture
def actor_for(make_user, make_embassy):
    """An Actor of ``role``; an attaché works at an embassy accredited to ``countries``."""

    async def make(role: Role, *, countries: list[str] = (), user: User | None = None) -> Actor:
        if user is None:
            embassies = []
            if role is Role.ATTACHE:
                embassy = await make_embassy(country=countries[0], accredited=list(countries))
                embassies = [embassy.code]
            user = await make_user(role=role, embassies=embassies)
        return await load_actor(user)

    return make
