"""Alumni pages: the person's own profile, profiles for attachés and staff, the course
catalogue.

::

    /profile                          the signed-in person's profile; edit and career update
    /alumni                           the directory: engage.web.directory
    /alumni/new                       staff add a profile
    /alumni/{id}                      person, training, career timeline, and staff forms
    /admin/courses                    the course catalogue (staff)

Each handler reads its form, calls one service and redirects with ``?saved=<what>``
(a fixed message), or shows the page again with the form's errors. Who may do what
is decided by the services (``engage.alumni``); a profile out of reach answers 404.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from engage.accounts.actor import Actor
from engage.accounts.profile import LANGUAGES
from engage.alumni import career, engagement, profiles, training
from engage.alumni.models import AlumnusStatus, CareerSource, CourseCategory, Service
from engage.errors import Conflict, InvalidInput, PermissionDenied
from engage.i18n import N_, _
from engage.places.services import list_countries
from engage.places.timezones import zone_groups
from engage.web.failures import form_failure
from engage.web.forms import Form, read_form
from engage.web.identity import client_ip
from engage.web.identity import current_actor as _actor
from engage.web.routing import Access, page
from engage.web.templating import render

SERVICES = {
    Service.ARMY: N_("Army"),
    Service.NAVY: N_("Navy"),
    Service.AIR_FORCE: N_("Air force"),
    Service.MARINES: N_("Marines"),
    Service.COAST_GUARD: N_("Coast guard"),
    Service.JOINT: N_("Joint"),
    Service.OTHER: N_("Other"),
}
STATUSES = {
    AlumnusStatus.SERVING: N_("Serving"),
    AlumnusStatus.RETIRED: N_("Retired"),
    AlumnusStatus.LEFT_SERVICE: N_("Left service"),
    AlumnusStatus.DECEASED: N_("Deceased"),
}
CATEGORIES = {
    CourseCategory.PME: N_("Professional military education"),
    CourseCategory.TECHNICAL: N_("Technical"),
    CourseCategory.ENGLISH: N_("English language"),
    CourseCategory.OTHER: N_("Other"),
}
SOURCES = {
    CareerSource.SELF_REPORTED: N_("Self-reported"),
    CareerSource.STAFF_VERIFIED: N_("Verified"),
}
#: What ``?saved=`` may say.
SAVED = {
    "created": N_("The profile was added."),
    "contact": N_("Your changes were saved."),
    "career": N_("The career entry was added."),
    "career_deleted": N_("The career entry was removed."),
    "verified": N_("The career entry is marked verified."),
    "training": N_("The training record was added."),
    "training_deleted": N_("The training record was removed."),
    "status": N_("The status was changed."),
    "do_not_engage": N_("The do-not-engage flag was set."),
    "do_not_engage_lifted": N_("The do-not-engage flag was lifted."),
    "deleted": N_("The profile was deleted."),
    "confirmed": N_("The person is confirmed."),
    "merged": N_("The profiles were merged into this one."),
    "course": N_("The course was saved."),
    "course_deleted": N_("The course was removed."),
}
#: Fields of the edit forms (status and "do not engage" have forms of their own).
EDIT_FIELDS = tuple(
    f
    for f in profiles.EDITABLE_FIELDS
    if f not in ("status", "do_not_engage", "do_not_engage_reason")
)
NEW_FIELDS = (*EDIT_FIELDS, "rank")
CAREER_FIELDS = ("rank", "position", "effective_date")
TRAINING_FIELDS = ("course_id", "start_date", "end_date", "class_year", "funding_type", "graduated")
COURSE_FIELDS = ("title", "school", "category", "tags")


#: Lines of the engagement timeline per page of the profile.
TIMELINE_PAGE = 50


def _instant(raw: str | None) -> datetime | None:
    """``?before=`` of the timeline's older lines (ISO 8601); anything else: none."""
    try:
        found = datetime.fromisoformat(raw) if raw and len(raw) <= 40 else None
    except ValueError:
        return None
    return found if found is None or found.tzinfo is not None else found.replace(tzinfo=UTC)


def _saved(request: Request) -> str:
    key = request.query_params.get("saved", "")
    return _(SAVED[key]) if key in SAVED else ""


def _labels() -> dict[str, Any]:
    return {
        "services": SERVICES,
        "statuses": STATUSES,
        "categories": CATEGORIES,
        "sources": SOURCES,
    }


def _profile_values(view: profiles.ProfileView, names: tuple[str, ...]) -> dict[str, str]:
    """A form filled with the profile's current values."""
    a = view.alumnus
    values = {}
    for name in names:
        value = a.country_id if name == "country" else getattr(a, name, "")  # type: ignore[attr-defined]
        if isinstance(value, bool):
            value = "on" if value else ""
        values[name] = "" if value is None else str(value)
    return values


