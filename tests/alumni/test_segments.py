"""Segments: staff segments are global, an attaché's belong to their embassy and are
always evaluated within it; names, changes, audit, and the pages."""

from __future__ import annotations

import pytest

from engage.accounts.actor import load_actor
from engage.accounts.models import AuditEvent, Role
from engage.alumni import segments
from engage.alumni.audience import AudienceFilter, audience_count
from engage.alumni.models import Segment
from engage.errors import Conflict, InvalidInput, NotFound, PermissionDenied


@pytest.fixture
async def world(db, make_alumnus, make_embassy, make_user):
    """Kenya and Somalia (embassy NBO), Uganda (embassy KLA), Colombia (no embassy)."""
    nbo = await make_embassy(code="NBO", country="KE", accredited=["KE", "SO"])
    kla = await make_embassy(code="KLA", country="UG", accredited=["UG"])
    people = {
        "ke": await make_alumnus(country="KE", given_name="Kamau", grade_level=15),
        "so": await make_alumnus(country="SO", given_name="Abdi", grade_level=14),
        "ug": await make_alumnus(country="UG", given_name="Okello", grade_level=15),
        "co": await make_alumnus(country="CO", given_name="José", grade_level=16),
    }
    staff = await load_actor(await make_user(role=Role.STAFF))
    nairobi = await load_actor(await make_user(role=Role.ATTACHE, embassies=["NBO"]))
    colleague = await load_actor(await make_user(role=Role.ATTACHE, embassies=["NBO"]))
    kampala = await load_actor(await make_user(role=Role.ATTACHE, embassies=["KLA"]))
    both = await load_actor(await make_user(role=Role.ATTACHE, embassies=["NBO", "KLA"]))
    return {
        "people": people,
        "staff": staff,
        "nairobi": nairobi,
        "colleague": colleague,
        "kampala": kampala,
        "both": both,
        "nbo": nbo,
        "kla": kla,
    }


SENIOR = AudienceFilter(grade_min="OF-4")


async def _ids(segment_id, actor) -> set[int]:
    query = await segments.segment_audience(segment_id, actor=actor)
    return {a.id for a in await query}


async def test_staff_segments_are_global(world):
    staff, people = world["staff"], world["people"]
    segment = await segments.create_segment("Senior officers", SENIOR, actor=staff)
    assert segment.embassy_id is None and segment.owner_id == staff.id
    assert segment.filters == {"grade_min": "OF-4"}
    assert await _ids(segment.id, staff) == {p.id for p in people.values()}
    assert await segments.segment_count(segment.id, actor=staff) == 4
    # Attachés use their embassy's segments only.
    with pytest.raises(NotFound):
        await segments.get_segment(segment.id, actor=world["nairobi"])
    assert await segments.list_segments(actor=world["nairobi"]) == []
    assert [s.id for s in await segments.list_segments(actor=staff)] == [segment.id]


async def test_an_attache_segment_belongs_to_their_embassy(world):
    nairobi, people = world["nairobi"], world["people"]
    segment = await segments.create_segment("Senior officers", SENIOR, actor=nairobi)
    assert segment.embassy_id == world["nbo"].id
    expected = {people["ke"].id, people["so"].id}
    assert await _ids(segment.id, nairobi) == expected
    # Shared by the embassy's attachés, and visible to staff, always within its countries.
    assert await _ids(segment.id, world["colleague"]) == expected
    assert await _ids(segment.id, world["staff"]) == expected
    assert await segments.segment_count(segment.id, actor=world["staff"]) == 2
    # Another embassy's attaché never learns it exists.
    for call in (segments.get_segment, segments.segment_count, segments.segment_audience):
        with pytest.raises(NotFound):
            await call(segment.id, actor=world["kampala"])
    with pytest.raises(NotFound):
        await segments.delete_segment(segment.id, actor=world["kampala"])
    # An attaché of both embassies sees it held to Nairobi's countries.
    assert await _ids(segment.id, world["both"]) == expected


async def test_an_attache_of_several_embassies_chooses(world):
    both = world["both"]
    with pytest.raises(InvalidInput) as caught:
        await segments.create_segment("Senior", SENIOR, actor=both)
    assert "embassy" in caught.value.fields
    segment = await segments.create_segment("Senior", SENIOR, actor=both, embassy="kla")
    assert segment.embassy_id == world["kla"].id
    assert await _ids(segment.id, both) == {world["people"]["ug"].id}
    # The filter's embassy decides, when it names one.
    named = await segments.create_segment(
        "Nairobi seniors", AudienceFilter(grade_min="OF-4", embassy="NBO"), actor=both
    )
    assert named.embassy_id == world["nbo"].id
    with pytest.raises(InvalidInput):
        await segments.create_segment(
            "Mixed", AudienceFilter(embassy="NBO"), actor=both, embassy="KLA"
        )


async def test_embassies_not_theirs_answer_404(world):
    with pytest.raises(NotFound):
        await segments.create_segment("X", AudienceFilter(embassy="KLA"), actor=world["nairobi"])
    with pytest.raises(NotFound):
        await segments.create_segment("X", SENIOR, actor=world["nairobi"], embassy="KLA")
    with pytest.raises(NotFound):
        await segments.create_segment("X", AudienceFilter(embassy="NOPE"), actor=world["staff"])


async def test_names_are_required_short_and_unique_in_their_scope(world):
    staff, nairobi = world["staff"], world["nairobi"]
    for bad in ("", "   ", "x" * 121):
        with pytest.raises(InvalidInput) as caught:
            await segments.create_segment(bad, SENIOR, actor=staff)
        assert "name" in caught.value.fields
    await segments.create_segment("Pilots", SENIOR, actor=staff)
    with pytest.raises(Conflict) as caught:
        await segments.create_segment("PILOTS", SENIOR, actor=staff)
    assert "name" in caught.value.fields
    # The same name in another scope is fine.
    await segments.create_segment("Pilots", SENIOR, actor=nairobi)
    await segments.create_segment("Pilots", SENIOR, actor=world["kampala"])
    with pytest.raises(Conflict):
        await segments.create_segment("pilots", SENIOR, actor=world["colleague"])


