"""Insights pages for attachés and staff: five reports, each with the filter form (a
date range and the scope), a chart with the table beside it, and CSV export.

::

    /insights                               the reports, in words
    /insights/coverage(.csv)                contact coverage; ?by=country|region|...
    /insights/lapsed(.csv)                  lapsed and lost; ?months=18&list=...&page=
    /insights/lapsed/work-list.csv          one list as the attaché's work list
    /insights/lapsed/segment                POST: one list saved as a segment
    /insights/funnel(.csv)                  the event funnel; ?view=event|embassy|month
    /insights/careers(.csv)                 career outcomes; ?by=country|...|course
    /insights/careers/recent.csv            recently promoted, not engaged
    /insights/capabilities(.csv)            capability lookup; ?tag=C-130&by=...
    /insights/capabilities/people.csv       the people trained on the tag

Every page is a GET form: the URL is the view (bookmark it, share it). The figures
come from ``engage.insights`` (scope built in: an attaché sees their countries and
their embassies' events); charts are SVG drawn on the server
(``templates/insights/_chart.html``), named and described for assistive technology,
and the table beside each holds every figure.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from engage.accounts.actor import Actor
from engage.alumni.directory import directory_choices
from engage.alumni.models import CourseCategory
from engage.alumni.profiles import display_name
from engage.clock import utcnow
from engage.errors import Conflict, InvalidInput
from engage.i18n import N_, _
from engage.insights import capabilities, careers, coverage, funnel, lapsed
from engage.insights.export import table_csv
from engage.insights.filters import FIELDS, ReportFilter, parse_report_filter
from engage.insights.groups import DIMENSION_LABELS, PLACE_DIMENSIONS
from engage.web.forms import Form, read_form
from engage.web.identity import client_ip
from engage.web.identity import current_actor as _actor
from engage.web.insights_views import (
    EMAIL_STATUS,
    FUNNEL_VIEWS,
    STAGES,
    capabilities_view,
    careers_view,
    coverage_columns,
    coverage_view,
    csv_header,
    csv_row,
    funnel_columns,
    funnel_view,
    lapsed_columns,
    lapsed_view,
    percent,
)
from engage.web.routing import Access, form_data, page
from engage.web.templating import render

#: The reports: (route name, title, what it answers).
REPORTS = (
    (
        "insights_coverage",
        N_("Contact coverage"),
        N_("Who was contacted in the last 3, 6, 12 and 24 months, and who never was."),
    ),
    (
        "insights_lapsed",
        N_("Lapsed and lost"),
        N_("Never contacted, not engaged for months, no working email: as work lists."),
    ),
    (
        "insights_funnel",
        N_("Event funnel"),
        N_("Invited, answered, yes, attended: per event, per embassy and by month."),
    ),
    (
        "insights_careers",
        N_("Career outcomes"),
        N_("Who reached colonel and general equivalents, and how long after training."),
    ),
    (
        "insights_capabilities",
        N_("Capability lookup"),
        N_("Who was trained on a given equipment or weapons system, by country."),
    ),
)
CATEGORIES = {
    CourseCategory.PME: N_("Professional military education"),
    CourseCategory.TECHNICAL: N_("Technical"),
    CourseCategory.ENGLISH: N_("English language"),
    CourseCategory.OTHER: N_("Other"),
}
#: The extra fields a report's form may carry besides the filter.
EXTRAS = ("by", "months", "list", "tag", "view")


def _csv_response(filename: str, data: bytes) -> Response:
    return Response(
        data,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _stamp() -> str:
    return utcnow().strftime("%Y-%m-%d")


# --- The filter form --------------------------------------------------------------------


def _form_values(params: QueryParams | Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in (*FIELDS, *EXTRAS):
        if name == "country":
            values[name] = [str(v).strip().upper() for v in params.getlist(name)]
        else:
            values[name] = str(params.get(name, "") or "").strip()
    return values


def _parsed(request: Request) -> tuple[ReportFilter | None, Form]:
    """The report filter of the query string, or None with the form's errors."""
    form = Form(values=_form_values(request.query_params))
    try:
        return parse_report_filter(request.query_params), form
    except InvalidInput as exc:
        form.errors, form.message = dict(exc.fields), exc.message
        return None, form


