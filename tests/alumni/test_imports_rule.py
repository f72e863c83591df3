"""The import merge rule: the alumnus's edited contact details win, the import's
training data wins."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from engage.accounts.models import AuditEvent, Role
from engage.alumni.imports import ImportedRecord, ImportedTraining, apply_imported_record
from engage.alumni.models import Alumnus, TrainingRecord, Vetting
from engage.errors import Conflict

EDITED = datetime(2025, 3, 1, tzinfo=UTC)


async def test_edited_contact_details_win_and_the_imports_training_wins(
    db, make_alumnus, make_course, make_user
):
    course, new_course = await make_course(), await make_course()
    person = await make_alumnus(
        family_name="Wanjiru",
        email="amani@example.ke",
        phone="",
        position="J3, Joint HQ",
        contact_edited_at=EDITED,
        accepts_newsletter=False,
    )
    record = await TrainingRecord.create(
        alumnus=person, course=course, class_year=2012, funding_type="", graduated=False
    )
    staff = await make_user(role=Role.STAFF)
    outcome = await apply_imported_record(
        person,
        ImportedRecord(
            fields={
                "email": "a.wanjiru@mod.go.ke",
                "phone": "+254 700 000 000",
                "position": "Defence attaché",
                "family_name": "Wanjiru-Otieno",
                "given_name_latin": "Amani",
                "accepts_newsletter": True,
            },
            training=[
                ImportedTraining(
                    course_id=course.id,
                    class_year=2012,
                    start_date=date(2012, 1, 9),
                    end_date=date(2012, 6, 1),
                    funding_type="IMET",
                    graduated=True,
                ),
                ImportedTraining(course_id=new_course.id, class_year=2016, funding_type="FMF"),
            ],
        ),
        by=staff,
    )
    await person.refresh_from_db()
    # The alumnus edited their contact details: theirs stay, even the empty phone.
    assert person.email == "amani@example.ke" and person.phone == ""
    assert person.position == "J3, Joint HQ"
    assert sorted(outcome.kept) == ["email", "phone", "position"]
    # Roster facts come from the import; consents never do.
    assert person.family_name == "Wanjiru-Otieno" and "otieno" in person.search_key
    assert person.given_name_latin == "Amani"
    assert sorted(outcome.changed) == ["family_name", "given_name_latin"]
    assert not person.accepts_newsletter
    # Training: the import's data wins; a record it adds is added.
    await record.refresh_from_db()
    assert record.funding_type == "IMET" and record.graduated
    assert record.start_date == date(2012, 1, 9) and record.end_date == date(2012, 6, 1)
    assert (outcome.training_updated, outcome.training_added) == (1, 1)
    assert await TrainingRecord.filter(alumnus_id=person.id).count() == 2
    event = await AuditEvent.get(action="alumnus.import")
    assert event.actor_id == staff.id
    assert event.details["fields"] == ["family_name", "given_name_latin"]
    assert "amani@example.ke" not in str(event.details), "names only, no values"


async def test_a_profile_never_edited_takes_the_imports_contact_details(db, make_alumnus):
    person = await make_alumnus(email="old@example.ke", phone="+254 711 111 111")
    outcome = await apply_imported_record(
        person,
        ImportedRecord(fields={"email": "New@Example.ke", "phone": "", "unit": "1 KR"}),
    )
    await person.refresh_from_db()
    assert person.email == "New@Example.ke" and person.email_key == "new@example.ke"
    assert person.phone == "+254 711 111 111", "an empty value never clears one"
    assert person.unit == "1 KR"
    assert sorted(outcome.changed) == ["email", "unit"] and outcome.kept == []


async def test_a_value_another_profile_holds_is_reported_not_applied(db, make_alumnus):
    await make_alumnus(email="taken@example.ke", programme_id="KE-1")
    person = await make_alumnus(email="mine@example.ke")
    outcome = await apply_imported_record(
        person, ImportedRecord(fields={"email": "TAKEN@example.ke", "programme_id": "KE-1"})
    )
    assert set(outcome.conflicts) == {"email", "programme_id"}
    await person.refresh_from_db()
    assert person.email == "mine@example.ke" and person.programme_id is None


async def test_the_roster_confirms_a_pending_person(db, make_alumnus, make_course, make_user):
    staff = await make_user(role=Role.STAFF)
    person = await make_alumnus(vetting=Vetting.PENDING)
    course = await make_course()
    undated = await TrainingRecord.create(alumnus=person, course=course)
    outcome = await apply_imported_record(
        person,
        ImportedRecord(training=[ImportedTraining(course_id=course.id, class_year=2019)]),
        by=staff,
    )
    assert outcome.confirmed and outcome.training_updated == 1
    await person.refresh_from_db()
    assert person.vetting == Vetting.CONFIRMED and person.confirmed_by_id == staff.id
    await undated.refresh_from_db()
    assert undated.class_year == 2019, "the record without a class year is the one completed"


async def test_merged_or_erased_profiles_are_not_changed(db, make_alumnus):
    survivor = await make_alumnus()
    merged = await make_alumnus(merged_into=survivor)
    erased = await make_alumnus(email="", erased_at=EDITED)
    for person in (merged, erased):
        with pytest.raises(Conflict):
            await apply_imported_record(person, ImportedRecord(fields={"phone": "+1 555 0100"}))
    assert (await Alumnus.get(id=merged.id)).phone == ""
