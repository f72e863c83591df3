"""Profiles: who sees what, who changes what, do-not-engage, status, deletion, names."""

from __future__ import annotations

from datetime import date

import pytest

from engage.accounts.models import AuditEvent, Role
from engage.alumni.models import (
    Alumnus,
    AlumnusStatus,
    CareerEntry,
    CareerSource,
    Service,
    TrainingRecord,
    Vetting,
)
from engage.alumni.names import query_tokens, search_key
from engage.alumni.profiles import (
    SOURCE_CREATED_BY_STAFF,
    SOURCE_STAFF,
    create_alumnus,
    delete_alumnus,
    follow_account_email,
    get_alumnus,
    get_own_profile,
    list_alumni,
    profile_data,
    set_do_not_engage,
    set_status,
    update_alumnus,
)
from engage.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tests.factories import ensure_country

NEW = {"given_name": "Amani", "family_name": "Wanjiru", "country": "KE"}


# --- Names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "key"),
    [
        (
            ("Олександр", "Коваленко", "Oleksandr", "Kovalenko", "Sasha"),
            "oleksandr kovalenko sasha",
        ),
        (("Nguyễn", "Văn Thành", "", "", ""), "nguyen van thanh"),
        (("ĐẶNG", "o'brien", "", "", ""), "dang obrien"),
        (("张伟", "", "Wei", "Zhang", ""), "zhang wei zhangwei"),
        (("Jean-Pierre", "Ñúñez", "", "", "JP"), "jean pierre nunez jp"),
    ],
)
def test_search_key_folds_case_accents_and_scripts(names, key):
    assert search_key(*names) == key


def test_query_tokens_match_the_key():
    assert query_tokens("KOVALENKO, Oleksandr") == ["kovalenko", "oleksandr"]
    assert set(query_tokens("Коваленко")) <= set(search_key("Олександр", "Коваленко").split())


# --- Creating ---------------------------------------------------------------------------


async def test_staff_create_a_confirmed_profile_with_consents_and_a_first_rank(
    db, actor_for, settings
):
    await ensure_country("KE", "Kenya")
    staff = await actor_for(Role.STAFF)
    person = await create_alumnus(
        {
            **NEW,
            "given_name_latin": "",
            "email": "Amani@Example.KE",
            "service": "army",
            "rank": "Brigadier",
            "programme_id": "IMET-2019-042",
            "timezone": "Africa/Nairobi",
        },
        actor=staff,
        settings=settings,
    )
    assert person.vetting == Vetting.CONFIRMED
    assert person.confirmed_by_id == staff.id and person.confirmed_at is not None
    assert person.accepts_invitations and person.accepts_newsletter
    assert person.invitations_consent_source == SOURCE_CREATED_BY_STAFF
    assert person.newsletter_consent_at is not None
    assert person.email == "Amani@Example.KE" and person.email_key == "amani@example.ke"
    assert person.search_key == "amani wanjiru"
    assert (person.rank, person.grade, person.grade_level) == ("Brigadier", "OF-6", 16)
    entry = await CareerEntry.get(alumnus_id=person.id)
    assert entry.source == CareerSource.STAFF_VERIFIED and entry.created_by_id == staff.id
    assert await AuditEvent.filter(action="alumnus.create", target_id=str(person.id)).exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"given_name": "", "family_name": "W", "country": "KE"}, "given_name"),
        ({"given_name": "A", "country": "KE"}, "family_name"),
        ({"given_name": "A", "family_name": "W"}, "country"),
        ({**NEW, "country": "Kenya"}, "country"),
        ({**NEW, "country": "ZZ"}, "country"),
        ({**NEW, "service": "space"}, "service"),
        ({**NEW, "status": "missing"}, "status"),
        ({**NEW, "email": "not-an-address"}, "email"),
        ({**NEW, "timezone": "Mars/Olympus"}, "timezone"),
        ({**NEW, "language": "klingon"}, "language"),
        ({**NEW, "phone": "call me"}, "phone"),
        ({**NEW, "colour": "blue"}, "colour"),
        ({**NEW, "do_not_engage": True}, "do_not_engage_reason"),
        ({**NEW, "email": "a@example.org", "secondary_email": "A@example.org"}, "secondary_email"),
    ],
)
async def test_create_says_which_field_is_wrong(db, actor_for, data, field, settings):
    await ensure_country("KE")
    with pytest.raises(InvalidInput) as caught:
        await create_alumnus(data, actor=await actor_for(Role.STAFF), settings=settings)
    assert field in caught.value.fields


