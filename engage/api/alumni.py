"""``/api/v1/alumni`` and ``/api/v1/courses``: profiles, training, careers, the catalogue.

::

    GET    /api/v1/alumni                           the directory: attachés (their countries),
                                                    staff; the audience filter's fields as
                                                    query parameters (or ``segment``),
                                                    ``page``, ``page_size``, ``sort`` ->
                                                    {"items", "total", "page", "page_size",
                                                    "pages"}
    GET    /api/v1/alumni/{id}                      the person (own, ``me``), attachés
                                                    (their countries), staff
    PATCH  /api/v1/alumni/{id}                      only the fields sent change; who may
                                                    change which: engage.alumni.profiles
    DELETE /api/v1/alumni/{id}                      staff; 409 when the profile has history
    POST   /api/v1/alumni                           staff -> 201
    POST   /api/v1/alumni/{id}/training             staff -> 201
    DELETE /api/v1/alumni/{id}/training/{record}    staff
    POST   /api/v1/alumni/{id}/career               the person (self-reported), attachés
                                                    and staff (verified) -> 201
    DELETE /api/v1/alumni/{id}/career/{entry}       staff; the person their unverified ones
    GET    /api/v1/courses                          attachés, staff
    POST   /api/v1/courses                          staff -> 201
    PATCH  /api/v1/courses/{id}, DELETE ...         staff

A profile out of the caller's reach answers 404. Fields the caller may not see
(staff notes; the reason and date of "do not engage"; for the person, the flag
itself) are ``null``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel
from starlette.requests import Request

from engage.alumni import career, profiles, segments, training
from engage.alumni.audience import AudienceFilter, parse_filter
from engage.alumni.directory import (
    MAX_PAGE,
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    directory_views,
    search_directory,
)
from engage.alumni.models import AlumnusStatus, CareerSource, Course, CourseCategory, Service
from engage.api.endpoint import endpoint
from engage.errors import InvalidInput, NotFound
from engage.i18n import _
from engage.web.identity import client_ip
from engage.web.identity import current_actor as _actor
from engage.web.routing import Access

# --- Models -----------------------------------------------------------------------------


class CourseOut(BaseModel):
    id: int
    title: str = Field(examples=["Command and General Staff Officer Course"])
    school: str = Field(examples=["Command and General Staff College"])
    category: CourseCategory
    tags: list[str] = Field(description="Equipment or weapons systems taught.")

    @classmethod
    def of(cls, course: Course) -> CourseOut:
        return cls(
            id=course.id,
            title=course.title,
            school=course.school,
            category=CourseCategory(course.category),
            tags=list(course.tags or []),
        )


class CourseList(RootModel[list[CourseOut]]):
    """The catalogue, by title."""


class CourseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str
    school: str
    category: CourseCategory = CourseCategory.OTHER
    tags: list[str] = Field(default_factory=list, examples=[["C-130", "Patriot"]])


class CourseChanges(BaseModel):
    """Only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = None
    school: str | None = None
    category: CourseCategory | None = None
    tags: list[str] | None = None


class TrainingOut(BaseModel):
    id: int
    course: CourseOut
    start_date: date | None
    end_date: date | None
    class_year: int | None
    funding_type: str = Field(description="One of the funding types in GET /api/v1/meta.")
    graduated: bool


class TrainingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    course_id: int = Field(description="A course of GET /api/v1/courses.")
    start_date: date | None = None
    end_date: date | None = None
    class_year: int | None = Field(default=None, description="Defaults to the end date's year.")
    funding_type: str = Field(description="One of the funding types in GET /api/v1/meta.")
    graduated: bool = True


class CareerOut(BaseModel):
    id: int
    rank: str = Field(examples=["Colonel"])
    grade: str = Field(description='NATO grade ("OF-5"); empty while the rank waits for staff.')
    position: str
    effective_date: date
    source: CareerSource
    created_at: datetime


class CareerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rank: str = Field(examples=["Colonel"])
    effective_date: date = Field(description="When the rank or position took effect; not later.")
    position: str = ""


