"""Identity and vetting: registration creates or claims a profile only through a
verified address; pending people are confirmed by staff or an attaché of their
country; the profile follows the account's verified new address."""

from __future__ import annotations

import pytest

from engage.accounts.models import AuditEvent, Role, User
from engage.alumni import identity
from engage.alumni.duplicates import find_duplicates, merge_alumni
from engage.alumni.models import Alumnus, TrainingRecord, Vetting
from engage.alumni.profiles import get_alumnus, list_alumni, profile_data
from engage.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from engage.web.identity import csrf_cookie_name
from tests.accounts.conftest import PROFILE, Mailbox, link_in
from tests.factories import PASSWORD, ensure_country


@pytest.fixture
async def mailbox(app, worker, clock, smtp_server) -> Mailbox:
    return Mailbox(worker, clock, smtp_server)


@pytest.fixture
def anonymous(client, settings):
    """The client as a browser before sign-in: a CSRF cookie and header."""
    token = "c" * 43
    client.cookies.set(csrf_cookie_name(settings), token)
    client.headers["X-CSRF-Token"] = token
    return client


async def _register(client, email: str, **fields: str):
    data = {"email": email, "password": PASSWORD, **PROFILE, **fields}
    response = await client.post("/register", data=data)
    assert response.status_code == 200, response.text
    return await User.get(email_key=email.lower())


async def _verify(client, mailbox: Mailbox, email: str):
    await mailbox.deliver()
    link = link_in(mailbox.last(email))
    response = await client.post(link)
    assert response.status_code == 200
    return response


# --- Registration and claim -------------------------------------------------------------


async def test_registration_asks_who_the_person_is(anonymous):
    page = await anonymous.get("/register")
    assert page.status_code == 200
    for name in ("given_name", "family_name", "given_name_latin", "country", "service"):
        assert f'name="{name}"' in page.text
    assert 'value="KE"' in page.text, "countries to choose from"
    assert 'name="programme_id"' in page.text and 'name="class_year"' in page.text

    response = await anonymous.post(
        "/register",
        data={
            "email": "x@example.org",
            "password": PASSWORD,
            "family_name": "Коваленко",
            "country": "ZZ",
            "class_year": "1890",
            "programme_id": "KE;12",
        },
    )
    assert response.status_code == 422
    html = response.text
    for name in ("given_name", "country", "service", "class_year", "programme_id"):
        assert f'id="{name}-error"' in html, name
    assert 'value="Коваленко"' in html, "what was typed stays"
    assert await User.all().count() == 0 and await Alumnus.all().count() == 0


async def test_registration_keeps_a_pending_profile_without_the_unverified_address(
    anonymous, make_user, sign_in
):
    user = await _register(
        anonymous,
        "oleksandr@example.ua",
        given_name="Олександр",
        family_name="Коваленко",
        given_name_latin="Oleksandr",
        family_name_latin="Kovalenko",
        country="UA",
        programme_id="UA-2015-007",
        class_year="2015",
        accepts_newsletter="",
    )
    assert user.email_verified_at is None
    person = await Alumnus.get(user_id=user.id)
    assert person.vetting == Vetting.PENDING
    assert person.email is None and person.email_key is None, "an unverified address is not kept"
    assert person.given_name == "Олександр" and person.family_name_latin == "Kovalenko"
    assert "kovalenko" in person.search_key
    assert person.country_id == "UA" and person.service == "army"
    assert person.programme_id is None, "a declared programme ID is no proof of identity"
    assert identity.declaration(person) == identity.Declaration(2015, "UA-2015-007")
    assert (person.declared_class_year, person.declared_programme_id) == (2015, "UA-2015-007")
    assert person.staff_notes == "", "a declaration is no staff note"
    assert person.accepts_invitations and not person.accepts_newsletter
    assert person.newsletter_consent_source == "registration"

    # Shown nowhere until the address is verified.
    staff = await make_user(role=Role.STAFF)
    await sign_in(anonymous, staff)
    assert "Kovalenko" not in (await anonymous.get("/alumni")).text
    assert "Kovalenko" not in (await anonymous.get("/alumni/pending")).text


