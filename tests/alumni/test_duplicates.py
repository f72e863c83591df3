"""Likely duplicates by each rule, and merging two profiles of one person."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from engage.accounts.models import AuditEvent, Role
from engage.alumni.duplicates import Reason, find_duplicates, merge_alumni, merge_preview
from engage.alumni.models import Alumnus, CareerEntry, CareerSource, TrainingRecord, Vetting
from engage.alumni.profiles import list_alumni
from engage.errors import Conflict, InvalidInput, NotFound, PermissionDenied


def _pairs(found) -> dict[frozenset[int], tuple[Reason, ...]]:
    return {frozenset((p.first.id, p.second.id)): p.reasons for p in found}


async def _train(person, course, year: int) -> TrainingRecord:
    return await TrainingRecord.create(alumnus=person, course=course, class_year=year)


# --- Detection --------------------------------------------------------------------------


async def test_same_programme_id_case_and_punctuation_folded(db, make_alumnus, actor_for):
    a = await make_alumnus(programme_id="KE-0012")
    b = await make_alumnus(programme_id="ke 0012")
    await make_alumnus(programme_id="KE-0013")
    declared = await make_alumnus(declared_programme_id="KE0012", vetting=Vetting.PENDING)
    pairs = _pairs(await find_duplicates(actor=await actor_for(Role.STAFF)))
    assert pairs[frozenset((a.id, b.id))] == (Reason.PROGRAMME_ID,)
    assert pairs[frozenset((a.id, declared.id))] == (Reason.PROGRAMME_ID,)
    assert len(pairs) == 3


async def test_same_email_primary_secondary_or_account(db, make_alumnus, make_user, actor_for):
    a = await make_alumnus(email="amani@example.ke")
    b = await make_alumnus(email="amani.w@mod.go.ke", secondary_email="Amani@Example.KE")
    user = await make_user(email="kamau@example.ke")
    c = await make_alumnus(email="", user=user, vetting=Vetting.PENDING)
    d = await make_alumnus(email="kamau@example.ke")
    await make_alumnus(email="someone@example.ke")
    pairs = _pairs(await find_duplicates(actor=await actor_for(Role.STAFF)))
    assert pairs == {
        frozenset((a.id, b.id)): (Reason.EMAIL,),
        frozenset((c.id, d.id)): (Reason.EMAIL,),
    }


async def test_same_name_country_and_class_year(db, make_alumnus, make_course, actor_for):
    course = await make_course()
    native = await make_alumnus(
        country="UA",
        given_name="Олександр",
        family_name="Коваленко",
    )
    latin = await make_alumnus(country="UA", given_name="KOVALENKO", family_name="Oleksandr")
    other_year = await make_alumnus(country="UA", given_name="Oleksandr", family_name="Kovalenko")
    other_country = await make_alumnus(
        country="KE", given_name="Oleksandr", family_name="Kovalenko"
    )
    declared = await make_alumnus(
        country="UA",
        given_name="Oleksandr",
        family_name="Kovalenko",
        vetting=Vetting.PENDING,
        declared_class_year=2015,
    )
    await _train(native, course, 2015)
    await _train(latin, course, 2015)
    await _train(other_year, course, 2019)
    await _train(other_country, course, 2015)
    pairs = _pairs(await find_duplicates(actor=await actor_for(Role.STAFF)))
    assert pairs == {
        frozenset((native.id, latin.id)): (Reason.NAME,),
        frozenset((native.id, declared.id)): (Reason.NAME,),
        frozenset((latin.id, declared.id)): (Reason.NAME,),
    }


async def test_several_reasons_rank_first_and_merged_or_erased_are_left_out(
    db, make_alumnus, make_course, actor_for
):
    course = await make_course()
    a = await make_alumnus(given_name="Juan", family_name="Restrepo", country="CO", email="j@x.co")
    b = await make_alumnus(given_name="Juan", family_name="Restrepo", country="CO")
    c = await make_alumnus(email="c@x.co", secondary_email="J@X.CO")
    await _train(a, course, 2010)
    await _train(b, course, 2010)
    gone = await make_alumnus(email="", secondary_email="c@x.co", merged_into=a)
    erased = await make_alumnus(email="", secondary_email="c@x.co", erased_at=datetime.now(UTC))
    await Alumnus.filter(id=b.id).update(secondary_email="j@x.co")
    found = await find_duplicates(actor=await actor_for(Role.STAFF))
    assert (found[0].first.id, found[0].second.id) == (a.id, b.id)
    assert found[0].reasons == (Reason.EMAIL, Reason.NAME)
    ids = {i for p in found for i in (p.first.id, p.second.id)}
    assert gone.id not in ids and erased.id not in ids
    assert c.id in ids


async def test_duplicates_are_for_staff(db, actor_for):
    with pytest.raises(PermissionDenied):
        await find_duplicates(actor=await actor_for(Role.ATTACHE, countries=["KE"]))


# --- Merging ----------------------------------------------------------------------------


async def test_merge_moves_records_fills_gaps_and_keeps_history(
    db, make_alumnus, make_course, make_user, actor_for
):
    staff = await actor_for(Role.STAFF)
    course, other_course = await make_course(), await make_course()
    roster = await make_alumnus(
        given_name="Amani",
        family_name="Wanjiru",
        email="amani@mod.go.ke",
        programme_id=None,
        phone="",
        staff_notes="On the 2012 roster.",
    )
    owner = await make_user(email="amani@example.ke")
    registered = await make_alumnus(
        given_name="Amani",
        family_name="Wanjiru",
        given_name_latin="Amani",
        email="amani@example.ke",
        user=owner,
        vetting=Vetting.PENDING,
        phone="+254 700 000 001",
        programme_id="KE-77",
        accepts_newsletter=False,
        newsletter_consent_source="profile page",
        do_not_engage=True,
        do_not_engage_reason="Under investigation",
        declared_class_year=2012,
        declared_programme_id="KE-0077",
        staff_notes="Called the embassy in 2023.",
    )
    earlier = await make_alumnus(email=None, merged_into=registered)
    await _train(roster, course, 2012)
    await _train(registered, course, 2012)  # the same record: kept once
    await _train(registered, other_course, 2016)
    await CareerEntry.create(
        alumnus=roster,
        rank="Major",
        grade="OF-3",
        effective_date=date(2018, 1, 1),
        source=CareerSource.STAFF_VERIFIED,
    )
    await CareerEntry.create(
        alumnus=registered,
        rank="Lieutenant Colonel",
        grade="OF-4",
        effective_date=date(2023, 7, 1),
        source=CareerSource.SELF_REPORTED,
    )

    preview = await merge_preview(roster.id, registered.id, actor=staff)
    assert preview.problem == "" and Reason.NAME in preview.reasons

    survivor = await merge_alumni(
        roster.id, registered.id, keep=roster.id, actor=staff, ip="198.51.100.7"
    )
    assert survivor.id == roster.id
    assert survivor.user_id == owner.id, "the claimed account moves"
    assert survivor.vetting == Vetting.CONFIRMED
    assert survivor.email == "amani@mod.go.ke", "the survivor's own address stays"
    assert survivor.secondary_email == "amani@example.ke"
    assert survivor.secondary_verified_at is not None, "the account's verified address"
    assert survivor.phone == "+254 700 000 001" and survivor.programme_id == "KE-77"
    assert survivor.given_name_latin == "Amani"
    assert (survivor.declared_class_year, survivor.declared_programme_id) == (2012, "KE-0077")
    assert not survivor.accepts_newsletter, "a withdrawn consent stays withdrawn"
    assert survivor.do_not_engage and survivor.do_not_engage_reason == "Under investigation"
    assert survivor.staff_notes.startswith("On the 2012 roster.")
    assert "Merged from profile" in survivor.staff_notes
    assert "Called the embassy in 2023." in survivor.staff_notes, "staff notes are joined"
    assert survivor.rank == "Lieutenant Colonel" and survivor.grade == "OF-4"
    assert await TrainingRecord.filter(alumnus_id=roster.id).count() == 2
    assert await CareerEntry.filter(alumnus_id=roster.id).count() == 2

    merged = await Alumnus.get(id=registered.id)
    assert merged.merged_into_id == roster.id, "kept as history"
    assert merged.email == "amani@example.ke" and merged.email_key is None
    assert merged.user_id is None and merged.programme_id is None
    assert await TrainingRecord.filter(alumnus_id=registered.id).count() == 0
    await earlier.refresh_from_db()
    assert earlier.merged_into_id == roster.id, "earlier merges point at the survivor"

    assert registered.id not in {a.id for a in await list_alumni(actor=staff)}
    pairs = await find_duplicates(actor=staff)
    assert all(registered.id not in (p.first.id, p.second.id) for p in pairs)
    event = await AuditEvent.get(action="alumnus.merge")
    assert event.details["survivor"] == roster.id and event.details["merged"] == registered.id
    assert event.details["account_moved"] is True
    assert {"declared_class_year", "declared_programme_id"} <= set(event.details["filled"])
    assert event.details["training"] == {"moved": 1, "identical": 1}
    assert event.actor_id == staff.id and event.ip == "198.51.100.7"


async def test_merge_into_the_pending_one_takes_the_roster_confirmation(
    db, make_alumnus, actor_for
):
    staff = await actor_for(Role.STAFF)
    roster = await make_alumnus(email="a@x.org", programme_id="P-1", confirmed_by=staff.user)
    pending = await make_alumnus(email="", vetting=Vetting.PENDING)
    survivor = await merge_alumni(pending.id, roster.id, keep=pending.id, actor=staff)
    assert survivor.vetting == Vetting.CONFIRMED and survivor.confirmed_by_id == staff.id
    assert survivor.email == "a@x.org" and survivor.email_key == "a@x.org"
    assert survivor.programme_id == "P-1"


async def test_merge_keeps_the_survivors_own_declaration(db, make_alumnus, actor_for):
    staff = await actor_for(Role.STAFF)
    kept = await make_alumnus(email="", vetting=Vetting.PENDING, declared_class_year=2014)
    other = await make_alumnus(
        email="", vetting=Vetting.PENDING, declared_class_year=2015, declared_programme_id="UG-5"
    )
    survivor = await merge_alumni(kept.id, other.id, keep=kept.id, actor=staff)
    assert survivor.declared_class_year == 2014, "the survivor's own stays"
    assert survivor.declared_programme_id == "UG-5", "an empty one is filled"
    assert survivor.staff_notes == ""


async def test_merge_refusals(db, make_alumnus, make_user, actor_for):
    staff = await actor_for(Role.STAFF)
    first = await make_alumnus(user=await make_user(email="one@example.org"))
    second = await make_alumnus(user=await make_user(email="two@example.org"))
    with pytest.raises(Conflict) as refused:
        await merge_alumni(first.id, second.id, keep=first.id, actor=staff)
    assert "one@example.org" in refused.value.message and "two@example.org" in refused.value.message
    assert (await Alumnus.get(id=second.id)).merged_into_id is None, "nothing changed"
    preview = await merge_preview(first.id, second.id, actor=staff)
    assert "linked to accounts" in preview.problem

    third = await make_alumnus()
    with pytest.raises(InvalidInput):
        await merge_alumni(first.id, third.id, keep=999, actor=staff)
    with pytest.raises(Conflict):
        await merge_alumni(first.id, first.id, keep=first.id, actor=staff)
    with pytest.raises(NotFound):
        await merge_alumni(first.id, 987654, keep=first.id, actor=staff)
    await merge_alumni(first.id, third.id, keep=first.id, actor=staff)
    with pytest.raises(Conflict, match="already merged"):
        await merge_alumni(second.id, third.id, keep=second.id, actor=staff)
    with pytest.raises(PermissionDenied):
        await merge_alumni(
            first.id,
            second.id,
            keep=first.id,
            actor=await actor_for(Role.ATTACHE, countries=["KE"]),
        )


# --- Pages ------------------------------------------------------------------------------


async def test_duplicate_and_merge_pages(client, make_user, make_alumnus, sign_in):
    a = await make_alumnus(given_name="Minh", family_name="Tran", email="minh@example.vn")
    b = await make_alumnus(
        given_name="Minh",
        family_name="Tran",
        secondary_email="minh@example.vn",
        declared_class_year=2017,
        declared_programme_id="VN-0017",
    )
    await sign_in(client, await make_user(role=Role.STAFF))
    listing = await client.get("/alumni/duplicates")
    assert listing.status_code == 200
    assert "Same email address" in listing.text
    assert f"/alumni/{a.id}/merge?other={b.id}" in listing.text

    choose = await client.get(f"/alumni/{a.id}/merge")
    assert choose.status_code == 200 and 'name="other"' in choose.text
    bad = await client.get(f"/alumni/{a.id}/merge?other=abc")
    assert bad.status_code == 404 and 'id="other-error"' in bad.text

    page = await client.get(f"/alumni/{a.id}/merge?other={b.id}")
    assert page.status_code == 200
    assert f'value="{a.id}" checked' in page.text
    assert "Class year 2017" in page.text and "Programme ID VN-0017" in page.text
    missing = await client.post(f"/alumni/{a.id}/merge?other={b.id}", data={})
    assert missing.status_code == 422 and 'id="keep-error"' in missing.text

    done = await client.post(f"/alumni/{a.id}/merge?other={b.id}", data={"keep": str(b.id)})
    assert done.status_code == 303
    assert done.headers["location"] == f"/alumni/{b.id}?saved=merged"
    shown = await client.get(done.headers["location"])
    assert "The profiles were merged into this one." in shown.text
    history = await client.get(f"/alumni/{a.id}")
    assert "This profile was merged into another." in history.text
    again = await client.post(f"/alumni/{a.id}/merge?other={b.id}", data={"keep": str(b.id)})
    assert again.status_code == 409 and "already merged" in again.text
    assert "Merge the two profiles" not in again.text


async def test_merge_conflict_page_and_attache_refused(
    client, make_user, make_alumnus, make_embassy, sign_in
):
    a = await make_alumnus(user=await make_user(email="x1@example.org"))
    b = await make_alumnus(user=await make_user(email="x2@example.org"))
    staff = await make_user(role=Role.STAFF)
    await sign_in(client, staff)
    refused = await client.post(f"/alumni/{a.id}/merge?other={b.id}", data={"keep": str(a.id)})
    assert refused.status_code == 409
    assert "x1@example.org" in refused.text and "x2@example.org" in refused.text

    embassy = await make_embassy(country="KE", accredited=["KE"])
    await sign_in(client, await make_user(role=Role.ATTACHE, embassies=[embassy.code]))
    assert (await client.get("/alumni/duplicates")).status_code == 403
    assert (await client.get(f"/alumni/{a.id}/merge?other={b.id}")).status_code == 403
