"""The audience filter: each criterion, the scope built into the query, exact tags,
training criteria on one record, no duplicates, and input validation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from starlette.datastructures import QueryParams

from engage.accounts.models import Role, User
from engage.alumni.audience import (
    AudienceFilter,
    audience_count,
    audience_query,
    check_filter,
    filter_from,
    parse_filter,
)
from engage.alumni.models import (
    AlumnusStatus,
    CourseCategory,
    Service,
    TrainingRecord,
    Vetting,
)
from engage.errors import InvalidInput, NotFound, PermissionDenied
from engage.places.models import Country
from tests.factories import ensure_country


async def _country(code: str, region: str, continent: str) -> None:
    await ensure_country(code)
    await Country.filter(code=code).update(region=region, continent=continent)


@pytest.fixture
async def people(db, make_alumnus, make_course, make_user):
    """Four live people and three who never show (merged, erased, unverified)."""
    await _country("KE", "Eastern Africa", "Africa")
    await _country("UG", "Eastern Africa", "Africa")
    await _country("VN", "South-eastern Asia", "Asia")
    pme = await make_course(
        title="Command and Staff",
        school="Staff College",
        category=CourseCategory.PME,
        tags=["C-130"],
    )
    tech = await make_course(
        title="Air Defence",
        school="Air School",
        category=CourseCategory.TECHNICAL,
        tags=["C-1300", "Patriot", "Су-27"],
    )
    english = await make_course(
        title="English", school="Language Institute", category=CourseCategory.ENGLISH, tags=[]
    )
    owner = await make_user(role=Role.ALUMNUS)
    kamau = await make_alumnus(
        country="KE",
        given_name="Kamau",
        family_name="Otieno",
        service=Service.ARMY,
        grade="OF-5",
        grade_level=15,
        language="en",
        user=owner,
    )
    okello = await make_alumnus(
        country="UG",
        given_name="Okello",
        family_name="Mugisha",
        service=Service.AIR_FORCE,
        grade="OF-2",
        grade_level=12,
        language="pt-BR",
        vetting=Vetting.PENDING,
        accepts_invitations=False,
    )
    thanh = await make_alumnus(
        country="VN",
        given_name="Thành",
        family_name="Nguyễn",
        service=Service.NAVY,
        language="vi",
        status=AlumnusStatus.RETIRED,
        accepts_newsletter=False,
    )
    wanjiru = await make_alumnus(
        country="KE",
        given_name="Wanjiru",
        family_name="Achieng",
        service=Service.NAVY,
        grade="OR-7",
        grade_level=7,
        language="sw",
    )
    await TrainingRecord.create(alumnus=kamau, course=pme, class_year=2015)
    await TrainingRecord.create(alumnus=okello, course=tech, class_year=2019)
    await TrainingRecord.create(alumnus=thanh, course=pme, class_year=2010)
    await TrainingRecord.create(alumnus=thanh, course=tech, class_year=2020)
    await TrainingRecord.create(alumnus=wanjiru, course=english, class_year=2015)
    # Never listed: merged, erased, a registration whose address is unverified.
    await make_alumnus(country="KE", given_name="Kamau", merged_into=kamau)
    await make_alumnus(
        country="KE", given_name="Erased", erased_at=datetime(2024, 1, 1, tzinfo=UTC)
    )
    unverified = await make_user(role=Role.ALUMNUS, verified=False)
    await make_alumnus(
        country="KE",
        given_name="Kamau",
        family_name="Pending",
        email="",
        vetting=Vetting.PENDING,
        user=unverified,
    )
    return {
        "kamau": kamau,
        "okello": okello,
        "thanh": thanh,
        "wanjiru": wanjiru,
        "pme": pme,
        "tech": tech,
        "english": english,
    }


async def _names(flt: AudienceFilter, actor) -> set[str]:
    await check_filter(flt, actor=actor)
    rows = await audience_query(flt, actor=actor)
    count = await audience_count(flt, actor=actor)
    assert count == len(rows), "the count and the rows agree (no person twice)"
    return {a.given_name for a in rows}


EVERYONE = {"Kamau", "Okello", "Thành", "Wanjiru"}


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({}, EVERYONE),
        ({"country": ["KE"]}, {"Kamau", "Wanjiru"}),
        ({"country": ["KE", "VN"]}, {"Kamau", "Wanjiru", "Thành"}),
        ({"region": "Eastern Africa"}, {"Kamau", "Wanjiru", "Okello"}),
        ({"region": "Asia"}, {"Thành"}),
        ({"service": "navy"}, {"Thành", "Wanjiru"}),
        ({"status": "retired"}, {"Thành"}),
        ({"grade_min": "OF-3"}, {"Kamau"}),
        ({"grade_max": "OF-2"}, {"Okello", "Wanjiru"}),
        ({"grade_min": "OR-1", "grade_max": "WO"}, {"Wanjiru"}),
        ({"grade_min": "OF-2", "grade_max": "OF-5"}, {"Kamau", "Okello"}),
        ({"course_category": "pme"}, {"Kamau", "Thành"}),
        ({"school": "Air School"}, {"Okello", "Thành"}),
        ({"class_year_min": 2016}, {"Okello", "Thành"}),
        ({"class_year_max": 2012}, {"Thành"}),
        ({"class_year_min": 2015, "class_year_max": 2015}, {"Kamau", "Wanjiru"}),
        ({"tag": "C-130"}, {"Kamau", "Thành"}),
        ({"tag": "C-1300"}, {"Okello", "Thành"}),
        ({"tag": "C-13"}, set()),
        ({"tag": "c-130"}, set()),
        ({"tag": "Су-27"}, {"Okello", "Thành"}),
        ({"tag": "Patriot", "class_year_max": 2019}, {"Okello"}),
        ({"language": "pt"}, {"Okello"}),
        ({"language": "pt-BR"}, {"Okello"}),
        ({"language": "en"}, {"Kamau"}),
        ({"vetting": "pending"}, {"Okello"}),
        ({"vetting": "confirmed"}, {"Kamau", "Thành", "Wanjiru"}),
        ({"has_account": True}, {"Kamau"}),
        ({"has_account": False}, {"Okello", "Thành", "Wanjiru"}),
        ({"accepts_invitations": False}, {"Okello"}),
        ({"accepts_newsletter": True}, {"Kamau", "Okello", "Wanjiru"}),
        ({"country": ["KE"], "service": "navy", "class_year_min": 2015}, {"Wanjiru"}),
    ],
)
async def test_each_criterion(people, actor_for, criteria, expected):
    staff = await actor_for(Role.STAFF)
    assert await _names(AudienceFilter(**criteria), staff) == expected


async def test_course_and_embassy(people, actor_for, make_embassy):
    staff = await actor_for(Role.STAFF)
    assert await _names(AudienceFilter(course=people["tech"].id), staff) == {"Okello", "Thành"}
    assert await _names(AudienceFilter(course=999_999), staff) == set()
    await make_embassy(code="KLA", country="UG", accredited=["UG", "VN"])
    assert await _names(AudienceFilter(embassy="kla"), staff) == {"Okello", "Thành"}
    with pytest.raises(NotFound):
        await check_filter(AudienceFilter(embassy="NOPE"), actor=staff)


async def test_training_criteria_hold_for_one_and_the_same_record(people, actor_for):
    staff = await actor_for(Role.STAFF)
    # Thành took a PME course in 2010 and a technical one in 2020: no technical course
    # before 2015, no PME course after 2015.
    assert (
        await _names(AudienceFilter(course_category="technical", class_year_max=2015), staff)
        == set()
    )
    assert await _names(AudienceFilter(course_category="pme", class_year_min=2016), staff) == set()
    assert await _names(
        AudienceFilter(course_category="pme", class_year_min=2005, class_year_max=2012), staff
    ) == {"Thành"}
    # Two matching records still make one person.
    assert await audience_count(AudienceFilter(class_year_min=2000), actor=staff) == 4


async def test_an_attache_sees_their_countries_only(people, actor_for, make_embassy):
    attache = await actor_for(Role.ATTACHE, countries=["KE"])
    assert await _names(AudienceFilter(), attache) == {"Kamau", "Wanjiru"}
    # A country outside the scope matches nobody; it is not an error.
    assert await _names(AudienceFilter(country=["UG"]), attache) == set()
    assert await _names(AudienceFilter(region="Eastern Africa"), attache) == {"Kamau", "Wanjiru"}
    own = next(iter(attache.embassy_ids))
    from engage.places.models import Embassy

    code = (await Embassy.get(id=own)).code
    assert await _names(AudienceFilter(embassy=code), attache) == {"Kamau", "Wanjiru"}
    other = await make_embassy(code="KLA2", country="UG", accredited=["UG", "KE"])
    with pytest.raises(NotFound):
        await check_filter(AudienceFilter(embassy=other.code), actor=attache)
    with pytest.raises(NotFound):
        await audience_count(AudienceFilter(embassy=other.code), actor=attache)
    # Unchecked, another embassy's code still matches nobody.
    assert await audience_query(AudienceFilter(embassy=other.code), actor=attache).count() == 0


async def test_an_attache_without_embassies_sees_nobody(people, make_user):
    from engage.accounts.actor import load_actor

    lone = await load_actor(await make_user(role=Role.ATTACHE))
    assert await audience_count(AudienceFilter(), actor=lone) == 0


async def test_alumni_may_not_build_audiences(people, actor_for):
    alumnus = await actor_for(Role.ALUMNUS)
    with pytest.raises(PermissionDenied):
        audience_query(AudienceFilter(), actor=alumnus)
    with pytest.raises(PermissionDenied):
        await audience_count(AudienceFilter(), actor=alumnus)


async def test_merged_and_unverified_profiles_never_show(people, actor_for):
    staff = await actor_for(Role.STAFF)
    user = await User.get(id=(await people["kamau"].user).id)
    assert user.email_verified_at is not None
    names = {
        (a.given_name, a.family_name)
        for a in await audience_query(AudienceFilter(q="kamau"), actor=staff)
    }
    assert names == {("Kamau", "Otieno")}, "merged and unverified profiles never show"


# --- Parsing ----------------------------------------------------------------------------


def test_parse_a_query_string():
    params = QueryParams(
        "q=+Nguyen+&country=ke&country=UG,vn&grade_min=of-3&service=&has_account=yes"
        "&class_year_min=2010&page=3&sort=name"
    )
    flt = parse_filter(params)
    assert flt.q == "Nguyen"
    assert flt.country == ["KE", "UG", "VN"]
    assert flt.grade_min == "OF-3"
    assert flt.service is None
    assert flt.has_account is True
    assert flt.class_year_min == 2010
    assert flt.to_json() == {
        "q": "Nguyen",
        "country": ["KE", "UG", "VN"],
        "grade_min": "OF-3",
        "class_year_min": 2010,
        "has_account": True,
    }
    assert ("country", "UG") in flt.query_items() and ("has_account", "true") in flt.query_items()
    assert parse_filter(QueryParams(flt.query_items())) == flt
    assert not parse_filter(QueryParams("")).active


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ("country=Kenya", "country"),
        ("service=cavalry", "service"),
        ("grade_min=general", "grade_min"),
        ("grade_min=OF-5&grade_max=OF-3", "grade_max"),
        ("class_year_min=2020&class_year_max=2010", "class_year_max"),
        ("class_year_min=twenty", "class_year_min"),
        ("course=-1", "course"),
        ("course=99999999999", "course"),
        ("vetting=maybe", "vetting"),
        ("has_account=perhaps", "has_account"),
        ("language=english!", "language"),
        ("q=" + "x" * 201, "q"),
    ],
)
def test_bad_input_names_the_field(params, field):
    with pytest.raises(InvalidInput) as caught:
        parse_filter(QueryParams(params))
    assert field in caught.value.fields
    assert caught.value.fields[field]


def test_saved_filters_are_validated():
    assert filter_from({"country": ["KE"], "tag": "C-130"}).tag == "C-130"
    with pytest.raises(InvalidInput) as caught:
        filter_from({"colour": "blue"})
    assert "colour" in caught.value.fields