async def test_a_verified_address_claims_the_imported_profile(
    anonymous, mailbox, make_alumnus, make_course
):
    imported = await make_alumnus(
        given_name="Amani",
        family_name="Wanjiru",
        email="Amani@Example.KE",
        vetting=Vetting.CONFIRMED,
    )
    await TrainingRecord.create(alumnus=imported, course=await make_course(), class_year=2012)
    user = await _register(
        anonymous,
        "amani@example.ke",
        given_name_latin="Amani",
        class_year="2012",
        accepts_newsletter="",
    )
    await imported.refresh_from_db()
    assert imported.user_id is None, "not before the address is verified"

    done = await _verify(anonymous, mailbox, "amani@example.ke")
    assert "linked to your account" in done.text
    await imported.refresh_from_db()
    assert imported.user_id == user.id
    assert imported.vetting == Vetting.CONFIRMED, "a claimed profile keeps its status"
    assert not imported.accepts_newsletter, "the choice made when registering"
    assert imported.newsletter_consent_source == "registration"
    assert await Alumnus.filter(user_id=user.id).count() == 1, "the registration's own is gone"
    assert await Alumnus.all().count() == 1
    assert imported.declared_class_year is None and imported.declared_programme_id is None, (
        "nothing new for staff: the roster says so already"
    )
    assert imported.staff_notes == ""
    event = await AuditEvent.get(action="alumnus.claim")
    assert event.target_id == str(imported.id) and event.actor_id == user.id

    # Signed in, the person sees the claimed profile.
    login = await anonymous.post("/login", data={"email": "amani@example.ke", "password": PASSWORD})
    assert login.status_code == 303
    profile = await anonymous.get("/profile")
    assert "Wanjiru" in profile.text and "Pending" not in profile.text


async def test_without_a_matching_profile_the_person_is_pending(
    anonymous, mailbox, make_user, make_embassy, sign_in
):
    user = await _register(anonymous, "jose@example.co", country="CO", family_name="Restrepo")
    done = await _verify(anonymous, mailbox, "jose@example.co")
    assert "waits for confirmation" in done.text
    person = await Alumnus.get(user_id=user.id).select_related("country")
    assert person.vetting == Vetting.PENDING
    assert person.email == "jose@example.co" and person.email_key == "jose@example.co"
    assert person.contact_edited_at is not None, "the person gave this address themselves"
    assert await identity.confirmed_alumni().filter(id=person.id).count() == 0, "not invitable"

    embassy = await make_embassy(country="CO", accredited=["CO"])
    attache = await make_user(role=Role.ATTACHE, embassies=[embassy.code])
    await sign_in(anonymous, attache)
    listing = await anonymous.get("/alumni")
    assert "Restrepo" in listing.text and "(pending)" in listing.text
    pending = await anonymous.get("/alumni/pending")
    assert pending.status_code == 200 and "Restrepo" in pending.text
    profile = await anonymous.get(f"/alumni/{person.id}")
    assert "not yet confirmed against the training roster" in profile.text
    assert "Confirm this person" in profile.text


async def test_an_unverified_registration_never_claims(db, make_user, make_alumnus, actor_for):
    imported = await make_alumnus(
        given_name="Minh", family_name="Nguyen", country="VN", email="minh@example.vn"
    )
    await TrainingRecord.create(
        alumnus=imported,
        course=await _course(),
        class_year=2018,
    )
    user = await make_user(email="minh@example.vn", verified=False)
    details = await identity.check_registration(
        {
            "given_name": "Minh",
            "family_name": "Nguyen",
            "country": "VN",
            "service": "navy",
            "class_year": "2018",
        }
    )
    placeholder = await identity.start_registration(user, details, now=imported.created_at)

    link = await identity.address_verified(user)
    assert link.alumnus is None and not link.claimed
    await imported.refresh_from_db()
    assert imported.user_id is None
    await placeholder.refresh_from_db()
    assert placeholder.email_key is None

    staff = await actor_for(Role.STAFF)
    assert placeholder.id not in {a.id for a in await list_alumni(actor=staff)}
    assert placeholder.id not in {p.alumnus.id for p in await identity.list_pending(actor=staff)}
    pairs = await find_duplicates(actor=staff)
    assert all(placeholder.id not in (p.first.id, p.second.id) for p in pairs)
    with pytest.raises(Conflict, match="not confirmed yet"):
        await merge_alumni(imported.id, placeholder.id, keep=imported.id, actor=staff)
    with pytest.raises(Conflict, match="not confirmed their email"):
        await identity.confirm_alumnus(placeholder.id, actor=staff)


