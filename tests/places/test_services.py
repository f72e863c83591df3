"""Rules of countries and embassies: roles, embassy scope, validation, audit."""

from __future__ import annotations

import pytest

from engage.accounts.models import AuditEvent, Role
from engage.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from engage.places import services
from engage.places.models import Accreditation, Country, Embassy, ProgrammeStatus


def embassy_data(**overrides):
    data = {
        "code": "NBO",
        "name": "Embassy in Nairobi",
        "country": "KE",
        "city": "Nairobi",
        "timezone": "Africa/Nairobi",
    }
    data.update(overrides)
    return data


# --- Scope ----------------------------------------------------------------------------


async def test_attache_sees_only_their_own_embassies(db, countries, make_embassy, actor_for):
    await make_embassy(code="NBO", country="KE", accredited=["KE", "SO"])
    await make_embassy(code="ADD", country="ET", timezone="Africa/Addis_Ababa")
    attache = await actor_for(Role.ATTACHE, embassies=["NBO"])

    listed = await services.list_embassies(actor=attache)
    assert [e.code for e in listed] == ["NBO"]
    assert listed[0].accredited_codes == ["KE", "SO"]  # by name: Kenya, Somalia
    assert (await services.get_embassy("NBO", actor=attache)).country.name == "Kenya"
    with pytest.raises(NotFound):
        await services.get_embassy("ADD", actor=attache)
    with pytest.raises(NotFound):
        await services.get_embassy("NOPE", actor=attache)


async def test_staff_see_every_embassy(db, countries, make_embassy, actor_for):
    await make_embassy(code="NBO")
    await make_embassy(code="ADD", country="ET")
    staff = await actor_for(Role.STAFF)
    assert [e.code for e in await services.list_embassies(actor=staff)] == ["ADD", "NBO"]
    assert (await services.get_embassy("ADD", actor=staff)).code == "ADD"


async def test_alumni_may_not_see_embassies(db, countries, make_embassy, actor_for):
    await make_embassy(code="NBO")
    alumnus = await actor_for(Role.ALUMNUS)
    with pytest.raises(PermissionDenied):
        await services.list_embassies(actor=alumnus)
    with pytest.raises(PermissionDenied):
        await services.get_embassy("NBO", actor=alumnus)


# --- Creating -------------------------------------------------------------------------


async def test_staff_create_an_embassy(db, countries, actor_for):
    staff = await actor_for(Role.STAFF)
    embassy = await services.create_embassy(
        embassy_data(accredited=["so", "DJ"]), actor=staff, ip="192.0.2.1"
    )
    assert embassy.code == "NBO"
    assert embassy.country.code == "KE"
    assert sorted(embassy.accredited_codes) == ["DJ", "KE", "SO"]  # home always included
    event = await AuditEvent.get(action="embassy.create")
    assert (event.target_type, event.target_id, event.ip) == ("embassy", "NBO", "192.0.2.1")
    assert event.details["accredited"] == ["DJ", "KE", "SO"]


async def test_accredited_defaults_to_the_home_country(db, countries, actor_for):
    staff = await actor_for(Role.ADMIN)
    embassy = await services.create_embassy(embassy_data(code="nbo-2"), actor=staff)
    assert embassy.code == "NBO-2"  # codes are upper-cased
    assert embassy.accredited_codes == ["KE"]


async def test_a_taken_code_is_a_conflict(db, countries, actor_for):
    staff = await actor_for(Role.STAFF)
    await services.create_embassy(embassy_data(), actor=staff)
    with pytest.raises(Conflict) as caught:
        await services.create_embassy(embassy_data(code="nbo", name="Other"), actor=staff)
    assert caught.value.status_code == 409
    assert "code" in caught.value.fields
    assert await Embassy.all().count() == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "EST5EDT"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"code": "N"}, "code"),
        ({"code": "NBO/1"}, "code"),
        ({"code": "A" * 17}, "code"),
        ({"country": "ZZ"}, "country"),
        ({"country": "Kenya"}, "country"),
        ({"accredited": ["SO", "QQ"]}, "accredited"),
        ({"name": "  "}, "name"),
        ({"city": "x" * 101}, "city"),
    ],
)
async def test_invalid_embassies_are_refused(db, countries, actor_for, overrides, field):
    staff = await actor_for(Role.STAFF)
    with pytest.raises(InvalidInput) as caught:
        await services.create_embassy(embassy_data(**overrides), actor=staff)
    assert caught.value.status_code == 422
    assert field in caught.value.fields
    assert await Embassy.all().count() == 0
    assert await Accreditation.all().count() == 0


async def test_missing_fields_are_named(db, countries, actor_for):
    staff = await actor_for(Role.STAFF)
    with pytest.raises(InvalidInput) as caught:
        await services.create_embassy({"code": "NBO"}, actor=staff)
    assert set(caught.value.fields) == {"name", "country", "city", "timezone"}


@pytest.mark.parametrize("role", [Role.ALUMNUS, Role.ATTACHE])
async def test_only_staff_create_or_change_embassies(db, countries, make_embassy, actor_for, role):
    await make_embassy(code="NBO")
    actor = await actor_for(role, embassies=["NBO"] if role == Role.ATTACHE else [])
    with pytest.raises(PermissionDenied):
        await services.create_embassy(embassy_data(code="ADD"), actor=actor)
    with pytest.raises(PermissionDenied):
        await services.update_embassy("NBO", {"name": "Mine now"}, actor=actor)
    assert (await Embassy.get(code="NBO")).name == "Embassy NBO"
    assert not await Embassy.exists(code="ADD")


# --- Changing -------------------------------------------------------------------------


async def test_update_changes_only_what_is_given(db, countries, make_embassy, actor_for):
    await make_embassy(code="NBO", accredited=["KE", "SO"])
    staff = await actor_for(Role.STAFF)
    updated = await services.update_embassy("NBO", {"city": "Gigiri"}, actor=staff)
    assert (updated.city, updated.name, updated.timezone) == (
        "Gigiri",
        "Embassy NBO",
        "Africa/Nairobi",
    )
    assert updated.accredited_codes == ["KE", "SO"]
    event = await AuditEvent.get(action="embassy.update")
    assert event.details == {"city": ["Nairobi", "Gigiri"]}


async def test_update_replaces_accreditations_but_keeps_home(
    db, countries, make_embassy, actor_for
):
    await make_embassy(code="NBO", accredited=["KE", "SO"])
    staff = await actor_for(Role.STAFF)
    updated = await services.update_embassy("NBO", {"accredited": ["UG", "RW"]}, actor=staff)
    assert sorted(updated.accredited_codes) == ["KE", "RW", "UG"]
    moved = await services.update_embassy("NBO", {"country": "UG", "accredited": []}, actor=staff)
    assert (moved.country.code, moved.accredited_codes) == ("UG", ["UG"])


async def test_update_moves_the_home_country_into_accreditations(
    db, countries, make_embassy, actor_for
):
    await make_embassy(code="NBO", accredited=["KE"])
    staff = await actor_for(Role.STAFF)
    moved = await services.update_embassy("NBO", {"country": "TZ"}, actor=staff)
    assert sorted(moved.accredited_codes) == ["KE", "TZ"]


async def test_update_can_rename_the_code_but_not_onto_another(
    db, countries, make_embassy, actor_for
):
    await make_embassy(code="NBO")
    await make_embassy(code="ADD", country="ET")
    staff = await actor_for(Role.STAFF)
    with pytest.raises(Conflict):
        await services.update_embassy("NBO", {"code": "ADD"}, actor=staff)
    renamed = await services.update_embassy("NBO", {"code": "NAI"}, actor=staff)
    assert renamed.code == "NAI"
    assert not await Embassy.exists(code="NBO")


async def test_update_validates_and_changes_nothing_on_error(
    db, countries, make_embassy, actor_for
):
    await make_embassy(code="NBO")
    staff = await actor_for(Role.STAFF)
    with pytest.raises(InvalidInput) as caught:
        await services.update_embassy(
            "NBO", {"name": "New", "timezone": "Nowhere/Town"}, actor=staff
        )
    assert set(caught.value.fields) == {"timezone"}
    assert (await Embassy.get(code="NBO")).name == "Embassy NBO"
    with pytest.raises(NotFound):
        await services.update_embassy("ZZZ", {"name": "x"}, actor=staff)


async def test_an_update_that_changes_nothing_is_not_audited(
    db, countries, make_embassy, actor_for
):
    await make_embassy(code="NBO")
    staff = await actor_for(Role.STAFF)
    await services.update_embassy("NBO", {"city": "Nairobi", "accredited": ["KE"]}, actor=staff)
    assert not await AuditEvent.exists(action="embassy.update")


# --- Countries ------------------------------------------------------------------------


async def test_everyone_signed_in_lists_countries(db, countries, actor_for):
    alumnus = await actor_for(Role.ALUMNUS)
    listed = await services.list_countries(actor=alumnus)
    assert len(listed) == countries
    eastern = await services.list_countries(actor=alumnus, region="Eastern Africa")
    assert "KE" in {c.code for c in eastern}
    assert all(c.region == "Eastern Africa" for c in eastern)


async def test_staff_suspend_and_reactivate_a_programme(db, countries, actor_for):
    staff = await actor_for(Role.STAFF)
    mali = await services.set_programme_status("ml", "suspended", " Coup d'état ", actor=staff)
    assert mali.programme_status == ProgrammeStatus.SUSPENDED
    assert mali.status_reason == "Coup d'état"
    assert mali.status_changed_at is not None
    suspended = await services.list_countries(actor=staff, status=ProgrammeStatus.SUSPENDED)
    assert [c.code for c in suspended] == ["ML"]

    again = await services.set_programme_status("ML", "active", "Elections held", actor=staff)
    assert again.programme_status == ProgrammeStatus.ACTIVE
    stored = await Country.get(code="ML")
    assert (stored.programme_status, stored.status_reason) == ("active", "Elections held")
    events = await AuditEvent.filter(action="country.programme_status").order_by("id")
    assert [(e.details["from"], e.details["to"]) for e in events] == [
        ("active", "suspended"),
        ("suspended", "active"),
    ]


async def test_a_suspension_needs_a_reason(db, countries, actor_for):
    staff = await actor_for(Role.STAFF)
    with pytest.raises(InvalidInput) as caught:
        await services.set_programme_status("ML", "suspended", "   ", actor=staff)
    assert "reason" in caught.value.fields
    with pytest.raises(InvalidInput) as caught:
        await services.set_programme_status("ML", "paused", "why", actor=staff)
    assert "status" in caught.value.fields
    with pytest.raises(NotFound):
        await services.set_programme_status("ZZ", "active", "", actor=staff)
    assert (await Country.get(code="ML")).programme_status == ProgrammeStatus.ACTIVE


@pytest.mark.parametrize("role", [Role.ALUMNUS, Role.ATTACHE])
async def test_only_staff_change_programme_status(db, countries, actor_for, role):
    actor = await actor_for(role)
    with pytest.raises(PermissionDenied):
        await services.set_programme_status("ML", "suspended", "Coup", actor=actor)
    assert (await Country.get(code="ML")).programme_status == ProgrammeStatus.ACTIVE