def _number(raw: str | None, default: int = 1) -> int:
    return int(raw) if raw and raw.isascii() and raw.isdigit() and len(raw) < 7 else default


async def _page_context(
    request: Request,
    actor: Actor,
    name: str,
    form: Form,
    flt: ReportFilter | None,
    **extras: str,
) -> dict[str, Any]:
    """What every report page shows: the navigation, the filter form, links."""
    choices = await directory_choices(actor=actor)
    kept = [(k, v) for k, v in extras.items() if v]
    items = (flt.query_items() if flt is not None else []) + kept
    return {
        "report": None,
        "reports": REPORTS,
        "current": name,
        "form": form,
        "choices": choices,
        "options": {
            "embassy": [(e.code, f"{e.code} · {e.name}") for e in choices.embassies],
            "category": [(str(c.value), _(label)) for c, label in CATEGORIES.items()],
        },
        "query": urlencode(items),
        "filter_items": flt.query_items() if flt is not None else [],
        "display_name": display_name,
        "link": lambda **more: "?" + urlencode(items_with(items, **more)),
    }


def items_with(items: list[tuple[str, str]], **more: object) -> list[tuple[str, str]]:
    """Query-string pairs with ``more`` replacing the same names (None drops one)."""
    kept = [(k, v) for k, v in items if k not in more]
    return kept + [(k, str(v)) for k, v in more.items() if v not in (None, "")]


# --- Index ------------------------------------------------------------------------------


@page("/insights", access=Access.ATTACHE, name="insights")
async def insights_index(request: Request) -> Response:
    await _actor(request)
    return render(request, "insights/index.html", {"reports": REPORTS, "current": "insights"})


# --- Contact coverage ---------------------------------------------------------------------


@page("/insights/coverage", access=Access.ATTACHE, name="insights_coverage")
async def coverage_page(request: Request) -> Response:
    actor = await _actor(request)
    flt, form = _parsed(request)
    by = request.query_params.get("by") or "country"
    context = await _page_context(request, actor, "insights_coverage", form, flt, by=by)
    status = 200 if flt is not None else 422
    if flt is not None:
        try:
            report = await coverage.contact_coverage(flt, actor=actor, by=by)
        except InvalidInput as exc:
            form.errors.update(exc.fields)
            status = exc.status_code
        else:
            context["report"] = report
            context["chart"], context["table"] = coverage_view(report)
    context["groupings"] = [(d, _(DIMENSION_LABELS[d])) for d in DIMENSION_LABELS]
    return render(request, "insights/coverage.html", context, status_code=status)


@page("/insights/coverage.csv", access=Access.ATTACHE, name="insights_coverage_csv")
async def coverage_csv(request: Request) -> Response:
    actor = await _actor(request)
    flt = parse_report_filter(request.query_params)
    report = await coverage.contact_coverage(
        flt, actor=actor, by=request.query_params.get("by") or "country"
    )
    columns = coverage_columns(report)
    rows = [csv_row(r, columns) for r in [*report.rows, report.total]]
    header = csv_header(report.by, columns)
    return _csv_response(f"coverage-by-{report.by}-{_stamp()}.csv", table_csv(header, rows))


# --- Lapsed and lost ----------------------------------------------------------------------


def _lapse_labels(months: int) -> dict[str, str]:
    return {name: _(label, n=months) for name, label in lapsed.LIST_LABELS.items()}