class AlumnusOut(BaseModel):
    id: int
    given_name: str = Field(description="As the person writes it, in any script.")
    family_name: str
    given_name_latin: str = Field(description="Latin transliteration (passport spelling).")
    family_name_latin: str
    preferred_name: str
    email: str | None
    secondary_email: str | None
    secondary_email_verified: bool
    phone: str
    country: str = Field(description="ISO 3166-1 alpha-2.", examples=["KE"])
    service: Service
    rank: str = Field(description="From the latest career entry.")
    grade: str = Field(description="NATO grade of the latest career entry; empty when unmapped.")
    grade_level: int | None = Field(description="OR-1..OR-9 = 1..9, WO = 10, OF-n = 10 + n.")
    position: str
    unit: str
    language: str
    timezone: str
    status: AlumnusStatus
    vetting: str = Field(description="pending (self-registered, not yet confirmed) or confirmed.")
    confirmed_at: datetime | None
    programme_id: str | None
    declared_class_year: int | None = Field(
        description="Class year the person gave when registering (not roster fact)."
    )
    declared_programme_id: str | None = Field(
        description="Programme ID the person gave when registering (not roster fact)."
    )
    accepts_invitations: bool
    invitations_consent_at: datetime | None
    invitations_consent_source: str
    accepts_newsletter: bool
    newsletter_consent_at: datetime | None
    newsletter_consent_source: str
    staff_notes: str | None = Field(description="Staff only; null for others.")
    do_not_engage: bool | None = Field(
        description="Left out of all bulk mail. Staff and attachés; null for the person."
    )
    do_not_engage_reason: str | None = Field(description="Staff only.")
    do_not_engage_at: datetime | None = Field(description="Staff only.")
    claimed: bool = Field(description="An account claimed this profile.")
    contact_edited_at: datetime | None = Field(
        description="When the person last edited their contact details (imports keep them)."
    )
    last_contacted_at: datetime | None = Field(
        description="The last invitation or newsletter delivered to the person, or their "
        "last attendance (null: never contacted)."
    )
    last_engaged_at: datetime | None = Field(
        description="The person's last answer, attendance, or update of their own profile "
        "or career (null: never)."
    )
    merged_into: int | None
    erased: bool
    created_at: datetime
    updated_at: datetime
    training: list[TrainingOut]
    career: list[CareerOut] = Field(description="Newest first.")