async def test_email_and_programme_id_are_unique(db, actor_for, make_alumnus, settings):
    await make_alumnus(email="taken@example.org", programme_id="P-1")
    staff = await actor_for(Role.STAFF)
    with pytest.raises(Conflict) as caught:
        await create_alumnus({**NEW, "email": "TAKEN@example.org"}, actor=staff, settings=settings)
    assert "email" in caught.value.fields
    with pytest.raises(Conflict) as caught:
        await create_alumnus({**NEW, "programme_id": "P-1"}, actor=staff, settings=settings)
    assert "programme_id" in caught.value.fields
    # Absent values are not duplicates of each other.
    await create_alumnus({**NEW, "email": ""}, actor=staff, settings=settings)
    await create_alumnus({**NEW, "email": None, "programme_id": ""}, actor=staff, settings=settings)


@pytest.mark.parametrize("role", [Role.ALUMNUS, Role.ATTACHE])
async def test_only_staff_create(db, actor_for, role, settings):
    await ensure_country("KE")
    actor = await actor_for(role, countries=["KE"])
    with pytest.raises(PermissionDenied):
        await create_alumnus(NEW, actor=actor, settings=settings)


# --- Reading ----------------------------------------------------------------------------


async def test_who_sees_which_profile(db, actor_for, make_alumnus, make_user):
    owner_user = await make_user(role=Role.ALUMNUS)
    kenyan = await make_alumnus(
        country="KE",
        user=owner_user,
        staff_notes="Met at the 2023 reunion.",
        do_not_engage=True,
        do_not_engage_reason="Coup, 2023",
    )
    somali = await make_alumnus(country="SO")
    other = await make_alumnus(country="UG")
    staff = await actor_for(Role.STAFF)
    attache = await actor_for(Role.ATTACHE, countries=["KE", "SO"])
    owner = await actor_for(Role.ALUMNUS, user=owner_user)
    stranger = await actor_for(Role.ALUMNUS)

    full = profile_data(await get_alumnus(kenyan.id, actor=staff))
    assert full["staff_notes"] == "Met at the 2023 reunion."
    assert full["do_not_engage"] is True and full["do_not_engage_reason"] == "Coup, 2023"

    seen = profile_data(await get_alumnus(str(kenyan.id), actor=attache))
    assert seen["staff_notes"] is None and seen["do_not_engage_reason"] is None
    assert seen["do_not_engage_at"] is None
    assert seen["do_not_engage"] is True  # so they do not invite the person by hand
    await get_alumnus(somali.id, actor=attache)
    with pytest.raises(NotFound):
        await get_alumnus(other.id, actor=attache)

    own = profile_data(await get_alumnus(kenyan.id, actor=owner))
    assert own["staff_notes"] is None and own["do_not_engage"] is None
    assert own["do_not_engage_reason"] is None and own["claimed"] is True
    assert (await get_own_profile(actor=owner)).alumnus.id == kenyan.id
    assert await get_own_profile(actor=stranger) is None
    for alumnus_id in (somali.id, other.id, 10**12, "abc", "-1", ""):
        with pytest.raises(NotFound):
            await get_alumnus(alumnus_id, actor=owner)

    assert {a.id for a in await list_alumni(actor=attache)} == {kenyan.id, somali.id}
    assert len(await list_alumni(actor=staff)) == 3
    with pytest.raises(PermissionDenied):
        await list_alumni(actor=owner)


async def test_merged_and_erased_profiles_are_seen_by_staff_only(db, actor_for, make_alumnus):
    kept = await make_alumnus()
    merged = await make_alumnus(merged_into=kept)
    erased = await make_alumnus(erased_at=date(2024, 1, 1).isoformat() + "T00:00:00+00:00")
    attache = await actor_for(Role.ATTACHE, countries=["KE"])
    staff = await actor_for(Role.STAFF)
    for person in (merged, erased):
        with pytest.raises(NotFound):
            await get_alumnus(person.id, actor=attache)
        assert (await get_alumnus(person.id, actor=staff)).alumnus.id == person.id
    assert profile_data(await get_alumnus(merged.id, actor=staff))["merged_into"] == kept.id
    with pytest.raises(Conflict):
        await update_alumnus(erased.id, {"phone": "+254 700 000 000"}, actor=staff)


# --- Changing ---------------------------------------------------------------------------


