"""Data rights: the export of everything held about a person, and erasure (request,
staff decision, anonymisation that keeps the counts, no re-creation)."""

from __future__ import annotations

import json
from datetime import date

import httpx
import pytest

from engage.accounts.actor import load_actor
from engage.accounts.api_tokens import create_api_token
from engage.accounts.audit import record
from engage.accounts.models import ApiToken, AuditEvent, Role, Session, Throttle, User
from engage.alumni import rights
from engage.alumni.models import (
    Alumnus,
    CareerEntry,
    CareerSource,
    ErasedIdentity,
    TrainingRecord,
)
from engage.alumni.profiles import create_alumnus, set_do_not_engage
from engage.errors import Conflict, InvalidInput, PermissionDenied
from engage.mail.models import Category, OutboxMessage, Status
from engage.mail.outbox import enqueue
from tests.conftest import make_settings
from tests.factories import PASSWORD


@pytest.fixture
async def staff_client(app):
    """A second browser, for staff, next to the person's ``client``."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield http


@pytest.fixture
async def person(client, make_user, make_alumnus, make_course, sign_in):
    """A signed-in alumnus with a full profile, training, career, a token and a flag."""
    user = await make_user(role=Role.ALUMNUS, email="Amani.W@example.ke")
    await sign_in(client, user)
    alumnus = await make_alumnus(
        user=user,
        given_name="Amani",
        family_name="Wanjiru",
        email="Amani.W@example.ke",
        secondary_email="amani.home@example.org",
        phone="+254 700 000 001",
        position="Deputy J3",
        unit="1st Brigade",
        programme_id="P-2011-042",
        declared_class_year=2011,
        declared_programme_id="P-2011-42",
        staff_notes="Met at the 2019 reunion; prefers WhatsApp.",
        do_not_engage=True,
        do_not_engage_reason="Under investigation (2024)",
        accepts_newsletter=False,
        newsletter_consent_source="profile page",
    )
    await TrainingRecord.create(
        alumnus=alumnus,
        course=await make_course(title="Command and General Staff"),
        class_year=2011,
        funding_type="IMET",
    )
    for rank, grade, when, position in (
        ("Major", "OF-3", date(2012, 1, 1), "Instructor"),
        ("Colonel", "OF-5", date(2020, 7, 1), "Deputy J3"),
    ):
        await CareerEntry.create(
            alumnus=alumnus,
            rank=rank,
            grade=grade,
            position=position,
            effective_date=when,
            source=CareerSource.STAFF_VERIFIED,
        )
    await create_api_token(user, name="reporting laptop")
    return alumnus


async def _staff(staff_client, make_user, sign_in, role=Role.STAFF):
    user = await make_user(role=role)
    await sign_in(staff_client, user)
    return user


# --- Export -----------------------------------------------------------------------------


async def test_export_page_explains_and_downloads(client, person, make_alumnus):
    other = await make_alumnus(
        given_name="Oleksandr", family_name="Kovalenko", email="o.k@example.ua", country="UA"
    )
    page = await client.get("/profile/export")
    assert page.status_code == 200
    assert page.text.count("<h1") == 1
    assert '/profile/export"' in page.text and "notes programme staff keep" in page.text

    response = await client.post("/profile/export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["content-disposition"].startswith(
        'attachment; filename="engage-personal-data-'
    )
    assert response.headers["cache-control"] == "no-store"
    data = json.loads(response.text)
    assert data["format"] == "engage-personal-data/1"
    for section in (
        "profile",
        "training",
        "career",
        "consents",
        "account",
        "audit_events",
        "merged_profiles",
    ):
        assert section in data, section
    profile = data["profile"]
    assert profile["given_name"] == "Amani" and profile["phone"] == "+254 700 000 001"
    assert profile["programme_id"] == "P-2011-042" and profile["secondary_email"]
    assert profile["declared_class_year"] == 2011
    assert profile["declared_programme_id"] == "P-2011-42"
    # Staff notes and the flag are there, each saying what it is.
    assert profile["staff_notes"]["text"] == "Met at the 2019 reunion; prefers WhatsApp."
    assert "staff" in profile["staff_notes"]["about"].lower()
    assert profile["do_not_engage"]["flag"] is True
    assert profile["do_not_engage"]["reason"] == "Under investigation (2024)"
    assert "staff" in profile["do_not_engage"]["about"].lower()
    assert [t["course"]["title"] for t in data["training"]] == ["Command and General Staff"]
    assert [c["rank"] for c in data["career"]] == ["Colonel", "Major"]
    consents = {c["kind"]: c for c in data["consents"]}
    assert consents["newsletter"]["given"] is False
    assert consents["newsletter"]["source"] == "profile page"
    assert consents["event_invitations"]["given"] is True
    account = data["account"]
    assert account["email"] == "Amani.W@example.ke" and account["role"] == "alumnus"
    assert account["sessions"] and "key_hash" not in account["sessions"][0]
    assert account["sessions"][0]["user_agent"] == "pytest"
    assert [t["name"] for t in account["api_tokens"]] == ["reporting laptop"]
    assert "token_hash" not in account["api_tokens"][0] and "prefix" not in response.text
    assert any(e["action"] == "alumnus.export" and e["by"] == "you" for e in data["audit_events"])
    # Nothing about anyone else.
    assert "Kovalenko" not in response.text and "o.k@example.ua" not in response.text
    assert str(other.id) not in {e["target"]["id"] for e in data["audit_events"]}
    event = await AuditEvent.get(action="alumnus.export")
    assert event.target_type == "alumnus" and event.target_id == str(person.id)
    assert event.actor_id == person.user_id


async def test_export_names_staff_by_role_and_keeps_their_ip_out(client, person, actor_for):
    staff = await actor_for(Role.STAFF)
    await set_do_not_engage(person.id, False, "Cleared", actor=staff, ip="198.51.100.7")
    data = json.loads((await client.post("/profile/export")).text)
    lifted = next(e for e in data["audit_events"] if e["action"] == "alumnus.do_not_engage")
    assert lifted["by"] == "programme staff" and lifted["ip"] is None
    assert staff.user.email not in json.dumps(data)


async def test_export_without_a_profile_holds_the_account(client, make_user, sign_in):
    user = await make_user(role=Role.STAFF)
    await sign_in(client, user)
    page = await client.get("/profile/export")
    assert page.status_code == 200 and "holds your account only" in page.text
    data = json.loads((await client.post("/profile/export")).text)
    assert data["profile"] is None and data["training"] == []
    assert data["account"]["email"] == user.email
    assert await AuditEvent.filter(action="alumnus.export", target_type="user").count() == 1


async def test_export_needs_the_csrf_token(client, person):
    client.headers.pop("X-CSRF-Token")
    assert (await client.post("/profile/export")).status_code == 403
    assert not await AuditEvent.exists(action="alumnus.export")


# --- Erasure: request, staff decision -------------------------------------------------


async def test_request_needs_the_password_and_shows_what_happens(client, person):
    page = await client.get("/profile/erase")
    assert page.status_code == 200
    assert "cannot be undone" in page.text and 'name="password"' in page.text
    wrong = await client.post("/profile/erase", data={"password": "not-my-password"})
    assert wrong.status_code == 422
    assert "Not right." in wrong.text
    assert not await AuditEvent.exists(action="alumnus.erasure_requested")
    done = await client.post("/profile/erase", data={"password": PASSWORD})
    assert done.status_code == 303 and done.headers["location"] == "/profile/erase?done=requested"
    again = await client.get("/profile/erase?done=requested")
    assert "Your request was sent" in again.text and "Withdraw my request" in again.text
    twice = await client.post("/profile/erase", data={"password": PASSWORD})
    assert twice.status_code == 409


async def test_erasure_confirmed_by_staff_anonymises_and_keeps_counts(
    client, staff_client, person, make_user, sign_in, settings
):
    user = await User.get(id=person.user_id)
    assert (await client.post("/profile/erase", data={"password": PASSWORD})).status_code == 303
    staff = await _staff(staff_client, make_user, sign_in)
    waiting = await staff_client.get("/admin/erasures")
    assert waiting.status_code == 200 and "Wanjiru" in waiting.text
    case = await staff_client.get(f"/admin/erasures/{person.id}")
    assert case.status_code == 200 and "asked for erasure" in case.text
    # The box must be ticked.
    unticked = await staff_client.post(f"/admin/erasures/{person.id}/confirm", data={})
    assert unticked.status_code == 422 and "cannot be undone" in unticked.text
    assert (await Alumnus.get(id=person.id)).erased_at is None
    done = await staff_client.post(
        f"/admin/erasures/{person.id}/confirm", data={"understood": "yes"}
    )
    assert done.status_code == 303 and done.headers["location"] == "/admin/erasures?done=erased"

    erased = await Alumnus.get(id=person.id)
    assert erased.erased_at is not None
    assert (erased.given_name, erased.family_name) == ("Erased", str(person.id))
    assert erased.email is None and erased.email_key is None and erased.secondary_email is None
    assert erased.phone == erased.position == erased.unit == erased.search_key == ""
    assert erased.staff_notes == "" and erased.do_not_engage_reason == ""
    assert erased.programme_id is None and erased.user_id is None
    assert erased.declared_class_year is None and erased.declared_programme_id is None
    assert not erased.accepts_invitations and not erased.accepts_newsletter
    # What reports count stays.
    assert erased.country_id == person.country_id and erased.service == person.service
    assert erased.do_not_engage is True and erased.status == person.status
    assert await TrainingRecord.filter(alumnus_id=person.id).count() == 1
    career = await CareerEntry.filter(alumnus_id=person.id).order_by("effective_date")
    assert [(c.rank, c.grade, c.position) for c in career] == [
        ("Major", "OF-3", ""),
        ("Colonel", "OF-5", ""),
    ]
    # The account is closed and anonymous; its sessions and tokens are gone.
    account = await User.get(id=user.id)
    assert not account.is_active and account.password_hash is None
    assert account.email == account.email_key == f"erased-{user.id}@erased.invalid"
    assert not await Session.exists(user_id=user.id)
    assert not await ApiToken.exists(user_id=user.id)
    assert (await client.get("/profile", follow_redirects=False)).status_code == 303
    # Both addresses are remembered as keyed hashes only.
    assert await ErasedIdentity.all().count() == 2
    assert await rights.is_erased("AMANI.W@example.ke", settings)
    assert await rights.is_erased("amani.home@example.org", settings)
    # The log tells the story without personal values.
    erased_event = await AuditEvent.get(action="alumnus.erased")
    assert erased_event.target_id == str(person.id)
    text = json.dumps(erased_event.details)
    for value in ("Amani", "Wanjiru", "example.ke", "P-2011-042", "WhatsApp"):
        assert value not in text
    assert erased_event.details["requested"] is True
    assert await AuditEvent.exists(action="alumnus.erasure_requested", target_id=str(person.id))
    after = await staff_client.get("/admin/erasures")
    assert "No requests are waiting." in after.text and "Wanjiru" not in after.text
    assert await rights.pending_erasures(actor=await load_actor(staff)) == []


async def test_an_erased_address_is_not_recreated(
    person, staff_client, make_user, sign_in, actor_for, settings
):
    staff = await actor_for(Role.STAFF)
    await rights.erase_alumnus(person.id, actor=staff, settings=settings)
    new = {"given_name": "Amani", "family_name": "Wanjiru", "country": "KE"}
    with pytest.raises(Conflict) as caught:
        await create_alumnus(
            {**new, "email": " amani.w@EXAMPLE.ke "}, actor=staff, settings=settings
        )
    assert "email" in caught.value.fields
    # Through the staff page and the API alike.
    await _staff(staff_client, make_user, sign_in)
    form = {**new, "service": "army", "language": "en", "timezone": "UTC"}
    page = await staff_client.post("/alumni/new", data={**form, "email": "Amani.W@example.ke"})
    assert page.status_code == 409 and "whose data was erased" in page.text
    api = await staff_client.post("/api/v1/alumni", json={**new, "email": "amani.home@example.org"})
    assert api.status_code == 409 and api.json()["error"]["fields"]["email"]
    # Someone else is still welcome.
    await create_alumnus({**new, "email": "amani.w2@example.ke"}, actor=staff, settings=settings)


async def test_the_hash_is_keyed_with_the_app_secret(settings, tmp_path):
    other = make_settings(
        f"sqlite://{tmp_path}/other.sqlite3", tmp_path, app={"secret_key": "another-secret-" * 3}
    )
    assert rights.email_hash("A@x.org", settings) == rights.email_hash(" a@X.org", settings)
    assert rights.email_hash("a@x.org", settings) != rights.email_hash("a@x.org", other)
    assert len(rights.email_hash("a@x.org", settings)) == 64


async def test_staff_decline_with_a_reason_the_person_sees(
    client, staff_client, person, make_user, sign_in
):
    await client.post("/profile/erase", data={"password": PASSWORD})
    await _staff(staff_client, make_user, sign_in)
    empty = await staff_client.post(f"/admin/erasures/{person.id}/decline", data={"reason": " "})
    assert empty.status_code == 422 and "the person sees it" in empty.text
    done = await staff_client.post(
        f"/admin/erasures/{person.id}/decline",
        data={"reason": "Records of the 2011 class are kept by law until 2031."},
    )
    assert done.status_code == 303
    assert (await Alumnus.get(id=person.id)).erased_at is None
    page = await client.get("/profile/erase")
    assert "declined your request" in page.text and "kept by law until 2031" in page.text
    assert 'name="password"' in page.text  # they may ask again
    assert "No requests are waiting." in (await staff_client.get("/admin/erasures")).text
    # No request pending: nothing left to decline.
    again = await staff_client.post(
        f"/admin/erasures/{person.id}/decline", data={"reason": "Twice"}
    )
    assert again.status_code == 409


async def test_the_person_withdraws_their_request(client, person, actor_for):
    await client.post("/profile/erase", data={"password": PASSWORD})
    done = await client.post("/profile/erase/withdraw")
    assert done.status_code == 303
    assert "withdrawn" in (await client.get(done.headers["location"])).text
    assert await rights.pending_erasures(actor=await actor_for(Role.STAFF)) == []
    assert (await client.post("/profile/erase/withdraw")).status_code == 409


async def test_erasure_pages_are_for_staff(client, person, make_user, sign_in, make_embassy):
    for path in ("/admin/erasures", f"/admin/erasures/{person.id}"):
        assert (await client.get(path)).status_code == 403
    assert (await client.post(f"/admin/erasures/{person.id}/confirm")).status_code == 403
    await make_embassy(code="NBO", country="KE", accredited=["KE"])
    attache = await make_user(role=Role.ATTACHE, embassies=["NBO"])
    await sign_in(client, attache)
    assert (await client.get("/admin/erasures")).status_code == 403
    assert (
        await client.post(f"/admin/erasures/{person.id}/confirm", data={"understood": "yes"})
    ).status_code == 403
    assert (await Alumnus.get(id=person.id)).erased_at is None


async def test_services_check_roles_and_state(person, actor_for, settings):
    owner = await actor_for(Role.ALUMNUS, user=await User.get(id=person.user_id))
    with pytest.raises(PermissionDenied):
        await rights.erase_alumnus(person.id, actor=owner, settings=settings)
    with pytest.raises(PermissionDenied):
        await rights.pending_erasures(actor=owner)
    with pytest.raises(InvalidInput):
        await rights.request_erasure("", actor=owner, settings=settings)
    staff = await actor_for(Role.STAFF)
    await rights.erase_alumnus(person.id, actor=staff, settings=settings)
    with pytest.raises(Conflict):
        await rights.erase_alumnus(person.id, actor=staff, settings=settings)
    # Staff may erase without a request (the person asked by letter): recorded so.
    event = await AuditEvent.get(action="alumnus.erased")
    assert event.details["requested"] is False


async def test_staff_cannot_erase_their_own_profile(
    db, make_user, make_alumnus, actor_for, settings
):
    user = await make_user(role=Role.STAFF)
    mine = await make_alumnus(user=user)
    with pytest.raises(Conflict):
        await rights.erase_alumnus(
            mine.id, actor=await actor_for(Role.STAFF, user=user), settings=settings
        )


async def test_erasure_reaches_merged_profiles_logs_and_queued_mail(
    person, make_alumnus, actor_for, settings
):
    old = await make_alumnus(
        given_name="Amani", family_name="Wanjiru-Old", email="amani.old@example.ke"
    )
    await Alumnus.filter(id=old.id).update(merged_into_id=person.id)
    await record(
        "user.login_failed",
        actor=None,
        details={"email": "amani.w@example.ke"},
        ip="203.0.113.5",
    )
    await record(
        "user.email_changed",
        actor=await User.get(id=person.user_id),
        target=("user", person.user_id),
        details={"old": "amani.first@example.ke", "new": "amani.w@example.ke"},
        ip="203.0.113.6",
    )
    await Throttle.create(key="login:account:amani.w@example.ke", bucket=1, count=2)
    staff = await actor_for(Role.STAFF)
    await set_do_not_engage(person.id, True, "Coup involvement, 2023", actor=staff)
    queued = await enqueue(
        "welcome",
        to="Amani.W@example.ke",
        to_name="Amani Wanjiru",
        category=Category.TRANSACTIONAL,
        dedupe_key="welcome:amani.w@example.ke",
    )
    result = await rights.erase_alumnus(person.id, actor=staff, settings=settings)
    assert result.profiles == 2 and result.accounts == 1
    merged = await Alumnus.get(id=old.id)
    assert merged.erased_at is not None and merged.family_name == str(old.id)
    assert merged.email is None
    # Every address the person used is remembered, the earlier account address too.
    for address in ("amani.old@example.ke", "amani.first@example.ke"):
        assert await rights.is_erased(address, settings)
    # The do-not-engage reason and the addresses are gone from the audit details.
    events = await AuditEvent.all()
    dumped = json.dumps([e.details for e in events])
    assert "example.ke" not in dumped and "Coup involvement" not in dumped
    changed = next(e for e in events if e.action == "user.email_changed")
    assert changed.details == {"old": "[erased]", "new": "[erased]"} and changed.ip == ""
    assert not await Throttle.exists(key="login:account:amani.w@example.ke")
    row = await OutboxMessage.get(id=queued.message.id)
    assert row.status == Status.FAILED and row.to_address.endswith("@erased.invalid")
    assert row.to_name == "" and "example.ke" not in row.dedupe_key


async def test_staff_export_leaves_out_details_about_others(
    client, make_user, make_alumnus, sign_in
):
    from engage.accounts.actor import load_actor

    user = await make_user(role=Role.STAFF)
    await sign_in(client, user)
    other = await make_alumnus(given_name="Bolat", family_name="Seitkali", country="KZ")
    await set_do_not_engage(
        other.id, True, "Secret reason about Bolat", actor=await load_actor(user)
    )
    data = json.loads((await client.post("/profile/export")).text)
    flagged = next(e for e in data["audit_events"] if e["action"] == "alumnus.do_not_engage")
    assert flagged["by"] == "you" and flagged["details"] is None
    assert "Secret reason" not in json.dumps(data)