class AlumniQuery(AudienceFilter):
    """The directory: the audience filter's fields, and which page in which order."""

    segment: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="A saved segment (GET /api/v1/segments): its filter, instead of the "
        "filter parameters.",
    )
    page: int = Field(default=1, ge=1, le=MAX_PAGE)
    page_size: int = Field(default=PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    sort: Literal[
        "name", "-name", "country", "-country", "grade", "-grade", "updated", "-updated"
    ] = Field(
        default="name",
        description="name (family, given), country (its name), grade (unknown lowest), "
        "updated; a leading - reverses.",
    )


class AlumniPage(BaseModel):
    items: list[AlumnusOut]
    total: int = Field(description="Everyone the filter selects, not only this page.")
    page: int
    page_size: int
    pages: int


class AlumnusIn(BaseModel):
    """A new profile (confirmed). ``rank`` records the first career entry, dated today.

    ``accepts_invitations`` and ``accepts_newsletter`` default to true.
    """

    model_config = ConfigDict(extra="forbid")

    given_name: str
    family_name: str
    country: str = Field(description="ISO 3166-1 alpha-2.", examples=["KE"])
    given_name_latin: str | None = None
    family_name_latin: str | None = None
    preferred_name: str | None = None
    email: str | None = None
    secondary_email: str | None = None
    phone: str | None = None
    service: Service | None = None
    rank: str | None = None
    position: str | None = None
    unit: str | None = None
    language: str | None = Field(default=None, examples=["en"])
    timezone: str | None = Field(default=None, examples=["Africa/Nairobi"])
    status: AlumnusStatus | None = None
    programme_id: str | None = None
    accepts_invitations: bool | None = None
    accepts_newsletter: bool | None = None
    staff_notes: str | None = None
    do_not_engage: bool | None = None
    do_not_engage_reason: str | None = None


class AlumnusChanges(BaseModel):
    """Only the fields sent change. The person changes contact details and consents;
    attachés contact details; staff everything (they only withdraw consents)."""

    model_config = ConfigDict(extra="forbid")

    given_name: str | None = None
    family_name: str | None = None
    given_name_latin: str | None = None
    family_name_latin: str | None = None
    preferred_name: str | None = None
    email: str | None = None
    secondary_email: str | None = None
    phone: str | None = None
    country: str | None = None
    service: Service | None = None
    position: str | None = None
    unit: str | None = None
    language: str | None = None
    timezone: str | None = None
    status: AlumnusStatus | None = None
    programme_id: str | None = None
    accepts_invitations: bool | None = None
    accepts_newsletter: bool | None = None
    staff_notes: str | None = None
    do_not_engage: bool | None = None
    do_not_engage_reason: str | None = Field(
        default=None, description="Required to set do_not_engage; kept in the audit log."
    )


# --- Endpoints --------------------------------------------------------------------------


def _out(view: profiles.ProfileView) -> AlumnusOut:
    return AlumnusOut.model_validate(profiles.profile_data(view))


@endpoint(
    "GET",
    "/alumni",
    response=AlumniPage,
    query=AlumniQuery,
    tag="alumni",
    access=Access.ATTACHE,
    errors=(404,),
)
async def list_alumni(request: Request, query: AlumniQuery) -> AlumniPage:
    """The directory: people the filter selects in your scope, a page at a time."""
    actor = await _actor(request)
    # Parsed again for what a mapping cannot hold: a repeated ``country`` parameter.
    flt = parse_filter(request.query_params)
    if query.segment is not None:
        if flt.active:
            raise InvalidInput(
                _("Give a segment or filters, not both."),
                fields={"segment": _("Give a segment or filters, not both.")},
            )
        flt = segments.segment_filter(await segments.get_segment(query.segment, actor=actor))
    listing = await search_directory(
        flt, actor=actor, page=query.page, page_size=query.page_size, sort=query.sort
    )
    views = await directory_views(listing, actor=actor)
    return AlumniPage(
        items=[_out(view) for view in views],
        total=listing.total,
        page=listing.page,
        page_size=listing.page_size,
        pages=listing.pages,
    )


@endpoint(
    "GET", "/alumni/{id}", response=AlumnusOut, tag="alumni", access=Access.TOKEN, errors=(404,)
)
async def get_alumnus(request: Request) -> AlumnusOut:
    """One alumni profile, with training and career (``me``: your own)."""
    actor = await _actor(request)
    if request.path_params["id"] == "me":
        view = await profiles.get_own_profile(actor=actor)
        if view is None:
            raise NotFound(_("No alumni profile is linked to your account."))
        return _out(view)
    return _out(await profiles.get_alumnus(request.path_params["id"], actor=actor))


@endpoint(
    "PATCH",
    "/alumni/{id}",
    response=AlumnusOut,
    body=AlumnusChanges,
    tag="alumni",
    access=Access.TOKEN,
    errors=(409,),
)
async def update_alumnus(request: Request, body: AlumnusChanges) -> AlumnusOut:
    """Change some fields of a profile."""
    view = await profiles.update_alumnus(
        request.path_params["id"],
        body.model_dump(exclude_unset=True),
        actor=await _actor(request),
        source=profiles.SOURCE_API,
        ip=client_ip(request),
    )
    return _out(view)


@endpoint("DELETE", "/alumni/{id}", response=None, tag="alumni", access=Access.STAFF, errors=(409,))
async def delete_alumnus(request: Request) -> None:
    """Delete a profile entered by mistake (one with history is erased instead)."""
    await profiles.delete_alumnus(
        request.path_params["id"], actor=await _actor(request), ip=client_ip(request)
    )


@endpoint(
    "POST",
    "/alumni",
    response=AlumnusOut,
    body=AlumnusIn,
    status=201,
    tag="alumni",
    access=Access.STAFF,
    errors=(409,),
)
async def create_alumnus(request: Request, body: AlumnusIn) -> AlumnusOut:
    """Create an alumni profile."""
    actor = await _actor(request)
    data = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    person = await profiles.create_alumnus(
        data, actor=actor, ip=client_ip(request), settings=request.app.state.settings
    )
    return _out(await profiles.get_alumnus(person.id, actor=actor))


@endpoint(
    "POST",
    "/alumni/{id}/training",
    response=TrainingOut,
    body=TrainingIn,
    status=201,
    tag="alumni",
    access=Access.STAFF,
    errors=(409,),
)
async def add_training(request: Request, body: TrainingIn) -> TrainingOut:
    """Record a course the person took."""
    record = await training.add_training(
        request.path_params["id"],
        body.model_dump(exclude_unset=True),
        actor=await _actor(request),
        funding_types=request.app.state.settings.programme.funding_types,
        ip=client_ip(request),
    )
    return TrainingOut.model_validate(profiles.training_data(record))


@endpoint(
    "DELETE",
    "/alumni/{id}/training/{record_id}",
    response=None,
    tag="alumni",
    access=Access.STAFF,
)
async def delete_training(request: Request) -> None:
    """Remove a training record entered by mistake."""
    await training.delete_training(
        request.path_params["id"],
        request.path_params["record_id"],
        actor=await _actor(request),
        ip=client_ip(request),
    )


@endpoint(
    "POST",
    "/alumni/{id}/career",
    response=CareerOut,
    body=CareerIn,
    status=201,
    tag="alumni",
    access=Access.TOKEN,
    errors=(409,),
)
async def add_career_entry(request: Request, body: CareerIn) -> CareerOut:
    """Add a career entry (the person's own are self-reported until verified)."""
    entry = await career.add_career_entry(
        request.path_params["id"],
        body.model_dump(),
        actor=await _actor(request),
        ip=client_ip(request),
    )
    return CareerOut.model_validate(profiles.career_data(entry))


@endpoint(
    "DELETE",
    "/alumni/{id}/career/{entry_id}",
    response=None,
    tag="alumni",
    access=Access.TOKEN,
)
async def delete_career_entry(request: Request) -> None:
    """Remove a career entry (staff; the person their own unverified ones)."""
    await career.delete_career_entry(
        request.path_params["id"],
        request.path_params["entry_id"],
        actor=await _actor(request),
        ip=client_ip(request),
    )


@endpoint("GET", "/courses", response=CourseList, tag="alumni", access=Access.ATTACHE)
async def list_courses(request: Request) -> CourseList:
    """The course catalogue."""
    courses = await training.list_courses(actor=await _actor(request))
    return CourseList([CourseOut.of(c) for c in courses])


@endpoint(
    "POST",
    "/courses",
    response=CourseOut,
    body=CourseIn,
    status=201,
    tag="alumni",
    access=Access.STAFF,
    errors=(409,),
)
async def create_course(request: Request, body: CourseIn) -> CourseOut:
    """Add a course to the catalogue."""
    course = await training.create_course(
        body.model_dump(), actor=await _actor(request), ip=client_ip(request)
    )
    return CourseOut.of(course)


@endpoint(
    "PATCH",
    "/courses/{id}",
    response=CourseOut,
    body=CourseChanges,
    tag="alumni",
    access=Access.STAFF,
    errors=(409,),
)
async def update_course(request: Request, body: CourseChanges) -> CourseOut:
    """Change some fields of a course."""
    course = await training.update_course(
        request.path_params["id"],
        body.model_dump(exclude_unset=True),
        actor=await _actor(request),
        ip=client_ip(request),
    )
    return CourseOut.of(course)


@endpoint(
    "DELETE", "/courses/{id}", response=None, tag="alumni", access=Access.STAFF, errors=(409,)
)
async def delete_course(request: Request) -> None:
    """Remove a course nobody trained on."""
    await training.delete_course(
        request.path_params["id"], actor=await _actor(request), ip=client_ip(request)
    )