async def test_the_person_edits_contact_details_and_preferences(
    db, actor_for, make_alumnus, make_user
):
    user = await make_user(role=Role.ALUMNUS)
    person = await make_alumnus(user=user)
    owner = await actor_for(Role.ALUMNUS, user=user)
    view = await update_alumnus(
        person.id,
        {
            "phone": "+254 700 000 000",
            "timezone": "Africa/Nairobi",
            "language": "fr",
            "preferred_name": "Ami",
            "secondary_email": "ami@home.example",
            "position": "Defence adviser",
            "accepts_newsletter": False,
        },
        actor=owner,
    )
    a = view.alumnus
    assert a.phone == "+254 700 000 000" and a.timezone == "Africa/Nairobi"
    assert a.preferred_name == "Ami" and "ami" in a.search_key.split()
    assert a.secondary_email == "ami@home.example" and a.secondary_verified_at is None
    assert a.contact_edited_at is not None
    assert a.accepts_newsletter is False and a.newsletter_consent_source == "profile page"
    assert a.newsletter_consent_at is not None
    assert a.invitations_consent_at is None  # untouched consent keeps its stamp
    event = await AuditEvent.get(action="alumnus.update", target_id=str(person.id))
    assert "phone" in event.details["fields"]
    assert "+254" not in str(event.details)  # names of fields, not personal data

    again = await update_alumnus(person.id, {"accepts_newsletter": "on"}, actor=owner, source="api")
    assert again.alumnus.accepts_newsletter is True
    assert again.alumnus.newsletter_consent_source == "api"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"staff_notes": "x"}, "staff_notes"),
        ({"status": "retired"}, "status"),
        ({"country": "SO"}, "country"),
        ({"given_name": "Other"}, "given_name"),
        ({"programme_id": "P-9"}, "programme_id"),
        ({"do_not_engage": True, "do_not_engage_reason": "x"}, "do_not_engage"),
        ({"email": "new@example.org"}, "email"),  # on the account page, re-verified
    ],
)
async def test_the_person_may_not_change_the_rest(
    db, actor_for, make_alumnus, make_user, changes, field
):
    await ensure_country("SO")
    user = await make_user(role=Role.ALUMNUS)
    person = await make_alumnus(user=user, email="old@example.org")
    owner = await actor_for(Role.ALUMNUS, user=user)
    with pytest.raises(PermissionDenied) as caught:
        await update_alumnus(person.id, changes, actor=owner)
    assert field in caught.value.fields
    await person.refresh_from_db()
    assert person.email == "old@example.org" and person.staff_notes == ""


async def test_sending_unchanged_values_is_not_a_change(db, actor_for, make_alumnus, make_user):
    user = await make_user(role=Role.ALUMNUS)
    person = await make_alumnus(user=user, email="same@example.org")
    owner = await actor_for(Role.ALUMNUS, user=user)
    await update_alumnus(person.id, {"email": "SAME@example.org", "status": "serving"}, actor=owner)
    assert not await AuditEvent.filter(action="alumnus.update").exists()


async def test_attaches_edit_contact_details_in_their_countries(db, actor_for, make_alumnus):
    person = await make_alumnus(country="KE")
    outside = await make_alumnus(country="UG")
    attache = await actor_for(Role.ATTACHE, countries=["KE"])
    view = await update_alumnus(
        person.id, {"email": "new@example.ke", "phone": "+254 711 111 111"}, actor=attache
    )
    assert view.alumnus.email_key == "new@example.ke"
    assert view.alumnus.contact_edited_at is None  # not the person's own edit
    for changes in ({"status": "retired"}, {"staff_notes": "x"}, {"accepts_newsletter": False}):
        with pytest.raises(PermissionDenied):
            await update_alumnus(person.id, changes, actor=attache)
    with pytest.raises(NotFound):
        await update_alumnus(outside.id, {"phone": "+256 700 000 000"}, actor=attache)


async def test_staff_edit_everything_but_never_give_consent_back(db, actor_for, make_alumnus):
    await ensure_country("SO")
    person = await make_alumnus(country="KE", accepts_invitations=False)
    other = await make_alumnus(email="other@example.org")
    staff = await actor_for(Role.STAFF)
    view = await update_alumnus(
        person.id,
        {
            "given_name": "Олександр",
            "family_name_latin": "Kovalenko",
            "country": "SO",
            "service": "navy",
            "staff_notes": "Speaks Somali.",
            "accepts_newsletter": False,
        },
        actor=staff,
    )
    a = view.alumnus
    assert a.country_id == "SO" and a.service == Service.NAVY
    assert "oleksandr" in a.search_key and "kovalenko" in a.search_key
    assert a.newsletter_consent_source == SOURCE_STAFF
    with pytest.raises(PermissionDenied) as caught:
        await update_alumnus(person.id, {"accepts_invitations": True}, actor=staff)
    assert "accepts_invitations" in caught.value.fields
    with pytest.raises(Conflict) as caught:
        await update_alumnus(person.id, {"email": "OTHER@example.org"}, actor=staff)
    assert "email" in caught.value.fields and other.id
    with pytest.raises(InvalidInput) as caught:
        await update_alumnus(person.id, {"rank": "Colonel"}, actor=staff)
    assert "rank" in caught.value.fields


