"""`engage demo`'s alumni: a few hundred across the demo countries, with training and
careers whose ranks map to grades, made once, scoped for attachés."""

from __future__ import annotations

import time
import unicodedata
from collections import Counter

import pytest

from engage.accounts.actor import load_actor
from engage.accounts.models import User
from engage.alumni.grades import rank_key, table_grade
from engage.alumni.models import (
    Alumnus,
    AlumnusStatus,
    CareerEntry,
    Course,
    RankMapping,
    TrainingRecord,
    Vetting,
)
from engage.alumni.profiles import find_alumnus, list_alumni
from engage.cli.demo import DEMO_CLAIMS, load_demo
from engage.cli.demo_alumni import TOTAL, demo_data
from engage.errors import NotFound


def _scripts(text: str) -> set[str]:
    return {unicodedata.name(c).split()[0] for c in text if c.isalpha()}


@pytest.fixture
async def demo(db, settings):
    started = time.perf_counter()
    lines = await load_demo(settings)
    return lines, time.perf_counter() - started


async def test_demo_adds_a_few_hundred_alumni_once(demo, settings):
    lines, seconds = demo
    assert await Alumnus.all().count() == TOTAL == 300
    assert f"Demo alumni: {TOTAL} profiles created" in "\n".join(lines)
    if settings.database.is_sqlite:
        assert seconds < 15, f"engage demo took {seconds:.1f} s"
    counts = (
        await TrainingRecord.all().count(),
        await CareerEntry.all().count(),
        await Course.all().count(),
        await RankMapping.all().count(),
    )
    again = await load_demo(settings)
    assert "Demo alumni: 0 profiles created" in "\n".join(again)
    assert await Alumnus.all().count() == TOTAL
    assert counts == (
        await TrainingRecord.all().count(),
        await CareerEntry.all().count(),
        await Course.all().count(),
        await RankMapping.all().count(),
    )


async def test_people_across_countries_scripts_and_years(demo, settings):
    people = await Alumnus.all()
    by_country = Counter(p.country_id for p in people)
    assert {"KE", "CO", "VN", "UA", "KZ", "SA"} <= set(by_country)
    assert by_country["KE"] > 40 and by_country["CO"] > 30
    # Names in their own scripts, with the Latin spelling next to them.
    scripts = {s for p in people for s in _scripts(p.family_name)}
    assert {"LATIN", "CYRILLIC", "ARABIC"} <= scripts
    for person in people:
        if _scripts(person.given_name + person.family_name) - {"LATIN"}:
            assert person.family_name_latin and person.family_name_latin.isascii()
    assert any("Nguyễn" in p.family_name and p.family_name_latin == "Nguyen" for p in people)
    emails = [p.email_key for p in people if p.email_key]
    assert len(emails) == len(set(emails)) and len(emails) > 0.8 * len(people)
    # Training over twenty years, funded as the settings say.
    records = await TrainingRecord.all()
    years = {r.class_year for r in records}
    assert max(years) - min(years) >= 15
    assert {r.funding_type for r in records} <= set(settings.programme.funding_types)
    courses = await Course.all()
    assert {str(c.category) for c in courses} == {"pme", "technical", "english", "other"}
    assert any(c.tags for c in courses)
    # A few of every status, flagged and pending people.
    statuses = Counter(str(p.status) for p in people)
    for status in AlumnusStatus:
        assert statuses[status.value] >= 1, status
    assert sum(p.do_not_engage for p in people) >= 2
    assert all(p.do_not_engage_reason for p in people if p.do_not_engage)
    assert 2 <= sum(p.vetting == Vetting.PENDING for p in people) <= 5


async def test_careers_map_to_grades_with_a_few_ranks_queued(demo):
    entries = await CareerEntry.all().prefetch_related("alumnus")
    per_person = Counter(e.alumnus_id for e in entries)
    assert set(per_person.values()) <= {2, 3, 4} and len(per_person) == TOTAL
    unmapped = {
        (code, rank_key(rank)) for code, ranks in demo_data()["unmapped"].items() for rank in ranks
    }
    for entry in entries:
        country, service = entry.alumnus.country_id, entry.alumnus.service
        if entry.grade:
            assert entry.grade == table_grade(country, service, entry.rank)
        else:
            assert (country, rank_key(entry.rank)) in unmapped, (country, entry.rank)
    ungraded = [e for e in entries if not e.grade]
    assert 0 < len(ungraded) < 0.1 * len(entries)
    queue = await RankMapping.filter(grade="")
    assert {(m.country_id, m.rank_key) for m in queue} <= unmapped
    assert queue
    # The profile's rank and grade are those of its latest entry.
    for person in await Alumnus.all().limit(50):
        latest = await CareerEntry.filter(alumnus_id=person.id).order_by("-effective_date").first()
        assert (person.rank, person.grade) == (latest.rank, latest.grade)


async def test_the_demo_accounts_claim_their_profiles(demo):
    for claim in DEMO_CLAIMS:
        user = await User.get(email=claim.email)
        profile = await Alumnus.get(user_id=user.id)
        assert profile.email == claim.email and profile.country_id == claim.country
        assert profile.vetting == (Vetting.PENDING if claim.pending else Vetting.CONFIRMED)
        if claim.pending:
            assert profile.programme_id is None
            assert profile.declared_class_year is not None and profile.staff_notes == ""
            assert not await TrainingRecord.exists(alumnus_id=profile.id)


async def test_attaches_see_their_countries_only(demo):
    nairobi = await load_actor(await User.get(email="attache.nairobi@engage.example"))
    seen = await list_alumni(actor=nairobi)
    assert {p.country_id for p in seen} <= {"KE", "SO", "UG"}
    assert sum(p.country_id == "KE" for p in seen) > 40
    bogota = await load_actor(await User.get(email="attache.bogota@engage.example"))
    assert {p.country_id for p in await list_alumni(actor=bogota)} <= {"CO", "EC"}
    vietnamese = await Alumnus.filter(country_id="VN").first()
    with pytest.raises(NotFound):
        await find_alumnus(vietnamese.id, actor=nairobi)