async def test_rename_change_and_delete_are_audited(world):
    nairobi = world["nairobi"]
    segment = await segments.create_segment(
        "Seniors", AudienceFilter(q="kamau", grade_min="OF-4"), actor=nairobi
    )
    updated = await segments.update_segment(
        segment.id, name="Senior officers", flt=AudienceFilter(grade_min="OF-5"), actor=nairobi
    )
    assert updated.name == "Senior officers" and updated.filters == {"grade_min": "OF-5"}
    assert await _ids(segment.id, nairobi) == {world["people"]["ke"].id}
    with pytest.raises(InvalidInput) as caught:
        await segments.update_segment(
            segment.id, flt=AudienceFilter(embassy="KLA"), actor=world["both"]
        )
    assert "embassy" in caught.value.fields
    await segments.delete_segment(segment.id, actor=world["colleague"])
    assert not await Segment.exists(id=segment.id)
    events = await AuditEvent.filter(target_type="segment", target_id=str(segment.id)).order_by(
        "id"
    )
    assert [e.action for e in events] == ["segment.create", "segment.update", "segment.delete"]
    assert events[0].details["filters"] == ["grade_min", "q"], "field names, never values"
    assert "kamau" not in str([e.details for e in events]).lower()


async def test_alumni_have_no_segments(world, make_user):
    alumnus = await load_actor(await make_user(role=Role.ALUMNUS))
    with pytest.raises(PermissionDenied):
        await segments.list_segments(actor=alumnus)
    with pytest.raises(PermissionDenied):
        await segments.create_segment("Mine", SENIOR, actor=alumnus)


async def test_a_segment_counts_like_its_filter(world):
    staff = world["staff"]
    flt = AudienceFilter(country=["KE", "UG"], grade_min="OF-5")
    segment = await segments.create_segment("KE and UG colonels", flt, actor=staff)
    assert await segments.segment_count(segment.id, actor=staff) == await audience_count(
        flt, actor=staff
    )
    with pytest.raises(NotFound):
        await segments.get_segment("not-a-number", actor=staff)
    with pytest.raises(NotFound):
        await segments.get_segment(2**40, actor=staff)


# --- Pages -------------------------------------------------------------------------------


async def _as(client, sign_in, actor):
    await sign_in(client, actor.user)


async def test_save_open_rename_and_delete_from_the_pages(client, sign_in, world):
    await _as(client, sign_in, world["nairobi"])
    token = client.headers["X-CSRF-Token"]
    response = await client.post(
        "/segments",
        data={"csrf_token": token, "name": "Seniors", "grade_min": "OF-4"},
        headers={"X-CSRF-Token": ""},
    )
    assert response.status_code == 303, response.text
    segment = await Segment.get(name="Seniors")
    assert response.headers["location"] == f"/alumni?segment={segment.id}&saved=segment"
    page = await client.get(response.headers["location"])
    assert page.status_code == 200
    assert "Segment: Seniors" in page.text and "The segment was saved." in page.text
    assert "Kamau" in page.text and "Abdi" in page.text and "Okello" not in page.text
    assert f"/alumni/export.csv?segment={segment.id}" in page.text
    listing = await client.get("/segments")
    assert "Seniors" in listing.text and "Lowest grade: OF-4" in listing.text
    edit = await client.get(f"/segments/{segment.id}")
    assert edit.status_code == 200 and 'value="Seniors"' in edit.text
    renamed = await client.post(f"/segments/{segment.id}", data={"name": "Senior officers"})
    assert renamed.status_code == 303
    assert (await Segment.get(id=segment.id)).name == "Senior officers"
    bad = await client.post(f"/segments/{segment.id}", data={"name": ""})
    assert bad.status_code == 422 and "Give the segment a name." in bad.text
    deleted = await client.post(f"/segments/{segment.id}/delete", data={})
    assert deleted.status_code == 303 and deleted.headers["location"] == "/segments?saved=deleted"
    assert not await Segment.exists(id=segment.id)


async def test_a_failed_save_keeps_the_filter(client, sign_in, world):
    await _as(client, sign_in, world["both"])
    response = await client.post("/segments", data={"name": "", "grade_min": "OF-4"})
    assert response.status_code == 422
    assert "Give the segment a name." in response.text
    assert 'name="grade_min" value="OF-4"' in response.text, "the filter goes back in the form"
    assert "Lowest grade: OF-4" in response.text
    chosen = await client.post(
        "/segments", data={"name": "Kampala seniors", "grade_min": "OF-4", "embassy": ""}
    )
    assert chosen.status_code == 422 and "Choose the embassy this segment is for." in chosen.text
    new = await client.get("/segments/new", params={"grade_min": "OF-4"})
    assert new.status_code == 200 and 'name="embassy"' in new.text


async def test_other_embassies_segments_answer_404_in_pages(client, sign_in, world):
    segment = await segments.create_segment("Seniors", SENIOR, actor=world["kampala"])
    await _as(client, sign_in, world["nairobi"])
    for path in (
        f"/segments/{segment.id}",
        f"/alumni?segment={segment.id}",
        f"/alumni/export.csv?segment={segment.id}",
    ):
        assert (await client.get(path)).status_code == 404, path
    assert (await client.post(f"/segments/{segment.id}/delete", data={})).status_code == 404
    assert "Seniors" not in (await client.get("/segments")).text
