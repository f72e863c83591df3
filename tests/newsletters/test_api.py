"""The newsletters API: staff write, change, send (now, at a time in their zone, a
paused issue resumed), pause and follow an issue; others are refused."""

from __future__ import annotations

from datetime import UTC, datetime

from engage.accounts.models import Role, User
from engage.alumni.audience import filter_from
from engage.alumni.segments import create_segment
from engage.mail.models import OutboxMessage, Status
from engage.newsletters.models import IssueStatus, Newsletter

BODY = 'Dear {{ preferred_name | "colleague" }},\n\n**News**'


async def _staff(client, make_user, sign_in, *, timezone: str = "UTC") -> User:
    user = await make_user(role=Role.STAFF)
    await User.filter(id=user.id).update(timezone=timezone)
    await sign_in(client, user)
    return user


async def test_write_change_and_read(client, make_user, sign_in, make_alumnus):
    await make_alumnus(country="KE")
    user = await _staff(client, make_user, sign_in)
    created = await client.post(
        "/api/v1/newsletters",
        json={
            "subject": "March news",
            "body": BODY,
            "filter": {"country": ["KE"]},
            "sections": ["events"],
        },
    )
    assert created.status_code == 201, created.text
    issue = created.json()
    assert issue["status"] == "draft"
    assert issue["audience"] == {"segment_id": None, "filter": {"country": ["KE"]}}
    assert issue["body_html"] == "<p>Dear colleague,</p>\n<p><strong>News</strong></p>\n"
    assert issue["sections"] == ["events"] and issue["events_weeks"] == 6
    assert issue["created_by"] == user.email
    pk = issue["id"]

    changed = await client.patch(f"/api/v1/newsletters/{pk}", json={"subject": "April news"})
    assert changed.status_code == 200 and changed.json()["subject"] == "April news"
    assert changed.json()["audience"]["filter"] == {"country": ["KE"]}
    got = await client.get(f"/api/v1/newsletters/{pk}")
    assert got.json()["subject"] == "April news"
    listed = await client.get("/api/v1/newsletters", params={"status": "draft"})
    assert [i["id"] for i in listed.json()["items"]] == [pk]
    assert listed.json()["total"] == 1
    assert (await client.get("/api/v1/newsletters", params={"status": "sent"})).json()[
        "items"
    ] == []
    segment = await create_segment(
        "Kenya", filter_from({"country": ["KE"]}), actor=await _actor_of(user)
    )
    moved = await client.patch(f"/api/v1/newsletters/{pk}", json={"segment_id": segment.id})
    assert moved.json()["audience"] == {"segment_id": segment.id, "filter": None}


async def _actor_of(user):
    from engage.accounts.actor import load_actor

    return await load_actor(user)


async def test_errors_name_fields(client, make_user, sign_in):
    await _staff(client, make_user, sign_in)
    bad = await client.post(
        "/api/v1/newsletters",
        json={"subject": "Hi {{ nickname }}", "body": "x", "filter": {}},
    )
    assert bad.status_code == 422
    assert "{{ nickname }}" in bad.json()["error"]["fields"]["subject"]
    both = await client.post(
        "/api/v1/newsletters",
        json={"subject": "S", "body": "B", "filter": {}, "segment_id": 3},
    )
    assert both.status_code == 422 and "audience" in both.json()["error"]["fields"]
    unknown = await client.post(
        "/api/v1/newsletters", json={"subject": "S", "body": "B", "filter": {}, "colour": 1}
    )
    assert unknown.status_code == 422
    missing = await client.get("/api/v1/newsletters/999")
    assert missing.status_code == 404


async def test_send_now_writes_the_rows_and_a_second_send_changes_nothing(
    client, make_user, sign_in, make_alumnus
):
    people = [await make_alumnus(country="KE") for _ in range(3)]
    await _staff(client, make_user, sign_in)
    pk = (
        await client.post(
            "/api/v1/newsletters",
            json={"subject": "S", "body": BODY, "filter": {"country": ["KE"]}},
        )
    ).json()["id"]
    sent = await client.post(f"/api/v1/newsletters/{pk}/send")
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "sending"
    # The run went on after the answer (here, before the client saw it).
    issue = await Newsletter.get(id=pk)
    assert (issue.status, issue.written) == (IssueStatus.SENT, 3)
    again = await client.post(f"/api/v1/newsletters/{pk}/send", json={})
    assert again.status_code == 200 and again.json()["status"] == "sent"
    rows = await OutboxMessage.filter(campaign=f"newsletter:{pk}")
    assert sorted(r.recipient_id for r in rows) == sorted(p.id for p in people)
    late = await client.patch(f"/api/v1/newsletters/{pk}", json={"body": "x"})
    assert late.status_code == 409
    stats = await client.get(f"/api/v1/newsletters/{pk}/stats")
    assert stats.json()["recipients"] == 3 and stats.json()["queued"] == 3
    await OutboxMessage.filter(id=rows[0].id).update(status=Status.SENT)
    assert (await client.get(f"/api/v1/newsletters/{pk}/stats")).json()["delivered"] == 1


async def test_schedule_in_the_authors_zone_pause_and_resume(
    client, make_user, sign_in, make_alumnus
):
    await make_alumnus(country="KE")
    await _staff(client, make_user, sign_in, timezone="Asia/Kolkata")
    pk = (
        await client.post(
            "/api/v1/newsletters",
            json={"subject": "S", "body": BODY, "filter": {"country": ["KE"]}},
        )
    ).json()["id"]
    year = datetime.now(UTC).year + 1
    scheduled = await client.post(
        f"/api/v1/newsletters/{pk}/send", json={"send_at": f"{year}-03-02T09:00"}
    )
    body = scheduled.json()
    assert body["status"] == "scheduled"
    assert body["send_at"] == f"{year}-03-02T09:00:00+05:30"
    assert body["send_timezone"] == "Asia/Kolkata"
    issue = await Newsletter.get(id=pk)
    assert issue.send_at == datetime(year, 3, 2, 3, 30, tzinfo=UTC)
    offset = await client.post(
        f"/api/v1/newsletters/{pk}/send", json={"send_at": f"{year}-03-02T09:00:00Z"}
    )
    assert offset.json()["send_at"] == f"{year}-03-02T14:30:00+05:30"
    past = await client.post(f"/api/v1/newsletters/{pk}/send", json={"send_at": "2001-01-01T00:00"})
    assert past.status_code == 422 and "send_at" in past.json()["error"]["fields"]
    # A scheduled issue cannot be paused; a sending one can, and sending resumes it.
    assert (await client.post(f"/api/v1/newsletters/{pk}/pause")).status_code == 409
    await Newsletter.filter(id=pk).update(status=IssueStatus.SENDING, lease_owner="elsewhere")
    paused = await client.post(f"/api/v1/newsletters/{pk}/pause", json={})
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    resumed = await client.post(f"/api/v1/newsletters/{pk}/send")
    assert resumed.json()["status"] == "sending"
    assert (await Newsletter.get(id=pk)).status == IssueStatus.SENT


async def test_only_staff(client, make_user, sign_in):
    await sign_in(client, await make_user(role=Role.ATTACHE))
    assert (await client.get("/api/v1/newsletters")).status_code == 403
    refused = await client.post(
        "/api/v1/newsletters", json={"subject": "S", "body": "B", "filter": {}}
    )
    assert refused.status_code == 403