async def _lapsed_context(request: Request, actor: Actor) -> tuple[dict[str, Any], int]:
    flt, form = _parsed(request)
    params = request.query_params
    by = params.get("by") or "country"
    which, months = params.get("list") or "never_contacted", params.get("months") or ""
    context = await _page_context(
        request, actor, "insights_lapsed", form, flt, by=by, months=months, list=which
    )
    context["groupings"] = [(d, _(DIMENSION_LABELS[d])) for d in PLACE_DIMENSIONS]
    context["email_status"] = EMAIL_STATUS
    form.values["months"] = form.values.get("months") or str(lapsed.DEFAULT_MONTHS)
    status = 200 if flt is not None else 422
    try:
        lapse, number = lapsed.lapse_of(which), lapsed.months_of(months)
        if flt is not None:
            report = await lapsed.lapsed_report(flt, actor=actor, months=number, by=by)
            listing = await lapsed.lapsed_people(
                flt, lapse, actor=actor, months=number, page=_number(params.get("page"))
            )
            context |= {"report": report, "listing": listing, "lapse": lapse}
            context["chart"], context["table"] = lapsed_view(report)
            context["lists"] = _lapse_labels(number)
            context["save_form"] = Form(values={"name": _segment_name(lapse, number)})
            context["save_embassies"] = _save_embassies(actor, flt, context)
    except InvalidInput as exc:
        form.errors.update(exc.fields)
        status = exc.status_code
    return context, status


def _segment_name(lapse: str, months: int) -> str:
    return f"{_(lapsed.LIST_LABELS[lapse], n=months)} ({_stamp()})"


def _save_embassies(actor: Actor, flt: ReportFilter, context: dict[str, Any]) -> list[Any]:
    """The embassies an attaché of several must choose among for their segment."""
    if actor.country_codes is None or flt.scope.embassy:
        return []
    embassies = list(context["choices"].embassies)
    return embassies if len(embassies) > 1 else []


@page("/insights/lapsed", access=Access.ATTACHE, name="insights_lapsed")
async def lapsed_page(request: Request) -> Response:
    actor = await _actor(request)
    context, status = await _lapsed_context(request, actor)
    return render(request, "insights/lapsed.html", context, status_code=status)


@page("/insights/lapsed.csv", access=Access.ATTACHE, name="insights_lapsed_csv")
async def lapsed_csv(request: Request) -> Response:
    actor = await _actor(request)
    params = request.query_params
    flt = parse_report_filter(params)
    months = lapsed.months_of(params.get("months"))
    report = await lapsed.lapsed_report(
        flt, actor=actor, months=months, by=params.get("by") or "country"
    )
    columns = lapsed_columns(months)
    rows = [csv_row(r, columns) for r in [*report.rows, report.total]]
    header = csv_header(report.by, columns)
    filename = f"lapsed-by-{report.by}-{_stamp()}.csv"
    return _csv_response(filename, table_csv(header, rows))