async def test_a_profile_claimed_by_another_account_is_not_taken(db, make_user, make_alumnus):
    owner = await make_user(email="owner@example.org")
    held = await make_alumnus(email="shared@example.org", user=owner)
    user = await make_user(email="shared@example.org", verified=False)
    details = await identity.check_registration(
        {"given_name": "A", "family_name": "B", "country": "KE", "service": "army"}
    )
    await identity.start_registration(user, details, now=held.created_at)
    await User.filter(id=user.id).update(email_verified_at=held.created_at)
    await user.refresh_from_db()

    link = await identity.address_verified(user)
    assert not link.claimed and link.pending
    assert link.alumnus is not None and link.alumnus.email is None, "the address stays held"
    await held.refresh_from_db()
    assert held.user_id == owner.id


async def test_a_claim_keeps_a_declaration_that_differs_from_the_roster(
    db, make_user, make_alumnus
):
    imported = await make_alumnus(
        email="kamau@example.ke", programme_id="KE-0001", staff_notes="On the 2012 roster."
    )
    await TrainingRecord.create(alumnus=imported, course=await _course(), class_year=2012)
    kept = await make_alumnus(email="otieno@example.ke", declared_class_year=2010)
    for target in (imported, kept):
        user = await make_user(email=target.email, verified=False)
        details = await identity.check_registration(
            {
                "given_name": "Kamau",
                "family_name": "Otieno",
                "country": "KE",
                "service": "army",
                "class_year": "2013",
                "programme_id": "KE-0099",
            }
        )
        await identity.start_registration(user, details, now=target.created_at)
        await User.filter(id=user.id).update(email_verified_at=target.created_at)
        await user.refresh_from_db()
        link = await identity.address_verified(user)
        assert link.claimed and link.alumnus is not None and link.alumnus.id == target.id

    await imported.refresh_from_db()
    assert identity.declaration(imported) == identity.Declaration(2013, "KE-0099")
    assert imported.programme_id == "KE-0001", "the roster's stays"
    assert imported.staff_notes == "On the 2012 roster.", "the notes are left alone"
    await kept.refresh_from_db()
    assert identity.declaration(kept) == identity.Declaration(2010, "KE-0099"), (
        "what the profile held as declared stays; an empty field is filled"
    )


async def _course():
    from engage.alumni.models import Course

    return await Course.create(title="Basic Officer", school="Infantry School")


# --- Confirmation -----------------------------------------------------------------------


async def _pending(make_user, make_alumnus, **fields):
    user = await make_user()
    return await make_alumnus(user=user, vetting=Vetting.PENDING, **fields)


async def test_confirmation_is_scoped_to_the_attaches_countries(
    db, make_user, make_alumnus, actor_for
):
    person = await _pending(
        make_user,
        make_alumnus,
        country="KE",
        declared_class_year=2016,
        declared_programme_id="KE-0042",
    )
    elsewhere = await actor_for(Role.ATTACHE, countries=["UG"])
    with pytest.raises(NotFound):
        await identity.confirm_alumnus(person.id, actor=elsewhere)
    assert person.id not in {p.alumnus.id for p in await identity.list_pending(actor=elsewhere)}
    alumnus_actor = await actor_for(Role.ALUMNUS)
    with pytest.raises(PermissionDenied):
        await identity.list_pending(actor=alumnus_actor)

    attache = await actor_for(Role.ATTACHE, countries=["KE", "SO"])
    [listed] = await identity.list_pending(actor=attache)
    assert listed.alumnus.id == person.id
    assert listed.declared == identity.Declaration(2016, "KE-0042")

    confirmed = await identity.confirm_alumnus(person.id, actor=attache, ip="203.0.113.5")
    assert confirmed.vetting == Vetting.CONFIRMED
    assert confirmed.confirmed_by_id == attache.id and confirmed.confirmed_at is not None
    assert confirmed.programme_id == "KE-0042", "the declared programme ID, now vouched for"
    event = await AuditEvent.get(action="alumnus.confirm")
    assert event.target_id == str(person.id) and event.actor_id == attache.id
    assert event.ip == "203.0.113.5"
    assert await identity.list_pending(actor=attache) == []
    assert profile_data(await get_alumnus(person.id, actor=attache))["vetting"] == "confirmed"

    # Again: nothing changes, no second audit event.
    await identity.confirm_alumnus(person.id, actor=attache)
    assert await AuditEvent.filter(action="alumnus.confirm").count() == 1


async def test_staff_confirm_any_country_and_a_taken_programme_id_stays_declared(
    db, make_user, make_alumnus, actor_for
):
    await make_alumnus(country="VN", programme_id="VN-9")
    person = await _pending(
        make_user,
        make_alumnus,
        country="CO",
        declared_programme_id="VN-9",
    )
    staff = await actor_for(Role.STAFF)
    confirmed = await identity.confirm_alumnus(person.id, actor=staff)
    assert confirmed.vetting == Vetting.CONFIRMED and confirmed.programme_id is None
    assert confirmed.declared_programme_id == "VN-9"


async def test_pending_people_are_not_confirmed_anywhere(db, make_user, make_alumnus, actor_for):
    person = await _pending(make_user, make_alumnus, country="KE")
    confirmed = await make_alumnus(country="KE")
    attache = await actor_for(Role.ATTACHE, countries=["KE"])
    ids = set(await identity.confirmed_alumni().values_list("id", flat=True))
    assert confirmed.id in ids and person.id not in ids
    assert profile_data(await get_alumnus(person.id, actor=attache))["vetting"] == "pending"


async def test_the_pending_page_shows_matches_and_confirms(
    client, make_user, make_alumnus, make_embassy, sign_in
):
    roster = await make_alumnus(
        country="KE", given_name="Kamau", family_name="Otieno", email="k@army.ke"
    )
    person = await _pending(
        make_user,
        make_alumnus,
        country="KE",
        given_name="KAMAU",
        family_name="Otieno",
        declared_class_year=2014,
    )
    embassy = await make_embassy(country="KE", accredited=["KE"])
    attache = await make_user(role=Role.ATTACHE, embassies=[embassy.code])
    await sign_in(client, attache)
    page = await client.get("/alumni/pending")
    assert page.status_code == 200
    assert "May already be on the roster" in page.text
    assert f'/alumni/{roster.id}"' in page.text
    assert "2014" in page.text
    assert "Compare and merge" not in page.text, "merging is for staff"
    assert "Reject" not in page.text

    response = await client.post(f"/alumni/{person.id}/confirm", data={"next": "profile"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/alumni/{person.id}?saved=confirmed"
    shown = await client.get(response.headers["location"])
    assert "The person is confirmed." in shown.text
    assert "Class year (declared)" in shown.text, "the declaration stays on the profile"
    await person.refresh_from_db()
    assert person.vetting == Vetting.CONFIRMED and person.confirmed_by_id == attache.id


async def test_confirm_page_out_of_scope_answers_404(
    client, make_user, make_alumnus, make_embassy, sign_in
):
    person = await _pending(make_user, make_alumnus, country="UG")
    embassy = await make_embassy(country="KE", accredited=["KE"])
    await sign_in(client, await make_user(role=Role.ATTACHE, embassies=[embassy.code]))
    response = await client.post(f"/alumni/{person.id}/confirm")
    assert response.status_code == 404
    await person.refresh_from_db()
    assert person.vetting == Vetting.PENDING
    assert (await client.get(f"/alumni/{person.id}/reject")).status_code == 403


async def test_confirm_without_csrf_token_changes_nothing(client, make_user, make_alumnus, sign_in):
    person = await _pending(make_user, make_alumnus)
    await sign_in(client, await make_user(role=Role.STAFF))
    del client.headers["X-CSRF-Token"]
    assert (await client.post(f"/alumni/{person.id}/confirm")).status_code == 403
    await person.refresh_from_db()
    assert person.vetting == Vetting.PENDING


# --- Rejection --------------------------------------------------------------------------


async def test_staff_reject_a_pending_profile_and_the_account_stays(
    client, make_user, make_alumnus, sign_in
):
    owner = await make_user(email="notalum@example.org")
    person = await make_alumnus(user=owner, vetting=Vetting.PENDING)
    await sign_in(client, await make_user(role=Role.STAFF))
    form = await client.get(f"/alumni/{person.id}/reject")
    assert form.status_code == 200 and 'name="reason"' in form.text
    empty = await client.post(f"/alumni/{person.id}/reject", data={"reason": " "})
    assert empty.status_code == 422 and 'id="reason-error"' in empty.text

    done = await client.post(f"/alumni/{person.id}/reject", data={"reason": "Not on the roster"})
    assert done.status_code == 303 and done.headers["location"] == "/alumni/pending?saved=rejected"
    assert not await Alumnus.exists(id=person.id)
    await owner.refresh_from_db()
    assert owner.is_active, "the account stays, without a profile"
    event = await AuditEvent.get(action="alumnus.reject")
    assert event.details["reason"] == "Not on the roster" and event.details["user"] == owner.id


async def test_reject_refuses_confirmed_or_documented_profiles(db, make_alumnus, actor_for):
    staff = await actor_for(Role.STAFF)
    confirmed = await make_alumnus()
    with pytest.raises(Conflict):
        await identity.reject_pending(confirmed.id, "x", actor=staff)
    trained = await make_alumnus(vetting=Vetting.PENDING)
    await TrainingRecord.create(alumnus=trained, course=await _course())
    with pytest.raises(Conflict, match="merge"):
        await identity.reject_pending(trained.id, "x", actor=staff)
    with pytest.raises(InvalidInput):
        await identity.reject_pending(trained.id, "", actor=staff)
    attache = await actor_for(Role.ATTACHE, countries=["KE"])
    with pytest.raises(PermissionDenied):
        await identity.reject_pending(trained.id, "x", actor=attache)


# --- The profile follows the account's verified address ---------------------------------


async def test_the_profile_follows_a_verified_address_change(
    client, mailbox, make_user, make_alumnus, sign_in
):
    user = await make_user(email="old@example.ke")
    person = await make_alumnus(user=user, email="old@example.ke")
    await sign_in(client, user)
    response = await client.post(
        "/account/email", data={"new_email": "New@Example.ke", "current_password": PASSWORD}
    )
    assert response.status_code == 303
    await person.refresh_from_db()
    assert person.email == "old@example.ke", "nothing changes before the new address is verified"

    await mailbox.deliver()
    link = link_in(mailbox.last("new@example.ke"))
    assert (await client.post(link)).status_code == 200
    await person.refresh_from_db()
    assert person.email == "New@Example.ke" and person.email_key == "new@example.ke"
    assert person.contact_edited_at is not None
    event = await AuditEvent.filter(action="alumnus.update", target_id=str(person.id)).first()
    assert event is not None and event.details["by"] == "account"


async def test_an_account_without_a_profile_claims_one_with_its_new_verified_address(
    db, make_user, make_alumnus
):
    await ensure_country("KE")
    imported = await make_alumnus(email="new@example.ke")
    user = await make_user(email="new@example.ke")  # verified (the change was applied)
    link = await identity.address_verified(user)
    assert link.claimed and link.alumnus is not None and link.alumnus.id == imported.id

    staff_user = await make_user(role=Role.STAFF, email="staff@example.org")
    other = await make_alumnus(email="staff@example.org")
    link = await identity.address_verified(staff_user)
    assert not link.claimed, "only alumni accounts claim profiles"
    await other.refresh_from_db()
    assert other.user_id is None


async def test_registration_answers_alike_whether_a_profile_or_account_holds_the_address(
    anonymous, make_alumnus, make_user
):
    await make_alumnus(email="imported@example.ke")
    await make_user(email="account@example.ke")
    answers = []
    for email in ("imported@example.ke", "account@example.ke", "nobody@example.ke"):
        response = await anonymous.post(
            "/register", data={"email": email, "password": PASSWORD, **PROFILE}
        )
        answers.append((response.status_code, response.text.replace(email, "EMAIL")))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 200
    # A known account gets a notice, not a second profile.
    account = await User.get(email_key="account@example.ke")
    assert not await Alumnus.exists(user_id=account.id)
