"""The directory: pages, sorting, the HTML page with its filters and scope, and the
query-count proof (a page and its count cost the same queries for 1,000, 10,000 and
100,000 alumni)."""

from __future__ import annotations

import pytest

from engage.accounts.models import Role
from engage.alumni.audience import AudienceFilter, audience_count
from engage.alumni.directory import directory_views, search_directory
from engage.alumni.models import Alumnus
from engage.errors import InvalidInput, NotFound
from tests.alumni.generated import count_queries, generate_alumni
from tests.factories import ensure_country

FILTERED = AudienceFilter(
    q="garc",
    country=["CO", "KE", "VN"],
    grade_min="OR-7",
    class_year_min=2005,
    tag="C-130",
)


async def _page_queries(actor) -> int:
    with count_queries() as queries:
        listing = await search_directory(FILTERED, actor=actor, page=2, page_size=5, sort="-grade")
        await directory_views(listing, actor=actor)
        await audience_count(FILTERED, actor=actor)
    assert listing.items, "the filter selects enough people for a second page"
    return len(queries)


async def test_queries_do_not_grow_with_the_number_of_alumni(db, actor_for):
    staff = await actor_for(Role.STAFF)
    await generate_alumni(1_000, first_id=1_000_000)
    small = await _page_queries(staff)
    await generate_alumni(9_000, first_id=1_001_000)
    assert await Alumnus.all().count() >= 10_000
    large = await _page_queries(staff)
    assert small == large, f"{small} queries for 1,000 alumni, {large} for 10,000"
    assert large <= 7, "count, page ids, page rows, class years, training, careers, count"


async def test_the_html_page_costs_the_same_queries(db, client, make_user, sign_in):
    staff = await make_user(role=Role.STAFF)
    await sign_in(client, staff)
    url = "/alumni?" + "&".join(f"{k}={v}" for k, v in FILTERED.query_items()) + "&sort=-grade"
    await generate_alumni(1_000, first_id=2_000_000)
    await client.get(url)  # warm up (sessions, caches)
    with count_queries() as small:
        response = await client.get(url)
    assert response.status_code == 200 and "/alumni/2" in response.text
    await generate_alumni(9_000, first_id=2_001_000)
    with count_queries() as large:
        response = await client.get(url)
    assert response.status_code == 200 and "/alumni/2" in response.text
    assert len(small) == len(large), (small, large)


@pytest.mark.slow
async def test_queries_do_not_grow_up_to_100000_alumni(db, actor_for):
    staff = await actor_for(Role.STAFF)
    await generate_alumni(1_000, first_id=3_000_000)
    small = await _page_queries(staff)
    await generate_alumni(99_000, first_id=3_001_000)
    assert await Alumnus.all().count() >= 100_000
    assert await _page_queries(staff) == small


# --- Pages and sorting -------------------------------------------------------------------


@pytest.fixture
async def ranked(db, make_alumnus):
    for code, name in (("KE", "Kenya"), ("UG", "Uganda"), ("CO", "Colombia")):
        await ensure_country(code, name)
    people = [
        await make_alumnus(country="UG", given_name="Bo", family_name="Adams", grade_level=15),
        await make_alumnus(country="KE", given_name="Al", family_name="Baker"),
        await make_alumnus(country="CO", given_name="Cy", family_name="Baker", grade_level=12),
        await make_alumnus(country="KE", given_name="Di", family_name="Clark", grade_level=7),
        await make_alumnus(country="UG", given_name="Ed", family_name="Adams", grade_level=15),
    ]
    return people


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["Bo", "Ed", "Al", "Cy", "Di"]),
        ("-name", ["Di", "Cy", "Al", "Ed", "Bo"]),
        ("country", ["Cy", "Al", "Di", "Bo", "Ed"]),
        ("grade", ["Al", "Di", "Cy", "Bo", "Ed"]),
        ("-grade", ["Bo", "Ed", "Cy", "Di", "Al"]),
    ],
)
async def test_sorts(ranked, actor_for, sort, expected):
    staff = await actor_for(Role.STAFF)
    listing = await search_directory(AudienceFilter(), actor=staff, sort=sort)
    assert [a.given_name for a in listing.items] == expected


async def test_pages_cover_everyone_once(ranked, actor_for):
    staff = await actor_for(Role.STAFF)
    seen = []
    for number in (1, 2, 3):
        listing = await search_directory(AudienceFilter(), actor=staff, page=number, page_size=2)
        assert (listing.total, listing.pages, listing.page) == (5, 3, number)
        seen.extend(a.id for a in listing.items)
    assert sorted(seen) == sorted(a.id for a in ranked)
    beyond = await search_directory(AudienceFilter(), actor=staff, page=4, page_size=2)
    assert beyond.items == [] and beyond.total == 5


@pytest.mark.parametrize(
    ("options", "field"),
    [({"page": 0}, "page"), ({"page_size": 500}, "page_size"), ({"sort": "email"}, "sort")],
)
async def test_bad_paging_names_the_field(ranked, actor_for, options, field):
    staff = await actor_for(Role.STAFF)
    with pytest.raises(InvalidInput) as caught:
        await search_directory(AudienceFilter(), actor=staff, **options)
    assert field in caught.value.fields


async def test_views_are_what_the_actor_may_see(ranked, actor_for):
    attache = await actor_for(Role.ATTACHE, countries=["KE"])
    listing = await search_directory(AudienceFilter(), actor=attache)
    assert {a.given_name for a in listing.items} == {"Al", "Di"}
    views = await directory_views(listing, actor=attache)
    assert all(v.audience == "attache" for v in views)
    with pytest.raises(NotFound):
        await search_directory(AudienceFilter(embassy="ELSEWHERE"), actor=attache)


# --- The HTML page -----------------------------------------------------------------------


@pytest.fixture
def as_role(client, make_user, make_embassy, sign_in):
    """Sign ``client`` in with a new user of ``role`` (an attaché: embassy NBO, KE and SO)."""

    async def sign(role: Role):
        embassies = []
        if role is Role.ATTACHE:
            embassy = await make_embassy(code="NBO", country="KE", accredited=["KE", "SO"])
            embassies = [embassy.code]
        user = await make_user(role=role, embassies=embassies)
        await sign_in(client, user)
        return user

    return sign


async def test_staff_search_filter_and_sort(client, as_role, ranked, make_alumnus):
    await make_alumnus(country="KE", given_name="José", family_name="García", grade_level=16)
    await as_role(Role.STAFF)
    page = await client.get("/alumni")
    assert page.status_code == 200
    assert "6 people" in page.text
    for name in ("Adams", "Baker", "Clark", "García"):
        assert name in page.text
    found = await client.get("/alumni", params={"q": "jose garcia"})
    assert "1 person" in found.text and "García" in found.text and "Adams" not in found.text
    assert 'value="jose garcia"' in found.text, "the search stays in the form"
    kenyans = await client.get("/alumni", params=[("country", "KE"), ("grade_min", "OF-1")])
    assert "García" in kenyans.text and "Clark" not in kenyans.text
    assert '<option value="KE" selected>' in kenyans.text
    sorted_page = await client.get("/alumni", params={"sort": "-grade"})
    assert sorted_page.text.index("García") < sorted_page.text.index("Clark")
    assert 'aria-sort="descending"' in sorted_page.text
    assert "/alumni/export.csv?" in found.text and "q=jose+garcia" in found.text


async def test_bad_filters_keep_the_input_and_say_what_is_wrong(client, as_role, ranked):
    await as_role(Role.STAFF)
    page = await client.get("/alumni", params={"grade_min": "OF-5", "grade_max": "OF-2"})
    assert page.status_code == 422
    assert "The highest grade must not be below the lowest." in page.text
    assert '<option value="OF-5" selected>' in page.text


async def test_pages_in_the_html(client, as_role, db):
    await generate_alumni(120, first_id=5_000_000)
    await as_role(Role.STAFF)
    first = await client.get("/alumni")
    assert "120 people" in first.text and "Page 1 of 3" in first.text
    assert 'rel="next"' in first.text and 'rel="prev"' not in first.text
    last = await client.get("/alumni", params={"page": "3"})
    assert "Page 3 of 3" in last.text and 'rel="prev"' in last.text


async def test_attache_scope_in_the_html(client, as_role, ranked, make_embassy):
    await as_role(Role.ATTACHE)
    page = await client.get("/alumni")
    assert "Baker" in page.text and "Clark" in page.text and "Adams" not in page.text
    assert "2 people" in page.text
    assert "Uganda" not in page.text, "countries outside the scope are not offered"
    nobody = await client.get("/alumni", params={"country": "UG"})
    assert nobody.status_code == 200 and "Nobody matches" in nobody.text
    other = await make_embassy(code="KLA", country="UG", accredited=["UG"])
    assert (await client.get("/alumni", params={"embassy": other.code})).status_code == 404
    assert (await client.get("/alumni", params={"embassy": "NOPE"})).status_code == 404
    own = await client.get("/alumni", params={"embassy": "NBO"})
    assert own.status_code == 200 and "Baker" in own.text
    ugandan = ranked[0]
    assert (await client.get(f"/alumni/{ugandan.id}")).status_code == 404


async def test_alumni_may_not_open_the_directory(client, as_role, ranked):
    await as_role(Role.ALUMNUS)
    assert (await client.get("/alumni")).status_code == 403
    assert (await client.get("/alumni/export.csv")).status_code == 403
    assert (await client.get("/segments")).status_code == 403