async def _read(request: Request, names: tuple[str, ...]) -> tuple[Form, dict[str, Any]]:
    """The form, and the changes to send (checkboxes not ticked read as "no")."""
    form = await read_form(request, *names)
    return form, {name: form.get(name) for name in names}


async def _choices(actor: Actor) -> dict[str, Any]:
    """Options of the profile forms."""
    return {
        "countries": await list_countries(actor=actor),
        "zones": zone_groups(),
        "languages": LANGUAGES,
        **_labels(),
    }


# --- The person's own profile -----------------------------------------------------------


async def _own_page(
    request: Request, forms: dict[str, Form] | None = None, status_code: int = 200
) -> Response:
    actor = await _actor(request)
    view = await profiles.get_own_profile(actor=actor)
    context = {
        "view": view,
        "saved": _saved(request),
        "career_form": Form(),
        **_labels(),
        **(forms or {}),
    }
    return render(request, "alumni/profile.html", context, status_code=status_code)


@page("/profile", access=Access.ALUMNUS, name="profile")
async def own_profile(request: Request) -> Response:
    return await _own_page(request)


async def _own_view(request: Request) -> profiles.ProfileView:
    view = await profiles.get_own_profile(actor=await _actor(request))
    if view is None:
        raise Conflict(_("No alumni profile is linked to your account yet."))
    return view


@page("/profile/edit", access=Access.ALUMNUS, methods=["GET", "POST"], name="profile_edit")
async def own_profile_edit(request: Request) -> Response:
    actor = await _actor(request)
    if request.method == "GET" and await profiles.get_own_profile(actor=actor) is None:
        # Nothing to edit yet: the profile page says why (no profile linked).
        return await _own_page(request)
    view = await _own_view(request)
    names = tuple(f for f in EDIT_FIELDS if f in view.editable)
    context = {"view": view, "fields": names, **(await _choices(actor))}
    if request.method == "GET":
        form = Form(values=_profile_values(view, names))
        return render(request, "alumni/profile_edit.html", {**context, "form": form})
    form, changes = await _read(request, names)
    try:
        await profiles.update_alumnus(
            view.alumnus.id,
            changes,
            actor=actor,
            source=profiles.SOURCE_PROFILE_PAGE,
            ip=client_ip(request),
        )
    except (InvalidInput, Conflict, PermissionDenied) as exc:
        return form_failure(request, "alumni/profile_edit.html", form, exc, context)
    return RedirectResponse("/profile?saved=contact", status_code=303)


@page("/profile/career", access=Access.ALUMNUS, methods=["POST"], name="profile_career")
async def own_career_add(request: Request) -> Response:
    view = await _own_view(request)
    form, data = await _read(request, CAREER_FIELDS)
    try:
        await career.add_career_entry(
            view.alumnus.id, data, actor=await _actor(request), ip=client_ip(request)
        )
    except (InvalidInput, Conflict) as exc:
        form.errors, form.message = exc.fields, exc.message
        return await _own_page(request, {"career_form": form}, exc.status_code)
    return RedirectResponse("/profile?saved=career#career", status_code=303)


@page(
    "/profile/career/{entry_id}/delete",
    access=Access.ALUMNUS,
    methods=["POST"],
    name="profile_career_delete",
)
async def own_career_delete(request: Request) -> Response:
    view = await _own_view(request)
    await career.delete_career_entry(
        view.alumnus.id,
        request.path_params["entry_id"],
        actor=await _actor(request),
        ip=client_ip(request),
    )
    return RedirectResponse("/profile?saved=career_deleted#career", status_code=303)


# --- Profiles for attachés and staff ----------------------------------------------------


@page("/alumni/new", access=Access.STAFF, methods=["GET", "POST"], name="alumnus_new")
async def alumnus_new(request: Request) -> Response:
    actor = await _actor(request)
    context = {"view": None, "fields": NEW_FIELDS, **(await _choices(actor))}
    if request.method == "GET":
        defaults = {"service": "other", "language": "en", "timezone": "UTC"}
        form = Form(values={**defaults, "accepts_invitations": "on", "accepts_newsletter": "on"})
        return render(request, "alumni/edit.html", {**context, "form": form})
    form, data = await _read(request, NEW_FIELDS)
    try:
        person = await profiles.create_alumnus(
            data, actor=actor, ip=client_ip(request), settings=request.app.state.settings
        )
    except (InvalidInput, Conflict) as exc:
        return form_failure(request, "alumni/edit.html", form, exc, context)
    return RedirectResponse(f"/alumni/{person.id}?saved=created", status_code=303)


async def _alumnus_page(
    request: Request,
    view: profiles.ProfileView | None = None,
    forms: dict[str, Form] | None = None,
    status_code: int = 200,
) -> Response:
    actor = await _actor(request)
    if view is None:
        view = await profiles.get_alumnus(request.path_params["id"], actor=actor)
    staff = view.audience is profiles.Audience.STAFF
    before = _instant(request.query_params.get("before"))
    context = {
        "view": view,
        "timeline": await engagement.timeline_lines(
            actor, view.alumnus.id, limit=TIMELINE_PAGE, before=before
        ),
        "timeline_page": TIMELINE_PAGE,
        "timeline_before": before,
        "saved": _saved(request),
        "courses": await training.list_courses(actor=actor) if staff else [],
        "funding_types": request.app.state.settings.programme.funding_types,
        "career_form": Form(),
        "training_form": Form(values={"graduated": "on"}),
        "status_form": Form(values={"status": str(view.alumnus.status)}),
        "flag_form": Form(),
        **_labels(),
        **(forms or {}),
    }
    return render(request, "alumni/alumnus.html", context, status_code=status_code)


@page("/alumni/{id}", access=Access.ATTACHE, name="alumnus")
async def alumnus_detail(request: Request) -> Response:
    return await _alumnus_page(request)


@page("/alumni/{id}/edit", access=Access.ATTACHE, methods=["GET", "POST"], name="alumnus_edit")
async def alumnus_edit(request: Request) -> Response:
    actor = await _actor(request)
    view = await profiles.get_alumnus(request.path_params["id"], actor=actor)
    names = tuple(f for f in EDIT_FIELDS if f in view.editable)
    context = {"view": view, "fields": names, **(await _choices(actor))}
    if request.method == "GET":
        form = Form(values=_profile_values(view, names))
        return render(request, "alumni/edit.html", {**context, "form": form})
    form, changes = await _read(request, names)
    try:
        await profiles.update_alumnus(view.alumnus.id, changes, actor=actor, ip=client_ip(request))
    except (InvalidInput, Conflict, PermissionDenied) as exc:
        return form_failure(request, "alumni/edit.html", form, exc, context)
    return RedirectResponse(f"/alumni/{view.alumnus.id}?saved=contact", status_code=303)


async def _alumnus_form(
    request: Request, names: tuple[str, ...]
) -> tuple[Actor, Form, dict[str, Any]]:
    form, data = await _read(request, names)
    return await _actor(request), form, data


def _back(request: Request, saved: str, anchor: str = "") -> Response:
    target = f"/alumni/{request.path_params['id']}?saved={saved}"
    return RedirectResponse(target + (f"#{anchor}" if anchor else ""), status_code=303)


@page("/alumni/{id}/career", access=Access.ATTACHE, methods=["POST"], name="alumnus_career")
async def alumnus_career_add(request: Request) -> Response:
    actor, form, data = await _alumnus_form(request, CAREER_FIELDS)
    try:
        await career.add_career_entry(
            request.path_params["id"], data, actor=actor, ip=client_ip(request)
        )
    except (InvalidInput, Conflict) as exc:
        form.errors, form.message = exc.fields, exc.message
        return await _alumnus_page(
            request, forms={"career_form": form}, status_code=exc.status_code
        )
    return _back(request, "career", "career")


@page(
    "/alumni/{id}/career/{entry_id}/verify",
    access=Access.ATTACHE,
    methods=["POST"],
    name="alumnus_career_verify",
)
async def alumnus_career_verify(request: Request) -> Response:
    await career.verify_career_entry(
        request.path_params["id"],
        request.path_params["entry_id"],
        actor=await _actor(request),
        ip=client_ip(request),
    )
    return _back(request, "verified", "career")


@page(
    "/alumni/{id}/career/{entry_id}/delete",
    access=Access.STAFF,
    methods=["POST"],
    name="alumnus_career_delete",
)
async def alumnus_career_delete(request: Request) -> Response:
    await career.delete_career_entry(
        request.path_params["id"],
        request.path_params["entry_id"],
        actor=await _actor(request),
        ip=client_ip(request),
    )
    return _back(request, "career_deleted", "career")


@page("/alumni/{id}/training", access=Access.STAFF, methods=["POST"], name="alumnus_training")
async def alumnus_training_add(request: Request) -> Response:
    actor, form, data = await _alumnus_form(request, TRAINING_FIELDS)
    try:
        await training.add_training(
            request.path_params["id"],
            data,
            actor=actor,
            funding_types=request.app.state.settings.programme.funding_types,
            ip=client_ip(request),
        )
    except (InvalidInput, Conflict) as exc:
        form.errors, form.message = exc.fields, exc.message
        return await _alumnus_page(
            request, forms={"training_form": form}, status_code=exc.status_code
        )
    return _back(request, "training", "training")


@page(
    "/alumni/{id}/training/{record_id}/delete",
    access=Access.STAFF,
    methods=["POST"],
    name="alumnus_training_delete",
)
async def alumnus_training_delete(request: Request) -> Response:
    await training.delete_training(
        request.path_params["id"],
        request.path_params["record_id"],
        actor=await _actor(request),
        ip=client_ip(request),
    )
    return _back(request, "training_deleted", "training")


@page("/alumni/{id}/status", access=Access.STAFF, methods=["POST"], name="alumnus_status")
async def alumnus_status(request: Request) -> Response:
    actor, form, data = await _alumnus_form(request, ("status",))
    try:
        await profiles.set_status(
            request.path_params["id"], data["status"], actor=actor, ip=client_ip(request)
        )
    except InvalidInput as exc:
        form.errors, form.message = exc.fields, exc.message
        return await _alumnus_page(
            request, forms={"status_form": form}, status_code=exc.status_code
        )
    return _back(request, "status", "status")


@page(
    "/alumni/{id}/do-not-engage",
    access=Access.STAFF,
    methods=["POST"],
    name="alumnus_do_not_engage",
)
async def alumnus_do_not_engage(request: Request) -> Response:
    actor, form, data = await _alumnus_form(request, ("flag", "reason"))
    flag = data["flag"] == "set"
    try:
        await profiles.set_do_not_engage(
            request.path_params["id"], flag, data["reason"], actor=actor, ip=client_ip(request)
        )
    except InvalidInput as exc:
        form.errors = {"reason": next(iter(exc.fields.values()), exc.message)}
        form.message = exc.message
        return await _alumnus_page(request, forms={"flag_form": form}, status_code=exc.status_code)
    return _back(request, "do_not_engage" if flag else "do_not_engage_lifted", "do-not-engage")


@page("/alumni/{id}/delete", access=Access.STAFF, methods=["GET", "POST"], name="alumnus_delete")
async def alumnus_delete(request: Request) -> Response:
    actor = await _actor(request)
    view = await profiles.get_alumnus(request.path_params["id"], actor=actor)
    if request.method == "GET":
        return render(request, "alumni/delete.html", {"view": view, "form": Form()})
    try:
        await profiles.delete_alumnus(view.alumnus.id, actor=actor, ip=client_ip(request))
    except Conflict as exc:
        return form_failure(request, "alumni/delete.html", Form(), exc, {"view": view})
    return RedirectResponse("/alumni?saved=deleted", status_code=303)


# --- Course catalogue -------------------------------------------------------------------


async def _courses_page(request: Request, form: Form | None = None, status: int = 200) -> Response:
    courses = await training.list_courses(actor=await _actor(request))
    context = {
        "courses": courses,
        "form": form or Form(values={"category": "other"}),
        "saved": _saved(request),
        "categories": CATEGORIES,
    }
    return render(request, "alumni/courses.html", context, status_code=status)


@page("/admin/courses", access=Access.STAFF, methods=["GET", "POST"], name="courses")
async def courses(request: Request) -> Response:
    if request.method == "GET":
        return await _courses_page(request)
    form, data = await _read(request, COURSE_FIELDS)
    try:
        await training.create_course(data, actor=await _actor(request), ip=client_ip(request))
    except (InvalidInput, Conflict) as exc:
        form.errors, form.message = exc.fields, exc.message
        return await _courses_page(request, form, exc.status_code)
    return RedirectResponse("/admin/courses?saved=course", status_code=303)


@page("/admin/courses/{id}", access=Access.STAFF, methods=["GET", "POST"], name="course")
async def course_edit(request: Request) -> Response:
    actor = await _actor(request)
    course = await training.get_course(request.path_params["id"], actor=actor)
    context = {"course": course, "categories": CATEGORIES}
    if request.method == "GET":
        values = {
            "title": course.title,
            "school": course.school,
            "category": str(course.category),
            "tags": ", ".join(course.tags or []),
        }
        return render(request, "alumni/course.html", {**context, "form": Form(values=values)})
    form, data = await _read(request, COURSE_FIELDS)
    try:
        await training.update_course(course.id, data, actor=actor, ip=client_ip(request))
    except (InvalidInput, Conflict) as exc:
        return form_failure(request, "alumni/course.html", form, exc, context)
    return RedirectResponse("/admin/courses?saved=course", status_code=303)


@page("/admin/courses/{id}/delete", access=Access.STAFF, methods=["POST"], name="course_delete")
async def course_delete(request: Request) -> Response:
    actor = await _actor(request)
    try:
        await training.delete_course(request.path_params["id"], actor=actor, ip=client_ip(request))
    except Conflict as exc:
        return await _courses_page(request, Form(message=exc.message), exc.status_code)
    return RedirectResponse("/admin/courses?saved=course_deleted", status_code=303)
