"""Pages for embassies and countries (``/admin/embassies``, ``/admin/countries``).

Staff and admins manage both; an attaché sees their own embassies read-only. Each
handler reads the form, calls one service and renders or redirects; a form that
fails comes back with what was typed and what is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import groupby
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from engage.accounts.models import Role
from engage.errors import Conflict, InvalidInput
from engage.places import services
from engage.places.models import Country, ProgrammeStatus
from engage.places.timezones import zone_groups
from engage.web.forms import Form, read_form
from engage.web.identity import client_ip
from engage.web.identity import current_actor as _actor
from engage.web.routing import Access, form_data, page
from engage.web.templating import render

_TEXT_FIELDS = ("code", "name", "country", "city", "timezone")
#: Continents in the order pages list them; a country M49 leaves unplaced comes last.
_CONTINENTS = ("Africa", "Americas", "Asia", "Europe", "Oceania", "")


def by_region(
    countries: Iterable[Country],
) -> list[tuple[str, list[tuple[str, list[Country]]]]]:
    """Countries grouped by continent, then sub-region, each sorted by name."""

    def continent(country: Country) -> str:
        return country.continent if country.continent in _CONTINENTS else ""

    def order(country: Country) -> tuple[int, str, str]:
        return (_CONTINENTS.index(continent(country)), country.region, country.name)

    grouped = []
    for name, in_continent in groupby(sorted(countries, key=order), continent):
        regions = [
            (region, list(rows)) for region, rows in groupby(in_continent, lambda c: c.region)
        ]
        grouped.append((name, regions))
    return grouped


# --- Embassies ------------------------------------------------------------------------


@page("/admin/embassies", access=Access.ATTACHE, name="embassies")
async def embassy_list(request: Request) -> Response:
    actor = await _actor(request)
    embassies = await services.list_embassies(actor=actor)
    return render(request, "places/embassies.html", {"embassies": embassies})


async def _form_context(
    request: Request, form: Form, accredited: Iterable[str], **extra: Any
) -> dict[str, Any]:
    countries = await services.list_countries(actor=await _actor(request))
    return {
        "form": form,
        "accredited": set(accredited),
        "countries": countries,
        "regions": by_region(countries),
        "zones": zone_groups(),
        **extra,
    }


async def _read_embassy_form(request: Request) -> tuple[Form, list[str]]:
    form = await read_form(request, *_TEXT_FIELDS)
    accredited = [str(code) for code in (await form_data(request)).getlist("accredited")]
    return form, accredited


@page("/admin/embassies/new", access=Access.STAFF, methods=["GET", "POST"], name="embassy_new")
async def embassy_new(request: Request) -> Response:
    actor = await _actor(request)
    if request.method == "GET":
        context = await _form_context(request, Form(), [], embassy=None, saved="")
        return render(request, "places/embassy_form.html", context)
    form, accredited = await _read_embassy_form(request)
    try:
        embassy = await services.create_embassy(
            {**form.values, "accredited": accredited}, actor=actor, ip=client_ip(request)
        )
    except (InvalidInput, Conflict) as exc:
        form.errors = exc.fields
        form.message = "" if exc.fields else exc.message
        context = await _form_context(request, form, accredited, embassy=None, saved="")
        return render(request, "places/embassy_form.html", context, status_code=exc.status_code)
    return RedirectResponse(f"/admin/embassies/{embassy.code}?saved=created", status_code=303)


@page("/admin/embassies/{code}", access=Access.ATTACHE, name="embassy")
async def embassy_detail(request: Request) -> Response:
    actor = await _actor(request)
    embassy = await services.get_embassy(request.path_params["code"], actor=actor)
    saved = request.query_params.get("saved", "")
    if not actor.at_least(Role.STAFF):
        return render(request, "places/embassy.html", {"embassy": embassy})
    form = Form(
        values={
            "name": embassy.name,
            "city": embassy.city,
            "timezone": embassy.timezone,
        }
    )
    context = await _form_context(
        request, form, embassy.accredited_codes, embassy=embassy, saved=saved
    )
    return render(request, "places/embassy_form.html", context)


@page("/admin/embassies/{code}", access=Access.STAFF, methods=["POST"], name="embassy_update")
async def embassy_update(request: Request) -> Response:
    actor = await _actor(request)
    code = request.path_params["code"]
    embassy = await services.get_embassy(code, actor=actor)
    form, accredited = await _read_embassy_form(request)
    changes = {k: form.values[k] for k in ("name", "city", "timezone")}
    try:
        embassy = await services.update_embassy(
            code, {**changes, "accredited": accredited}, actor=actor, ip=client_ip(request)
        )
    except (InvalidInput, Conflict) as exc:
        form.errors = exc.fields
        form.message = "" if exc.fields else exc.message
        context = await _form_context(request, form, accredited, embassy=embassy, saved="")
        return render(request, "places/embassy_form.html", context, status_code=exc.status_code)
    return RedirectResponse(f"/admin/embassies/{embassy.code}?saved=updated", status_code=303)


# --- Countries ------------------------------------------------------------------------


@page("/admin/countries", access=Access.STAFF, name="countries")
async def country_list(request: Request) -> Response:
    actor = await _actor(request)
    wanted = request.query_params.get("status", "")
    status = ProgrammeStatus(wanted) if wanted in set(ProgrammeStatus) else None
    countries = await services.list_countries(actor=actor, status=status)
    return render(
        request,
        "places/countries.html",
        {"regions": by_region(countries), "status": status, "count": len(countries)},
    )


@page("/admin/countries/{code}", access=Access.STAFF, methods=["GET", "POST"], name="country")
async def country_detail(request: Request) -> Response:
    actor = await _actor(request)
    country = await services.get_country(request.path_params["code"], actor=actor)
    if request.method == "GET":
        form = Form(values={"status": country.programme_status, "reason": country.status_reason})
        saved = request.query_params.get("saved") == "1"
        return render(
            request, "places/country.html", {"country": country, "form": form, "saved": saved}
        )
    form = await read_form(request, "status", "reason")
    try:
        await services.set_programme_status(
            country.code,
            form.get("status"),
            form.get("reason"),
            actor=actor,
            ip=client_ip(request),
        )
    except InvalidInput as exc:
        form.errors = exc.fields
        form.message = "" if exc.fields else exc.message
        return render(
            request,
            "places/country.html",
            {"country": country, "form": form, "saved": False},
            status_code=exc.status_code,
        )
    return RedirectResponse(f"/admin/countries/{country.code}?saved=1", status_code=303)
