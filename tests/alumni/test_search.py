"""Name search: case, accents and scripts folded, token prefixes through the index, all
words required; tokens kept in step with every write of names."""

from __future__ import annotations

import pytest

from engage.accounts.models import Role
from engage.alumni import duplicates, identity, profiles, rights
from engage.alumni.audience import AudienceFilter, audience_query
from engage.alumni.models import Alumnus, SearchToken
from engage.alumni.names import prefix_bounds, rebuild_search_tokens, refresh_search_tokens
from tests.factories import ensure_country


async def _found(q: str, actor) -> set[int]:
    return {a.id for a in await audience_query(AudienceFilter(q=q), actor=actor)}


@pytest.fixture
async def named(db, make_alumnus):
    people = {
        "garcia": await make_alumnus(country="CO", given_name="José", family_name="García"),
        "nguyen": await make_alumnus(country="VN", given_name="Thành", family_name="Nguyễn Văn"),
        "kovalenko_ua": await make_alumnus(
            country="UA",
            given_name="Олександр",
            family_name="Коваленко",
            given_name_latin="Oleksandr",
            family_name_latin="Kovalenko",
        ),
        "kovalenko_latin": await make_alumnus(
            country="UA", given_name="Iryna", family_name="Kovalenko"
        ),
        "zhang": await make_alumnus(country="CN", given_name="伟", family_name="张"),
        "papadopoulos": await make_alumnus(
            country="GR", given_name="Γιώργος", family_name="Παπαδόπουλος"
        ),
        "obrien": await make_alumnus(country="IE", given_name="Seán", family_name="O'Brien"),
        "dang": await make_alumnus(country="VN", given_name="ĐẶNG", family_name="Thị Zuyên"),
        "garcia_other": await make_alumnus(
            country="CO", given_name="Gabriel", family_name="Garzón", programme_id="CO-2015-0007"
        ),
    }
    return people


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("jose garcia", {"garcia"}),
        ("José García", {"garcia"}),
        ("JOSE", {"garcia"}),
        ("garcía, josé", {"garcia"}),
        ("gar", {"garcia", "garcia_other"}),
        ("jose x", set()),
        ("nguyen", {"nguyen"}),
        ("Nguyễn", {"nguyen"}),
        ("thanh nguy", {"nguyen"}),
        ("коваленко", {"kovalenko_ua", "kovalenko_latin"}),
        ("Kovalenko", {"kovalenko_ua", "kovalenko_latin"}),
        ("олександр", {"kovalenko_ua"}),
        ("oleks kova", {"kovalenko_ua"}),
        ("iryna коваленко", {"kovalenko_latin"}),
        ("张伟", {"zhang"}),
        ("zhang wei", {"zhang"}),
        ("zhangwei", {"zhang"}),
        ("Παπαδόπουλος", {"papadopoulos"}),
        ("papadop", {"papadopoulos"}),
        ("o'brien", {"obrien"}),
        ("OBrien sean", {"obrien"}),
        ("dang", {"dang"}),
        ("Đặng", {"dang"}),
        ("z", {"zhang", "dang"}),
        ("zu", {"dang"}),
        ("CO-2015-0007", {"garcia_other"}),
        ("!!!", set()),
    ],
)
async def test_search_folds_case_accents_and_scripts(named, actor_for, query, expected):
    staff = await actor_for(Role.STAFF)
    assert await _found(query, staff) == {named[k].id for k in expected}


async def test_search_by_email(named, actor_for):
    staff = await actor_for(Role.STAFF)
    person = named["garcia"]
    assert await _found(person.email.upper(), staff) == {person.id}


async def test_search_respects_scope(named, actor_for):
    attache = await actor_for(Role.ATTACHE, countries=["UA"])
    assert await _found("kovalenko", attache) == {
        named["kovalenko_ua"].id,
        named["kovalenko_latin"].id,
    }
    assert await _found("garcia", attache) == set()


def test_prefix_bounds_stay_within_the_token_alphabet():
    assert prefix_bounds("nguy") == ("nguy", "nguz")
    assert prefix_bounds("az") == ("az", "b")
    assert prefix_bounds("a9") == ("a9", "aa")
    assert prefix_bounds("zz") == ("zz", None)
    tokens = sorted(["a9", "a99", "aa", "az", "azz", "b", "zz", "zza"])
    for prefix in ("a9", "az", "zz", "a"):
        low, high = prefix_bounds(prefix)
        in_range = {t for t in tokens if t >= low and (high is None or t < high)}
        assert in_range == {t for t in tokens if t.startswith(prefix)}


