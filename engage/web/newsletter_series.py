"""Newsletter series for staff: an issue made at each date of a schedule.

::

    /newsletters/series              the series, with their next date
    /newsletters/series/new          name, schedule (an RRULE), first date and zone, and
                                     the issues' content (as an issue's form)
    /newsletters/series/{id}         the schedule's next dates and the issues made
    /newsletters/series/{id}/edit    the same form (and active / automatic)

The rules are ``engage.newsletters.series`` (staff only; the schedule read in the
series' zone in wall-clock time; the scheduler makes each date's issue once).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from engage.errors import InvalidInput
from engage.events.timefmt import to_local, zone_label
from engage.i18n import N_, _
from engage.newsletters.models import Series
from engage.newsletters.series import (
    create_series,
    get_series,
    list_series,
    series_issues,
    upcoming_dates,
    update_series,
)
from engage.places.timezones import zone_groups
from engage.web.failures import form_failure, path_id
from engage.web.forms import Form
from engage.web.identity import current_actor as _actor
from engage.web.newsletters import (
    STATUSES,
    blank_content,
    content_form,
    content_input,
    content_values,
    form_choices,
)
from engage.web.routing import Access, form_data, page
from engage.web.templating import render

#: Schedules offered as suggestions beside the field (any RRULE may be typed).
PRESETS = (
    ("FREQ=MONTHLY;BYMONTHDAY=1", N_("Monthly, on the 1st")),
    ("FREQ=MONTHLY;BYMONTHDAY=-1", N_("Monthly, on the last day")),
    ("FREQ=MONTHLY;BYDAY=1MO", N_("Monthly, on the first Monday")),
    ("FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=1", N_("Quarterly, on the 1st")),
    ("FREQ=WEEKLY;BYDAY=MO", N_("Weekly, on Mondays")),
    ("FREQ=YEARLY", N_("Yearly, on the first date")),
)
NOTICES = {
    "created": N_("The series was created. Its first issue is made on its first date."),
    "saved": N_("Your changes were saved."),
}
#: Dates of the schedule shown ahead.
AHEAD = 5


def _local(value: Any, tz: str) -> str:
    return to_local(value, tz).strftime("%Y-%m-%dT%H:%M") if value is not None else ""


def _values(series: Series | None, segments: list[Any], default_zone: str) -> dict[str, Any]:
    if series is None:
        return {
            "name": "",
            "rrule": PRESETS[0][0],
            "starts_at": "",
            "timezone": default_zone,
            "automatic": "",
            "active": "on",
            **blank_content(segments),
        }
    return {
        "name": series.name,
        "rrule": series.rrule,
        "starts_at": _local(series.starts_at, series.timezone),
        "timezone": series.timezone,
        "automatic": "on" if series.automatic else "",
        "active": "on" if series.active else "",
        **content_values(series),
    }


async def _form(request: Request, series: Series | None) -> Response:
    actor = await _actor(request)
    context: dict[str, Any] = {
        "series": series,
        "presets": PRESETS,
        "zones": zone_groups(),
        "known_zones": {zone for _area, zones in zone_groups() for zone in zones},
        **await form_choices(actor),
    }
    if request.method == "GET":
        values = _values(series, context["segments"], actor.user.timezone or "UTC")
        return render(request, "newsletters/series_form.html", {**context, "form": Form(values)})
    data = await form_data(request)
    schedule: dict[str, Any] = {
        "name": str(data.get("name", "")),
        "rrule": str(data.get("rrule", "")),
        "starts_at": str(data.get("starts_at", "")).strip(),
        "timezone": str(data.get("timezone", "")),
        "automatic": bool(data.get("automatic")),
    }
    if series is not None:
        schedule["active"] = bool(data.get("active"))
    form = Form(values=await content_form(request))
    form.values.update(
        {k: "on" if v is True else "" if v is False else v for k, v in schedule.items()}
    )
    try:
        given = await content_input(request, form.values)
        if series is None:
            series = await create_series(actor, {**schedule, **given})
            notice = "created"
        else:
            series = await update_series(actor, series.id, {**schedule, **given})
            notice = "saved"
    except InvalidInput as exc:
        return form_failure(request, "newsletters/series_form.html", form, exc, context)
    return RedirectResponse(f"/newsletters/series/{series.id}?notice={notice}", status_code=303)


@page("/newsletters/series", access=Access.STAFF, name="newsletter_series_list")
async def series_list(request: Request) -> Response:
    actor = await _actor(request)
    return render(request, "newsletters/series_list.html", {"all_series": await list_series(actor)})


@page(
    "/newsletters/series/new",
    access=Access.STAFF,
    methods=["GET", "POST"],
    name="newsletter_series_new",
)
async def series_new(request: Request) -> Response:
    return await _form(request, None)


@page(
    "/newsletters/series/{id}/edit",
    access=Access.STAFF,
    methods=["GET", "POST"],
    name="newsletter_series_edit",
)
async def series_edit(request: Request) -> Response:
    series = await get_series(await _actor(request), path_id(request, "id"))
    return await _form(request, series)


@page("/newsletters/series/{id}", access=Access.STAFF, name="newsletter_series")
async def series_page(request: Request) -> Response:
    actor = await _actor(request)
    series = await get_series(actor, path_id(request, "id"))
    key = request.query_params.get("notice", "")
    dates = await upcoming_dates(series, count=AHEAD) if series.active else []
    return render(
        request,
        "newsletters/series.html",
        {
            "series": series,
            "dates": dates,
            "issues": await series_issues(actor, series.id),
            "statuses": STATUSES,
            "zone": zone_label(series.timezone),
            "notice": _(NOTICES[key]) if key in NOTICES else "",
        },
    )
