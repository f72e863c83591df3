"""The course catalogue and training records."""

from __future__ import annotations

import pytest

from engage.accounts.models import AuditEvent, Role
from engage.alumni.models import CourseCategory
from engage.alumni.profiles import get_alumnus, profile_data
from engage.alumni.training import (
    add_training,
    create_course,
    delete_course,
    delete_training,
    list_courses,
    update_course,
)
from engage.errors import Conflict, InvalidInput, NotFound, PermissionDenied

FUNDING = ("IMET", "FMS", "other")


async def test_staff_keep_the_catalogue(db, actor_for):
    staff = await actor_for(Role.STAFF)
    course = await create_course(
        {
            "title": "Command and General Staff",
            "school": "CGSC",
            "category": "pme",
            "tags": "C-130, Patriot, C-130",
        },
        actor=staff,
    )
    assert course.category == CourseCategory.PME and course.tags == ["C-130", "Patriot"]
    with pytest.raises(Conflict) as caught:
        await create_course({"title": "Command and General Staff", "school": "CGSC"}, actor=staff)
    assert "title" in caught.value.fields
    other = await create_course({"title": "English", "school": "DLI"}, actor=staff)
    assert other.category == CourseCategory.OTHER and other.tags == []
    with pytest.raises(Conflict):
        await update_course(
            other.id, {"title": "Command and General Staff", "school": "CGSC"}, actor=staff
        )
    renamed = await update_course(other.id, {"category": "english", "tags": ["ALC"]}, actor=staff)
    assert renamed.category == CourseCategory.ENGLISH and renamed.tags == ["ALC"]
    attache = await actor_for(Role.ATTACHE, countries=["KE"])
    assert [c.title for c in await list_courses(actor=attache)] == [
        "Command and General Staff",
        "English",
    ]
    for call in (
        create_course({"title": "X", "school": "Y"}, actor=attache),
        update_course(course.id, {"title": "Y"}, actor=attache),
        delete_course(course.id, actor=attache),
    ):
        with pytest.raises(PermissionDenied):
            await call
    with pytest.raises(PermissionDenied):
        await list_courses(actor=await actor_for(Role.ALUMNUS))
    await delete_course(other.id, actor=staff)
    with pytest.raises(NotFound):
        await update_course(other.id, {"title": "Z"}, actor=staff)
    assert await AuditEvent.filter(action__startswith="course.").count() == 4


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"school": "Y"}, "title"),
        ({"title": "X"}, "school"),
        ({"title": "X", "school": "Y", "category": "cooking"}, "category"),
        ({"title": "X", "school": "Y", "tags": 5}, "tags"),
        ({"title": "X", "school": "Y", "tags": ["t" * 61]}, "tags"),
        ({"title": "X", "school": "Y", "level": 3}, "level"),
    ],
)
async def test_invalid_courses_name_the_field(db, actor_for, data, field):
    with pytest.raises(InvalidInput) as caught:
        await create_course(data, actor=await actor_for(Role.STAFF))
    assert field in caught.value.fields


async def test_staff_record_training(db, actor_for, make_alumnus, make_course):
    person = await make_alumnus(country="KE")
    course = await make_course(title="Basic Officer Leader", tags=["M4"])
    staff = await actor_for(Role.STAFF)
    training = await add_training(
        person.id,
        {
            "course_id": str(course.id),
            "start_date": "2019-01-07",
            "end_date": "2019-06-14",
            "funding_type": "IMET",
        },
        actor=staff,
        funding_types=FUNDING,
    )
    assert training.class_year == 2019 and training.graduated is True
    data = profile_data(await get_alumnus(person.id, actor=staff))
    assert data["training"] == [
        {
            "id": training.id,
            "course": {
                "id": course.id,
                "title": "Basic Officer Leader",
                "school": "Staff College",
                "category": "other",
                "tags": ["M4"],
            },
            "start_date": training.start_date,
            "end_date": training.end_date,
            "class_year": 2019,
            "funding_type": "IMET",
            "graduated": True,
        }
    ]
    with pytest.raises(Conflict):
        await delete_course(course.id, actor=staff)  # people trained on it
    attache = await actor_for(Role.ATTACHE, countries=["KE"])
    with pytest.raises(PermissionDenied):
        await add_training(
            person.id,
            {"course_id": course.id, "funding_type": "IMET"},
            actor=attache,
            funding_types=FUNDING,
        )
    with pytest.raises(PermissionDenied):
        await delete_training(person.id, training.id, actor=attache)
    await delete_training(person.id, training.id, actor=staff)
    assert (await get_alumnus(person.id, actor=staff)).training == []
    assert await AuditEvent.filter(action__startswith="training.").count() == 2


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"course_id": None, "funding_type": "IMET"}, "course_id"),
        ({"course_id": 999_999, "funding_type": "IMET"}, "course_id"),
        ({"course_id": "abc", "funding_type": "IMET"}, "course_id"),
        ({"funding_type": "Grant"}, "funding_type"),
        ({"funding_type": "imet"}, "funding_type"),
        ({}, "funding_type"),
        ({"funding_type": "FMS", "start_date": "2019-06-01", "end_date": "2019-01-01"}, "end_date"),
        ({"funding_type": "FMS", "start_date": "June 2019"}, "start_date"),
        ({"funding_type": "FMS", "class_year": "19x"}, "class_year"),
        ({"funding_type": "FMS", "class_year": 1850}, "class_year"),
        ({"funding_type": "FMS", "graduated": "perhaps"}, "graduated"),
    ],
)
async def test_invalid_training_names_the_field(
    db, actor_for, make_alumnus, make_course, data, field
):
    person = await make_alumnus()
    course = await make_course()
    data = {"course_id": course.id, **data}
    if data["course_id"] is None:
        del data["course_id"]
    with pytest.raises(InvalidInput) as caught:
        await add_training(
            person.id, data, actor=await actor_for(Role.STAFF), funding_types=FUNDING
        )
    assert field in caught.value.fields


async def test_funding_types_come_from_the_settings(db, actor_for, make_alumnus, make_course):
    person = await make_alumnus()
    course = await make_course()
    staff = await actor_for(Role.STAFF)
    record = await add_training(
        person.id,
        {"course_id": course.id, "funding_type": "Grant"},
        actor=staff,
        funding_types=("Grant",),
    )
    assert record.funding_type == "Grant" and record.class_year is None