@page("/insights/lapsed/work-list.csv", access=Access.ATTACHE, name="insights_work_list")
async def lapsed_work_list(request: Request) -> Response:
    actor = await _actor(request)
    params = request.query_params
    work = await lapsed.lapsed_work_list(
        parse_report_filter(params),
        lapsed.lapse_of(params.get("list") or "never_contacted"),
        actor=actor,
        months=lapsed.months_of(params.get("months")),
        ip=client_ip(request),
    )
    return StreamingResponse(
        work.chunks(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{work.filename}"'},
    )


@page(
    "/insights/lapsed/segment",
    access=Access.ATTACHE,
    methods=["POST"],
    name="insights_lapsed_segment",
)
async def lapsed_segment(request: Request) -> Response:
    actor = await _actor(request)
    form = await read_form(request, "name", "embassy", "list", "months")
    data = await form_data(request)
    flt = parse_report_filter(data)
    lapse = lapsed.lapse_of(form.get("list"))
    months = lapsed.months_of(form.get("months"))
    try:
        segment = await lapsed.save_lapsed_segment(
            flt,
            lapse,
            form.get("name"),
            actor=actor,
            months=months,
            embassy=form.get("embassy"),
            ip=client_ip(request),
        )
    except (InvalidInput, Conflict) as exc:
        form.errors.update(exc.fields)
        form.message = exc.message
        choices = await directory_choices(actor=actor)
        context = {
            "form": form,
            "list_label": _(lapsed.LIST_LABELS[lapse], n=months),
            "filter_items": flt.query_items(),
            "embassies": []
            if actor.country_codes is None or flt.scope.embassy
            else choices.embassies,
            "back": "?" + urlencode([*flt.query_items(), ("list", lapse), ("months", str(months))]),
        }
        return render(request, "insights/segment.html", context, status_code=exc.status_code)
    return RedirectResponse(f"/alumni?segment={segment.id}&saved=segment", status_code=303)


# --- Event funnel -------------------------------------------------------------------------


def _view_of(raw: str | None) -> str:
    return raw if raw in FUNNEL_VIEWS else "event"


@page("/insights/funnel", access=Access.ATTACHE, name="insights_funnel")
async def funnel_page(request: Request) -> Response:
    actor = await _actor(request)
    flt, form = _parsed(request)
    view = _view_of(request.query_params.get("view"))
    context = await _page_context(request, actor, "insights_funnel", form, flt, view=view)
    context["views"] = [(k, _(v)) for k, v in FUNNEL_VIEWS.items()]
    context |= {"stages": STAGES, "percent": percent}
    if flt is not None:
        report = await funnel.event_funnel(flt, actor=actor)
        context["report"] = report
        context |= funnel_view(report, view)
    return render(request, "insights/funnel.html", context, status_code=422 if flt is None else 200)


@page("/insights/funnel.csv", access=Access.ATTACHE, name="insights_funnel_csv")
async def funnel_csv(request: Request) -> Response:
    actor = await _actor(request)
    flt = parse_report_filter(request.query_params)
    view = _view_of(request.query_params.get("view"))
    report = await funnel.event_funnel(flt, actor=actor)
    columns = funnel_columns()
    if view == "event":
        header = csv_header("event", columns, ["starts_at", "timezone", "embassy"])
        rows = [
            csv_row(
                r, columns, [r.starts_at.isoformat() if r.starts_at else "", r.timezone, r.embassy]
            )
            for r in report.events
        ]
        rows.append(csv_row(report.total, columns, ["", "", ""]))
    else:
        header = csv_header(view, columns, ["events"])
        listed = report.embassies if view == "embassy" else report.months
        rows = [csv_row(r, columns, [r.counts["events"]]) for r in [*listed, report.total]]
    return _csv_response(f"funnel-by-{view}-{_stamp()}.csv", table_csv(header, rows))


# --- Career outcomes ----------------------------------------------------------------------


@page("/insights/careers", access=Access.ATTACHE, name="insights_careers")
async def careers_page(request: Request) -> Response:
    actor = await _actor(request)
    flt, form = _parsed(request)
    by = request.query_params.get("by") or "country"
    context = await _page_context(request, actor, "insights_careers", form, flt, by=by)
    context["groupings"] = [(k, _(v)) for k, v in careers.GROUPING_LABELS.items()]
    status = 200 if flt is not None else 422
    if flt is not None:
        try:
            report = await careers.career_outcomes(flt, actor=actor, by=by)
        except InvalidInput as exc:
            form.errors.update(exc.fields)
            status = exc.status_code
        else:
            context["report"] = report
            context["chart"], context["table"] = careers_view(report)
            context["recent"] = await careers.recently_promoted(
                flt, actor=actor, page=_number(request.query_params.get("page"))
            )
    return render(request, "insights/careers.html", context, status_code=status)


@page("/insights/careers.csv", access=Access.ATTACHE, name="insights_careers_csv")
async def careers_csv(request: Request) -> Response:
    actor = await _actor(request)
    flt = parse_report_filter(request.query_params)
    report = await careers.career_outcomes(
        flt, actor=actor, by=request.query_params.get("by") or "country"
    )
    header = [
        report.by,
        "label",
        "total",
        "of5",
        "of5_share",
        "of5_years",
        "of6",
        "of6_share",
        "of6_years",
    ]
    rows = [
        [
            r.key,
            r.label,
            r.counts["total"],
            r.counts["of5"],
            r.share("of5"),
            r.years("of5"),
            r.counts["of6"],
            r.share("of6"),
            r.years("of6"),
        ]
        for r in [*report.rows, report.total]
    ]
    return _csv_response(f"careers-by-{report.by}-{_stamp()}.csv", table_csv(header, rows))


@page("/insights/careers/recent.csv", access=Access.ATTACHE, name="insights_careers_recent_csv")
async def careers_recent_csv(request: Request) -> Response:
    actor = await _actor(request)
    flt = parse_report_filter(request.query_params)
    found = await careers.recently_promoted(flt, actor=actor, page_size=100_000)
    header = [
        "id",
        "given_name",
        "family_name",
        "country",
        "rank",
        "grade",
        "promoted_on",
        "last_engaged_at",
    ]
    rows = [
        [
            p.alumnus.id,
            p.alumnus.given_name,
            p.alumnus.family_name,
            p.alumnus.country_id,  # type: ignore[attr-defined]
            p.rank,
            p.grade,
            p.promoted_on.isoformat(),
            p.alumnus.last_engaged_at.strftime("%Y-%m-%d") if p.alumnus.last_engaged_at else "",
        ]
        for p in found.people
    ]
    return _csv_response(f"recently-promoted-{_stamp()}.csv", table_csv(header, rows))


# --- Capability lookup --------------------------------------------------------------------


@page("/insights/capabilities", access=Access.ATTACHE, name="insights_capabilities")
async def capabilities_page(request: Request) -> Response:
    actor = await _actor(request)
    flt, form = _parsed(request)
    params = request.query_params
    tag, by = params.get("tag") or "", params.get("by") or "country"
    context = await _page_context(
        request, actor, "insights_capabilities", form, flt, tag=tag, by=by
    )
    context["groupings"] = [(d, _(DIMENSION_LABELS[d])) for d in PLACE_DIMENSIONS]
    context["tag_options"] = [(t, t) for t in await capabilities.equipment_tags()]
    status = 200 if flt is not None else 422
    if flt is not None:
        try:
            report = await capabilities.capability_lookup(flt, actor=actor, tag=tag, by=by)
        except InvalidInput as exc:
            form.errors.update(exc.fields)
            status = exc.status_code
        else:
            context["report"] = report
            context["chart"], context["table"] = capabilities_view(report)
            context["people"] = await capabilities.capable_people(
                flt, actor=actor, tag=tag, page=_number(params.get("page"))
            )
    return render(request, "insights/capabilities.html", context, status_code=status)


@page("/insights/capabilities.csv", access=Access.ATTACHE, name="insights_capabilities_csv")
async def capabilities_csv(request: Request) -> Response:
    actor = await _actor(request)
    params = request.query_params
    flt = parse_report_filter(params)
    report = await capabilities.capability_lookup(
        flt, actor=actor, tag=params.get("tag") or "", by=params.get("by") or "country"
    )
    header = [report.by if report.tag else "tag", "label", "total"]
    rows = [[r.key, r.label, r.counts["total"]] for r in [*report.rows, report.total]]
    name = "capabilities" if not report.tag else "capability"
    return _csv_response(f"{name}-{_stamp()}.csv", table_csv(header, rows))


@page(
    "/insights/capabilities/people.csv",
    access=Access.ATTACHE,
    name="insights_capable_people_csv",
)
async def capable_people_csv(request: Request) -> Response:
    actor = await _actor(request)
    params = request.query_params
    export = await capabilities.capable_export(
        parse_report_filter(params), actor=actor, tag=params.get("tag") or "", ip=client_ip(request)
    )
    return StreamingResponse(
        export.chunks(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )
