"""Career entries: who adds and verifies them, and the current grade they give."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from engage.accounts.models import AuditEvent, Role
from engage.alumni.career import add_career_entry, delete_career_entry, verify_career_entry
from engage.alumni.grades import map_rank, mapping_queue
from engage.alumni.models import Alumnus, CareerSource, Service
from engage.alumni.profiles import get_alumnus
from engage.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tests.factories import ensure_country

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)


async def test_the_person_reports_and_an_attache_verifies(db, actor_for, make_alumnus, make_user):
    user = await make_user(role=Role.ALUMNUS)
    person = await make_alumnus(country="KE", user=user)
    owner = await actor_for(Role.ALUMNUS, user=user)
    entry = await add_career_entry(
        person.id,
        {"rank": "Colonel", "position": "Director of Operations", "effective_date": "2024-07-01"},
        actor=owner,
        now=NOW,
    )
    assert entry.source == CareerSource.SELF_REPORTED and entry.created_by_id == user.id
    assert entry.grade == "OF-5"
    await person.refresh_from_db()
    assert (person.rank, person.grade, person.grade_level) == ("Colonel", "OF-5", 15)
    assert person.position == "Director of Operations"

    with pytest.raises(PermissionDenied):
        await verify_career_entry(person.id, entry.id, actor=owner)
    outsider = await actor_for(Role.ATTACHE, countries=["UG"])
    with pytest.raises(NotFound):
        await verify_career_entry(person.id, entry.id, actor=outsider)
    attache = await actor_for(Role.ATTACHE, countries=["KE"])
    verified = await verify_career_entry(person.id, entry.id, actor=attache)
    assert verified.source == CareerSource.STAFF_VERIFIED
    assert await AuditEvent.filter(action="career.verify", actor_id=attache.id).exists()
    with pytest.raises(PermissionDenied):
        await delete_career_entry(person.id, entry.id, actor=owner)  # verified now


async def test_staff_and_attaches_add_verified_entries(db, actor_for, make_alumnus):
    person = await make_alumnus(country="KE")
    for role in (Role.STAFF, Role.ATTACHE):
        actor = await actor_for(role, countries=["KE"])
        entry = await add_career_entry(
            person.id,
            {"rank": "Major", "effective_date": date(2010 + len(role), 1, 1)},
            actor=actor,
            now=NOW,
        )
        assert entry.source == CareerSource.STAFF_VERIFIED
    with pytest.raises(NotFound):
        await add_career_entry(
            person.id,
            {"rank": "Major", "effective_date": "2020-01-01"},
            actor=await actor_for(Role.ATTACHE, countries=["UG"]),
            now=NOW,
        )
    stranger = await actor_for(Role.ALUMNUS)
    with pytest.raises(NotFound):
        await add_career_entry(
            person.id, {"rank": "Major", "effective_date": "2020-01-01"}, actor=stranger, now=NOW
        )


async def test_current_grade_comes_from_the_latest_entry(db, actor_for, make_alumnus):
    person = await make_alumnus(country="KE", service=Service.ARMY)
    staff = await actor_for(Role.STAFF)
    await add_career_entry(
        person.id,
        {"rank": "Lieutenant Colonel", "effective_date": "2020-01-01"},
        actor=staff,
        now=NOW,
    )
    # An older entry added later does not change the current rank.
    old = await add_career_entry(
        person.id, {"rank": "Major", "effective_date": "2015-01-01"}, actor=staff, now=NOW
    )
    await person.refresh_from_db()
    assert (person.rank, person.grade) == ("Lieutenant Colonel", "OF-4")
    latest = await add_career_entry(
        person.id, {"rank": "Brigadier", "effective_date": "2024-01-01"}, actor=staff, now=NOW
    )
    await person.refresh_from_db()
    assert (person.rank, person.grade, person.grade_level) == ("Brigadier", "OF-6", 16)
    view = await get_alumnus(person.id, actor=staff)
    assert [e.rank for e in view.career] == ["Brigadier", "Lieutenant Colonel", "Major"]

    await delete_career_entry(person.id, latest.id, actor=staff)
    await person.refresh_from_db()
    assert person.grade == "OF-4"
    for entry in (await get_alumnus(person.id, actor=staff)).career:
        await delete_career_entry(person.id, entry.id, actor=staff)
    await person.refresh_from_db()
    assert (person.rank, person.grade, person.grade_level) == ("", "", None)
    assert old.id
    assert await AuditEvent.filter(action="career.delete").count() == 3


async def test_an_unmapped_rank_waits_in_the_queue_then_sets_the_grade(db, actor_for, make_alumnus):
    await ensure_country("FR", "France")
    person = await make_alumnus(country="FR", service=Service.ARMY)
    staff = await actor_for(Role.STAFF)
    await add_career_entry(
        person.id, {"rank": "Colonel", "effective_date": "2018-01-01"}, actor=staff, now=NOW
    )
    entry = await add_career_entry(
        person.id,
        {"rank": "Général de corps d'armée", "effective_date": "2024-01-01"},
        actor=staff,
        now=NOW,
    )
    assert entry.grade == ""
    await person.refresh_from_db()
    # The latest entry is unmapped: the grade is unknown, never guessed from the older one.
    assert (person.rank, person.grade, person.grade_level) == ("Général de corps d'armée", "", None)
    queue = await mapping_queue()
    assert [m.rank_key for m in queue] == ["general de corps d'armee"]
    await map_rank(queue[0].id, "OF-8", actor=staff)
    person = await Alumnus.get(id=person.id)
    assert (person.grade, person.grade_level) == ("OF-8", 18)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"effective_date": "2020-01-01"}, "rank"),
        ({"rank": "  ", "effective_date": "2020-01-01"}, "rank"),
        ({"rank": "Major"}, "effective_date"),
        ({"rank": "Major", "effective_date": "01/02/2020"}, "effective_date"),
        ({"rank": "Major", "effective_date": "2030-01-01"}, "effective_date"),
        ({"rank": "x" * 101, "effective_date": "2020-01-01"}, "rank"),
        ({"rank": "Major", "effective_date": "2020-01-01", "grade": "OF-9"}, "grade"),
    ],
)
async def test_invalid_entries_name_the_field(db, actor_for, make_alumnus, data, field):
    person = await make_alumnus()
    with pytest.raises(InvalidInput) as caught:
        await add_career_entry(person.id, data, actor=await actor_for(Role.STAFF), now=NOW)
    assert field in caught.value.fields


async def test_the_same_rank_on_the_same_date_is_recorded_once(db, actor_for, make_alumnus):
    person = await make_alumnus()
    staff = await actor_for(Role.STAFF)
    data = {"rank": "Major", "effective_date": "2020-01-01"}
    await add_career_entry(person.id, data, actor=staff, now=NOW)
    with pytest.raises(Conflict):
        await add_career_entry(person.id, {**data, "rank": "MAJOR"}, actor=staff, now=NOW)


async def test_the_person_removes_their_own_unverified_update(
    db, actor_for, make_alumnus, make_user
):
    user = await make_user(role=Role.ALUMNUS)
    person = await make_alumnus(user=user)
    owner = await actor_for(Role.ALUMNUS, user=user)
    entry = await add_career_entry(
        person.id, {"rank": "Major", "effective_date": "2020-01-01"}, actor=owner, now=NOW
    )
    attache = await actor_for(Role.ATTACHE, countries=["KE"])
    with pytest.raises(PermissionDenied):
        await delete_career_entry(person.id, entry.id, actor=attache)
    await delete_career_entry(person.id, entry.id, actor=owner)
    with pytest.raises(NotFound):
        await delete_career_entry(person.id, entry.id, actor=owner)
