"""The invitations API: invite by ids, segment or filter; the list with answers;
revoke; scope and roles; the OpenAPI document describes it."""

from __future__ import annotations

import pytest

from engage.accounts.models import Role
from engage.alumni.models import Segment
from engage.invitations.models import Invitation, InvitationStatus
from engage.invitations.rsvp import RsvpAnswer, answer
from engage.places.models import Country, ProgrammeStatus

REASONS = {
    "outside_scope",
    "already_invited",
    "pending_identity",
    "merged_or_erased",
    "no_email",
    "no_consent",
    "do_not_engage",
    "deceased_or_left_service",
    "programme_suspended",
    "suppressed",
}


@pytest.fixture
async def nairobi(app, make_embassy, make_user, make_event):
    embassy = await make_embassy(code="NBO", country="KE", accredited=["KE", "UG"])
    attache = await make_user(role=Role.ATTACHE, embassies=["NBO"])
    event = await make_event(embassy, capacity=10, guests_allowed=1, guests_named=True)
    return embassy, attache, event


async def test_invite_by_ids_then_list_the_answers(client, sign_in, nairobi, make_alumnus):
    _embassy, attache, event = nairobi
    amani = await make_alumnus(country="KE", given_name="Amani", family_name="Wanjiru")
    baraka = await make_alumnus(country="KE", accepts_invitations=False)
    await sign_in(client, attache)
    url = f"/api/v1/events/{event.id}/invitations"

    dry = await client.post(url, json={"alumni_ids": [amani.id, baraka.id], "dry_run": True})
    assert dry.status_code == 200, dry.text
    assert dry.json()["invited"] == 1 and dry.json()["job"] is None
    assert await Invitation.all().count() == 0

    response = await client.post(url, json={"alumni_ids": [amani.id, baraka.id]})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["invited"] == 1 and body["total"] == 2 and body["job"]
    assert set(body["skipped"]) == REASONS
    assert body["skipped"]["no_consent"] == 1 and sum(body["skipped"].values()) == 1
    again = (await client.post(url, json={"alumni_ids": [amani.id]})).json()
    assert again["invited"] == 0 and again["skipped"]["already_invited"] == 1

    invitation = await Invitation.get(event_id=event.id, alumnus_id=amani.id)
    await answer(invitation.id, RsvpAnswer("yes", guests=1, guest_names=["Wanjiku"]))
    listing = await client.get(url)

    assert listing.status_code == 200, listing.text
    page = listing.json()
    assert (page["total"], page["page"], page["pages"]) == (1, 1, 1)
    (item,) = page["items"]
    assert item["id"] == invitation.id and item["alumnus_id"] == amani.id
    assert item["name"] == "Amani Wanjiru" and item["status"] == "yes"
    assert item["guests"] == 1 and item["guest_names"] == ["Wanjiku"]
    assert item["waitlist_position"] is None and item["responded_at"].endswith("+03:00")
    assert page["counts"]["yes"] == 1 and page["counts"]["seats_taken"] == 2
    assert page["counts"]["attended"] == 0 and page["counts"]["no_show"] == 0
    assert (await client.get(url, params={"status": "no"})).json()["items"] == []
    assert (await client.get(url, params={"status": "coming"})).status_code == 422


async def test_invite_by_segment_and_by_filter(client, sign_in, nairobi, make_alumnus):
    embassy, attache, event = nairobi
    kenyan = await make_alumnus(country="KE")
    ugandan = await make_alumnus(country="UG")
    segment = await Segment.create(name="Uganda", filters={"country": ["UG"]}, embassy=embassy)
    await sign_in(client, attache)
    url = f"/api/v1/events/{event.id}/invitations"

    by_segment = (await client.post(url, json={"segment_id": segment.id})).json()
    by_filter = (await client.post(url, json={"filter": {"country": ["KE", "UG"]}})).json()

    assert by_segment["invited"] == 1 and by_filter["invited"] == 1
    assert by_filter["skipped"]["already_invited"] == 1
    assert {i.alumnus_id for i in await Invitation.all()} == {kenyan.id, ugandan.id}