async def test_changing_country_or_service_regrades_the_career(db, actor_for, make_alumnus):
    await ensure_country("VN")
    person = await make_alumnus(country="KE", service=Service.ARMY)
    staff = await actor_for(Role.STAFF)
    await CareerEntry.create(
        alumnus=person,
        rank="Đại tá",
        grade="",
        effective_date=date(2020, 1, 1),
        source=CareerSource.STAFF_VERIFIED,
    )
    view = await update_alumnus(person.id, {"country": "VN"}, actor=staff)
    assert view.alumnus.grade == "OF-5" and view.alumnus.rank == "Đại tá"
    assert view.career[0].grade == "OF-5"


async def test_status_is_staff_only_and_audited(db, actor_for, make_alumnus):
    person = await make_alumnus()
    staff = await actor_for(Role.STAFF)
    view = await set_status(person.id, "deceased", actor=staff)
    assert view.alumnus.status == AlumnusStatus.DECEASED
    event = await AuditEvent.get(action="alumnus.status")
    assert event.details == {"to": "deceased"} and event.actor_id == staff.id
    with pytest.raises(InvalidInput) as caught:
        await set_status(person.id, "missing", actor=staff)
    assert "status" in caught.value.fields
    with pytest.raises(PermissionDenied):
        await set_status(
            person.id, "serving", actor=await actor_for(Role.ATTACHE, countries=["KE"])
        )


async def test_do_not_engage_needs_a_reason_and_is_audited_both_ways(db, actor_for, make_alumnus):
    person = await make_alumnus()
    staff = await actor_for(Role.STAFF)
    with pytest.raises(InvalidInput) as caught:
        await set_do_not_engage(person.id, True, "  ", actor=staff)
    assert "do_not_engage_reason" in caught.value.fields
    view = await set_do_not_engage(person.id, True, "Coup, 2023", actor=staff)
    assert view.alumnus.do_not_engage and view.alumnus.do_not_engage_at is not None
    assert view.alumnus.do_not_engage_reason == "Coup, 2023"

    lifted = await set_do_not_engage(person.id, False, "Cleared by review", actor=staff)
    assert not lifted.alumnus.do_not_engage
    assert lifted.alumnus.do_not_engage_reason == "" and lifted.alumnus.do_not_engage_at is None
    events = await AuditEvent.filter(action="alumnus.do_not_engage").order_by("id")
    assert [e.details["flag"] for e in events] == [True, False]
    assert events[0].details["reason"] == "Coup, 2023"
    assert events[1].details == {
        "flag": False,
        "previous_reason": "Coup, 2023",
        "reason": "Cleared by review",
    }
    assert all(e.actor_id == staff.id for e in events)

    for role in (Role.ATTACHE, Role.ALUMNUS):
        with pytest.raises(PermissionDenied):
            await set_do_not_engage(
                person.id, True, "x", actor=await actor_for(role, countries=["KE"])
            )


async def test_follow_account_email(db, make_alumnus, make_user):
    user = await make_user(role=Role.ALUMNUS, email="new@example.org")
    person = await make_alumnus(user=user, email="old@example.org")
    assert await follow_account_email(user) is True
    await person.refresh_from_db()
    assert person.email_key == "new@example.org"
    assert await follow_account_email(user) is False


# --- Deleting ---------------------------------------------------------------------------


async def test_delete_only_without_history(db, actor_for, make_alumnus, make_course, make_user):
    staff = await actor_for(Role.STAFF)
    plain = await make_alumnus()
    await delete_alumnus(plain.id, actor=staff)
    assert not await Alumnus.exists(id=plain.id)
    assert await AuditEvent.filter(action="alumnus.delete", target_id=str(plain.id)).exists()

    trained = await make_alumnus()
    await TrainingRecord.create(alumnus=trained, course=await make_course(), funding_type="IMET")
    claimed = await make_alumnus(user=await make_user(role=Role.ALUMNUS))
    for person in (trained, claimed):
        with pytest.raises(Conflict):
            await delete_alumnus(person.id, actor=staff)
        assert await Alumnus.exists(id=person.id)
    with pytest.raises(PermissionDenied):
        await delete_alumnus(trained.id, actor=await actor_for(Role.ATTACHE, countries=["KE"]))
