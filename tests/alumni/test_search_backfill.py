from __future__ import annotations

from engage.alumni.models import Alumnus, SearchToken
from engage.alumni.names import ensure_search_tokens, search_key
from tests.factories import ensure_country


async def test_profiles_without_tokens_are_indexed_at_start(db):
    await ensure_country("VN")
    person = await Alumnus.create(
        given_name="Minh",
        family_name="Nguyễn",
        search_key=search_key("Minh", "Nguyễn"),
        country_id="VN",
    )
    assert await SearchToken.filter(alumnus_id=person.id).count() == 0
    assert await ensure_search_tokens() == 1
    tokens = set(await SearchToken.filter(alumnus_id=person.id).values_list("token", flat=True))
    assert tokens == {"minh", "nguyen"}
    assert await ensure_search_tokens() == 0  # cheap and idempotent