async def test_bad_bodies_are_422_with_fields(client, sign_in, nairobi):
    _embassy, attache, event = nairobi
    await sign_in(client, attache)
    url = f"/api/v1/events/{event.id}/invitations"

    for body, field in (
        ({}, "audience"),
        ({"alumni_ids": [1], "segment_id": 1}, "audience"),
        ({"filter": {"grade_min": "general"}}, "filter.grade_min"),
        ({"everyone": True}, "everyone"),
        ({"alumni_ids": ["x"]}, "alumni_ids.0"),
    ):
        response = await client.post(url, json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in response.json()["error"]["fields"], (body, response.json())


async def test_scope_roles_and_the_override(
    client, sign_in, nairobi, make_embassy, make_user, make_alumnus, make_event
):
    _embassy, attache, event = nairobi
    other = await make_embassy(code="KLA", country="UG", accredited=["UG"])
    their_event = await make_event(other)
    await Country.filter(code="UG").update(programme_status=ProgrammeStatus.SUSPENDED)
    ugandan = await make_alumnus(country="UG")
    body = {"alumni_ids": [ugandan.id]}
    await sign_in(client, attache)

    assert (
        await client.post(f"/api/v1/events/{their_event.id}/invitations", json=body)
    ).status_code == 404
    assert (await client.get(f"/api/v1/events/{their_event.id}/invitations")).status_code == 404
    refused = await client.post(
        f"/api/v1/events/{event.id}/invitations", json={**body, "override_suspension": True}
    )
    assert refused.status_code == 403
    normal = (await client.post(f"/api/v1/events/{event.id}/invitations", json=body)).json()
    assert normal["invited"] == 0 and normal["skipped"]["programme_suspended"] == 1

    await sign_in(client, await make_user(role=Role.STAFF))
    staff = await client.post(
        f"/api/v1/events/{event.id}/invitations", json={**body, "override_suspension": True}
    )
    assert staff.status_code == 200 and staff.json()["invited"] == 1

    await sign_in(client, await make_user(role=Role.ALUMNUS))
    assert (
        await client.post(f"/api/v1/events/{event.id}/invitations", json=body)
    ).status_code == 403


async def test_a_draft_event_is_409(client, sign_in, nairobi, make_event, make_alumnus):
    from engage.events.models import EventStatus

    embassy, attache, _event = nairobi
    draft = await make_event(embassy, status=EventStatus.DRAFT)
    person = await make_alumnus(country="KE")
    await sign_in(client, attache)

    response = await client.post(
        f"/api/v1/events/{draft.id}/invitations", json={"alumni_ids": [person.id]}
    )

    assert response.status_code == 409
    assert "Publish" in response.json()["error"]["message"]


async def test_revoke(client, sign_in, nairobi, make_alumnus, make_embassy, make_user):
    _embassy, attache, event = nairobi
    person = await make_alumnus(country="KE")
    await sign_in(client, attache)
    await client.post(f"/api/v1/events/{event.id}/invitations", json={"alumni_ids": [person.id]})
    invitation = await Invitation.get(event_id=event.id, alumnus_id=person.id)

    await make_embassy(code="KLA", country="UG", accredited=["UG"])
    await sign_in(client, await make_user(role=Role.ATTACHE, embassies=["KLA"]))
    assert (await client.post(f"/api/v1/invitations/{invitation.id}/revoke")).status_code == 404

    await sign_in(client, attache)
    response = await client.post(f"/api/v1/invitations/{invitation.id}/revoke")

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "revoked" and response.json()["id"] == invitation.id
    assert (await Invitation.get(id=invitation.id)).status == InvitationStatus.REVOKED
    assert (await client.post("/api/v1/invitations/abc/revoke")).status_code == 404


async def test_the_openapi_document_describes_the_endpoints(client):
    document = (await client.get("/openapi.json")).json()

    invitations = document["paths"]["/api/v1/events/{id}/invitations"]
    assert invitations["post"]["operationId"] == "invite_alumni"
    assert invitations["get"]["operationId"] == "list_invitations"
    assert "409" in invitations["post"]["responses"]
    revoke = document["paths"]["/api/v1/invitations/{id}/revoke"]["post"]
    assert revoke["operationId"] == "revoke_invitation"
    schemas = document["components"]["schemas"]
    assert {"InviteIn", "InviteResult", "InvitationPage", "InvitationOut"} <= set(schemas)