async def test_search_uses_the_token_index(db, make_alumnus):
    """The query plan reads the token index, not the whole table (both databases)."""
    await make_alumnus(given_name="Nguyễn")
    conn = Alumnus._meta.db
    dialect = conn.capabilities.dialect
    sql = "SELECT alumnus_id FROM alumni_search_token WHERE token >= 'nguy' AND token < 'nguz'"
    if dialect == "sqlite":
        plan = " ".join(
            str(row) for row in await conn.execute_query_dict(f"EXPLAIN QUERY PLAN {sql}")
        )
        assert "USING COVERING INDEX" in plan or "USING INDEX" in plan, plan
    else:
        await conn.execute_script("SET enable_seqscan = off")
        plan = " ".join(str(row) for row in await conn.execute_query_dict(f"EXPLAIN {sql}"))
        assert "Index" in plan, plan


# --- Tokens follow every write of names --------------------------------------------------


async def _tokens(alumnus_id: int) -> set[str]:
    return set(await SearchToken.filter(alumnus_id=alumnus_id).values_list("token", flat=True))


async def test_create_and_update_keep_tokens(db, actor_for, settings):
    await ensure_country("UA")
    staff = await actor_for(Role.STAFF)
    person = await profiles.create_alumnus(
        {"given_name": "Олександр", "family_name": "Коваленко", "country": "UA"},
        actor=staff,
        settings=settings,
    )
    assert await _tokens(person.id) == {"oleksandr", "kovalenko"}
    await profiles.update_alumnus(
        person.id, {"family_name_latin": "Kovalenko", "preferred_name": "Sasha"}, actor=staff
    )
    assert await _tokens(person.id) == {"oleksandr", "kovalenko", "sasha"}
    await profiles.update_alumnus(person.id, {"family_name": "Шевченко"}, actor=staff)
    assert await _tokens(person.id) == {"oleksandr", "shevchenko", "kovalenko", "sasha"}
    assert await _found("shevchenko", staff) == {person.id}


async def test_registration_claim_merge_and_erasure_keep_tokens(
    db, actor_for, make_alumnus, make_user, settings
):
    await ensure_country("UA")
    staff = await actor_for(Role.STAFF)
    # Registration: the pending profile is searchable once the address is verified.
    user = await make_user(role=Role.ALUMNUS)
    details = await identity.check_registration(
        {
            "given_name": "Ілля",
            "family_name": "Бондар",
            "country": "UA",
            "service": "army",
        }
    )
    own = await identity.start_registration(user, details, now=user.created_at)
    assert await _tokens(own.id) == {"illya", "bondar"}
    # Claim: an imported profile with the address takes the Latin spelling.
    imported = await make_alumnus(
        country="UA", given_name="Ілля", family_name="Бондар", email="illia@example.ua"
    )
    registrant = await make_user(role=Role.ALUMNUS, email="illia@example.ua")
    details = await identity.check_registration(
        {
            "given_name": "Ілля",
            "family_name": "Бондар",
            "family_name_latin": "Bondar-Latin",
            "country": "UA",
            "service": "army",
        }
    )
    mine = await identity.start_registration(registrant, details, now=registrant.created_at)
    link = await identity.address_verified(registrant)
    assert link.claimed and link.alumnus.id == imported.id
    assert "latin" in await _tokens(imported.id)
    assert not await SearchToken.exists(alumnus_id=mine.id), "the replaced profile is gone"
    # Merge: the merged profile is no longer found; the survivor is.
    twin = await make_alumnus(country="UA", given_name="Ілля", family_name="Бондар")
    await duplicates.merge_alumni(imported.id, twin.id, keep=imported.id, actor=staff)
    assert await _tokens(twin.id) == set()
    assert twin.id not in await _found("bondar", staff)
    # Erasure: no token is left to find the person by.
    await rights.erase_alumnus(imported.id, actor=staff, settings=settings)
    assert await _tokens(imported.id) == set()
    assert imported.id not in await _found("illya", staff)


async def test_rebuild_indexes_every_live_profile(db, make_alumnus, actor_for):
    person = await make_alumnus(given_name="Zoltán", family_name="Kovács")
    await SearchToken.all().delete()
    assert await rebuild_search_tokens() >= 1
    assert await _tokens(person.id) == {"zoltan", "kovacs"}
    await refresh_search_tokens([])  # nothing to do is fine
