"""Data rights pages: download your data, ask for erasure; staff answer the requests.

::

    /profile/export                    what the download holds; POST sends the JSON file
    /profile/erase                     what erasure does; POST (with the password) asks for it
    /profile/erase/withdraw            POST: take the request back
    /admin/erasures                    pending requests and recent decisions (staff)
    /admin/erasures/{id}               one profile: erase it, or decline its request

The download is a POST (a form with the CSRF token), so another site cannot make a
browser fetch it, and each download is audit-logged once.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from engage.alumni import rights
from engage.alumni.profiles import display_name
from engage.clock import utcnow
from engage.errors import Conflict, InvalidInput, Throttled
from engage.i18n import N_, _
from engage.web.failures import form_failure, path_id
from engage.web.forms import Form, read_form
from engage.web.identity import client_ip
from engage.web.identity import current_actor as _actor
from engage.web.routing import Access, page
from engage.web.templating import render

DONE = {
    "requested": N_("Your request was sent. Programme staff will answer it."),
    "withdrawn": N_("Your erasure request was withdrawn. Nothing was changed."),
    "erased": N_("The person's data was erased."),
    "declined": N_("The request was declined; the person sees your reason."),
}


def _done(request: Request) -> str:
    key = request.query_params.get("done", "")
    return _(DONE[key]) if key in DONE else ""


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# --- The person -------------------------------------------------------------------------


@page("/profile/export", access=Access.ALUMNUS, methods=["GET", "POST"], name="profile_export")
async def export(request: Request) -> Response:
    actor = await _actor(request)
    if request.method == "GET":
        has_profile = await rights.own_erasure_case(actor=actor) is not None
        return render(request, "rights/export.html", {"has_profile": has_profile})
    now = utcnow()
    data = await rights.export_personal_data(actor=actor, now=now, ip=client_ip(request))
    body = json.dumps(data, ensure_ascii=False, indent=2, default=_json_default)
    filename = f"engage-personal-data-{now:%Y-%m-%d}.json"
    return Response(
        body,
        media_type="application/json; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def _erase_page(
    request: Request, form: Form | None = None, exc: Exception | None = None
) -> Response:
    case = await rights.own_erasure_case(actor=await _actor(request))
    context = {"case": case, "done": _done(request), "form": form or Form()}
    if exc is not None and isinstance(exc, InvalidInput | Conflict | Throttled):
        return form_failure(request, "rights/erase.html", form or Form(), exc, context)
    return render(request, "rights/erase.html", context)


@page("/profile/erase", access=Access.ALUMNUS, methods=["GET", "POST"], name="profile_erase")
async def erase_request(request: Request) -> Response:
    if request.method == "GET":
        return await _erase_page(request)
    form = await read_form(request, "password")
    try:
        await rights.request_erasure(
            form.get("password"),
            actor=await _actor(request),
            settings=request.app.state.settings,
            ip=client_ip(request),
        )
    except (InvalidInput, Conflict, Throttled) as exc:
        return await _erase_page(request, form, exc)
    return RedirectResponse("/profile/erase?done=requested", status_code=303)


@page(
    "/profile/erase/withdraw",
    access=Access.ALUMNUS,
    methods=["POST"],
    name="profile_erase_withdraw",
)
async def erase_withdraw(request: Request) -> Response:
    try:
        await rights.withdraw_erasure(actor=await _actor(request), ip=client_ip(request))
    except Conflict as exc:
        return await _erase_page(request, Form(), exc)
    return RedirectResponse("/profile/erase?done=withdrawn", status_code=303)


# --- Staff ------------------------------------------------------------------------------


@page("/admin/erasures", access=Access.STAFF, name="erasures")
async def erasures(request: Request) -> Response:
    actor = await _actor(request)
    context = {
        "cases": await rights.pending_erasures(actor=actor),
        "decisions": await rights.recent_erasure_decisions(actor=actor),
        "done": _done(request),
        "display_name": display_name,
    }
    return render(request, "rights/erasures.html", context)


async def _case_page(
    request: Request, forms: dict[str, Form] | None = None, status_code: int = 200
) -> Response:
    case = await rights.erasure_case(path_id(request, "id"), actor=await _actor(request))
    context: dict[str, Any] = {
        "case": case,
        "name": display_name(case.alumnus),
        "confirm_form": Form(),
        "decline_form": Form(),
        **(forms or {}),
    }
    return render(request, "rights/erasure.html", context, status_code=status_code)


@page("/admin/erasures/{id}", access=Access.STAFF, name="erasure")
async def erasure(request: Request) -> Response:
    return await _case_page(request)


@page("/admin/erasures/{id}/confirm", access=Access.STAFF, methods=["POST"], name="erasure_confirm")
async def erasure_confirm(request: Request) -> Response:
    form = await read_form(request, "understood")
    alumnus_id = path_id(request, "id")
    if form.get("understood") != "yes":
        form.errors["understood"] = _("Tick the box to confirm: erasure cannot be undone.")
        form.message = _("Please confirm the erasure.")
        return await _case_page(request, {"confirm_form": form}, 422)
    try:
        await rights.erase_alumnus(
            alumnus_id,
            actor=await _actor(request),
            settings=request.app.state.settings,
            ip=client_ip(request),
        )
    except Conflict as exc:
        form.message = exc.message
        return await _case_page(request, {"confirm_form": form}, exc.status_code)
    return RedirectResponse("/admin/erasures?done=erased", status_code=303)


@page("/admin/erasures/{id}/decline", access=Access.STAFF, methods=["POST"], name="erasure_decline")
async def erasure_decline(request: Request) -> Response:
    form = await read_form(request, "reason")
    try:
        await rights.decline_erasure(
            path_id(request, "id"),
            form.get("reason"),
            actor=await _actor(request),
            ip=client_ip(request),
        )
    except (InvalidInput, Conflict) as exc:
        form.errors, form.message = exc.fields, exc.message
        return await _case_page(request, {"decline_form": form}, exc.status_code)
    return RedirectResponse("/admin/erasures?done=declined", status_code=303)
