"""Fixtures for places: the seeded country table and actors of each role."""

from __future__ import annotations

import pytest

from engage.accounts.actor import Actor, load_actor
from engage.accounts.models import Role
from engage.places.seed import seed_countries


@pytest.fixture
async def countries(db):
    """Every ISO country, as `engage migrate` leaves them."""
    return await seed_countries()


@pytest.fixture
def actor_for(make_user):
    async def make(role: Role, *, embassies: list[str] = ()) -> Actor:
        return await load_actor(await make_user(role=role, embassies=list(embassies)))

    return make
