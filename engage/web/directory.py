"""The directory of alumni for attachés and staff, its CSV export, and saved segments.

::

    /alumni                  search, filter (a GET form: the URL is the view, bookmark it),
                             sort by column, pages of 50; ?segment=ID opens a segment
    /alumni/export.csv       the same view as a CSV file (streamed; audit-logged)
    /segments                the segments the caller may use; POST saves a filter as one
    /segments/new            name a new segment for the filter in the query string
    /segments/{id}           rename a segment; /segments/{id}/delete (POST) deletes it

Who sees whom is decided by ``engage.alumni.audience`` (attachés: the countries of
their embassies; an embassy that is not theirs, or a segment of another embassy,
answers 404).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from engage.accounts.actor import Actor
from engage.alumni import segments
from engage.alumni.audience import FILTER_FIELDS, AudienceFilter, parse_filter
from engage.alumni.directory import (
    PAGE_SIZE,
    SORTS,
    DirectoryChoices,
    DirectoryPage,
    directory_choices,
    search_directory,
)
from engage.alumni.export import export_alumni
from engage.alumni.grades import GRADES
from engage.alumni.models import Segment, Vetting
from engage.alumni.profiles import display_name
from engage.errors import Conflict, InvalidInput
from engage.i18n import N_, _
from engage.web.alumni import CATEGORIES, SERVICES, STATUSES
from engage.web.failures import form_failure
from engage.web.forms import Form, read_form
from engage.web.identity import client_ip
from engage.web.identity import current_actor as _actor
from engage.web.routing import Access, form_data, page
from engage.web.templating import render

#: Sortable columns: (sort key, heading).
COLUMNS = (
    ("name", N_("Name")),
    ("country", N_("Country")),
    ("grade", N_("Rank and grade")),
    ("updated", N_("Updated")),
)
VETTING = {Vetting.PENDING: N_("Pending"), Vetting.CONFIRMED: N_("Confirmed")}
LABELS = {
    "q": N_("Name"),
    "country": N_("Country"),
    "region": N_("Region"),
    "embassy": N_("Embassy"),
    "service": N_("Service"),
    "status": N_("Status"),
    "grade_min": N_("Lowest grade"),
    "grade_max": N_("Highest grade"),
    "course": N_("Course"),
    "course_category": N_("Course category"),
    "school": N_("School"),
    "class_year_min": N_("Class year from"),
    "class_year_max": N_("Class year to"),
    "tag": N_("Equipment"),
    "language": N_("Language"),
    "vetting": N_("Identity"),
    "has_account": N_("Has an account"),
    "accepts_invitations": N_("Accepts invitations"),
    "accepts_newsletter": N_("Accepts the newsletter"),
    "contacted_within_months": N_("Contacted within (months)"),
    "not_contacted_months": N_("Not contacted for (months)"),
    "never_contacted": N_("Never contacted"),
    "not_engaged_months": N_("Not engaged for (months)"),
    "has_working_email": N_("Has a working email"),
}
#: What ``?saved=`` may say on the directory, and on the segments page.
SAVED = {
    "segment": N_("The segment was saved."),
    "deleted": N_("The profile was deleted."),
}
SEGMENTS_SAVED = {
    "renamed": N_("The segment was renamed."),
    "deleted": N_("The segment was deleted."),
}


def _saved(request: Request, messages: dict[str, str] = SAVED) -> str:
    key = request.query_params.get("saved", "")
    return _(messages[key]) if key in messages else ""


def _number(raw: str | None, default: int) -> int:
    return int(raw) if raw and raw.isascii() and raw.isdigit() and len(raw) < 7 else default


def filter_values(params: QueryParams | Any) -> dict[str, Any]:
    """What the filter form shows: as typed (countries as a list)."""
    values: dict[str, Any] = {}
    for name in FILTER_FIELDS:
        if name == "country":
            values[name] = [str(v).strip().upper() for v in params.getlist(name)]
        else:
            values[name] = str(params.get(name, "") or "").strip()
    return values


def _filter_values(flt: AudienceFilter) -> dict[str, Any]:
    """The form's values for a filter (a segment's)."""
    return filter_values(QueryParams(flt.query_items()))


def describe(flt: AudienceFilter, choices: DirectoryChoices) -> list[tuple[str, str]]:
    """The filter in words: (label, value) for each criterion set."""
    countries = {c.code: c.name for c in choices.countries}
    courses = {c.id: f"{c.title} ({c.school})" for c in choices.courses}
    found: list[tuple[str, str]] = []
    for name, value in flt.to_json().items():
        if name == "country":
            text = ", ".join(countries.get(code, code) for code in value)
        elif name == "course":
            text = courses.get(value, f"#{value}")
        elif name == "service":
            text = _(SERVICES[value])
        elif name == "status":
            text = _(STATUSES[value])
        elif name == "course_category":
            text = _(CATEGORIES[value])
        elif name == "vetting":
            text = _(VETTING[value])
        elif isinstance(value, bool):
            text = _("yes") if value else _("no")
        else:
            text = str(value)
        found.append((_(LABELS[name]), text))
    return found


def _link(items: list[tuple[str, str]], **extra: object) -> str:
    pairs = [*items, *((k, str(v)) for k, v in extra.items() if v not in (None, ""))]
    return "?" + urlencode(pairs) if pairs else "?"


def _labels() -> dict[str, Any]:
    return {"services": SERVICES, "statuses": STATUSES}


def filter_options(choices: DirectoryChoices) -> dict[str, list[tuple[str, str]]]:
    """(value, label) pairs of each select of the filter form."""

    def labelled(labels: dict[Any, str]) -> list[tuple[str, str]]:
        return [(str(value), _(label)) for value, label in labels.items()]

    return {
        "embassy": [(e.code, f"{e.code} · {e.name}") for e in choices.embassies],
        "service": labelled(SERVICES),
        "status": labelled(STATUSES),
        "grade": [(g, g) for g in GRADES],
        "course": [(str(c.id), f"{c.title} ({c.school})") for c in choices.courses],
        "category": labelled(CATEGORIES),
        "school": [(s, s) for s in choices.schools],
        "tag": [(t, t) for t in choices.tags],
        "vetting": labelled(VETTING),
    }


# --- The directory ----------------------------------------------------------------------


async def _view(request: Request, actor: Actor) -> tuple[AudienceFilter, Segment | None]:
    """The filter the request asks for: a segment's, or the query string's."""
    raw = request.query_params.get("segment")
    if raw:
        segment = await segments.get_segment(raw, actor=actor)
        return segments.segment_filter(segment), segment
    return parse_filter(request.query_params), None


@page("/alumni", access=Access.ATTACHE, name="alumni")
async def directory(request: Request) -> Response:
    actor = await _actor(request)
    params = request.query_params
    sort = params.get("sort", "name")
    sort = sort if sort in SORTS else "name"
    number = _number(params.get("page"), 1)
    form = Form()
    status = 200
    segment: Segment | None = None
    try:
        flt, segment = await _view(request, actor)
        listing = await search_directory(
            flt, actor=actor, page=number, page_size=PAGE_SIZE, sort=sort
        )
    except InvalidInput as exc:
        # Show what was typed and what is wrong, with no rows rather than wrong ones.
        form.errors, form.message, status = exc.fields, exc.message, exc.status_code
        flt = AudienceFilter()
        listing = DirectoryPage(
            items=[], total=0, page=1, page_size=PAGE_SIZE, sort=sort, filter=flt
        )
    form.values = _filter_values(flt) if segment is not None else filter_values(params)
    choices = await directory_choices(actor=actor)
    base = [("segment", str(segment.id))] if segment is not None else flt.query_items()
    context = {
        "form": form,
        "listing": listing,
        "choices": choices,
        "segment": segment,
        "criteria": describe(flt, choices),
        "filter_items": flt.query_items(),
        "base": base,
        "link": _link,
        "columns": COLUMNS,
        "display_name": display_name,
        "saved": _saved(request),
        "save_form": Form(),
        "more_open": any(form.values.get(n) for n in FILTER_FIELDS if n != "q") or form.errors,
        "options": filter_options(choices),
        **_labels(),
    }
    return render(request, "directory/index.html", context, status_code=status)


@page("/alumni/export.csv", access=Access.ATTACHE, name="alumni_export")
async def directory_export(request: Request) -> Response:
    actor = await _actor(request)
    flt, segment = await _view(request, actor)
    export = await export_alumni(
        flt,
        actor=actor,
        ip=client_ip(request),
        segment_id=segment.id if segment is not None else None,
    )
    return StreamingResponse(
        export.chunks(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )


# --- Segments ---------------------------------------------------------------------------


@page("/segments", access=Access.ATTACHE, methods=["GET", "POST"], name="segments")
async def segment_list(request: Request) -> Response:
    actor = await _actor(request)
    if request.method == "POST":
        return await _create(request, actor)
    found = await segments.list_segments(actor=actor)
    choices = await directory_choices(actor=actor)
    rows = []
    for segment in found:
        try:
            criteria = describe(segments.segment_filter(segment), choices)
        except InvalidInput:  # saved under older rules: still listed, to rename or delete
            criteria = []
        rows.append((segment, criteria))
    context = {"rows": rows, "saved": _saved(request, SEGMENTS_SAVED)}
    return render(request, "directory/segments.html", context)


async def _new_context(actor: Actor, flt: AudienceFilter) -> dict[str, Any]:
    choices = await directory_choices(actor=actor)
    return {
        "criteria": describe(flt, choices),
        "filter_items": flt.query_items(),
        "embassies": [] if actor.country_codes is None or flt.embassy else choices.embassies,
    }


@page("/segments/new", access=Access.ATTACHE, name="segment_new")
async def segment_new(request: Request) -> Response:
    actor = await _actor(request)
    flt = parse_filter(request.query_params)
    context = await _new_context(actor, flt)
    return render(request, "directory/segment_new.html", {**context, "form": Form()})


async def _create(request: Request, actor: Actor) -> Response:
    form = await read_form(request, "name", "embassy")
    data = await form_data(request)
    try:
        flt = parse_filter(data)
    except InvalidInput as exc:
        # The hidden filter fields came back wrong: start from the directory again.
        raise InvalidInput(_("This filter cannot be saved: %(why)s", why=exc.message)) from None
    context = await _new_context(actor, flt)
    try:
        segment = await segments.create_segment(
            form.get("name"), flt, actor=actor, embassy=form.get("embassy"), ip=client_ip(request)
        )
    except (InvalidInput, Conflict) as exc:
        return form_failure(request, "directory/segment_new.html", form, exc, context)
    return RedirectResponse(f"/alumni?segment={segment.id}&saved=segment", status_code=303)


@page("/segments/{id}", access=Access.ATTACHE, methods=["GET", "POST"], name="segment")
async def segment_edit(request: Request) -> Response:
    actor = await _actor(request)
    segment = await segments.get_segment(request.path_params["id"], actor=actor)
    choices = await directory_choices(actor=actor)
    try:
        criteria = describe(segments.segment_filter(segment), choices)
    except InvalidInput:
        criteria = []
    context = {"segment": segment, "criteria": criteria}
    if request.method == "GET":
        form = Form(values={"name": segment.name})
        return render(request, "directory/segment.html", {**context, "form": form})
    form = await read_form(request, "name")
    try:
        await segments.update_segment(
            segment.id, name=form.get("name"), actor=actor, ip=client_ip(request)
        )
    except (InvalidInput, Conflict) as exc:
        return form_failure(request, "directory/segment.html", form, exc, context)
    return RedirectResponse("/segments?saved=renamed", status_code=303)


@page("/segments/{id}/delete", access=Access.ATTACHE, methods=["POST"], name="segment_delete")
async def segment_delete(request: Request) -> Response:
    actor = await _actor(request)
    await segments.delete_segment(request.path_params["id"], actor=actor, ip=client_ip(request))
    return RedirectResponse("/segments?saved=deleted", status_code=303)
