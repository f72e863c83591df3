"""Vetting pages: pending people, confirmation and rejection, duplicates and merging.

::

    /alumni/pending                  pending people in the caller's scope (attachés: their
                                     countries), each with a confirm button
    /alumni/{id}/confirm       POST  confirm a pending person (attachés in scope, staff)
    /alumni/{id}/reject              staff: reject a pending profile, saying why
    /alumni/duplicates               staff: likely duplicate pairs
    /alumni/{id}/merge?other=N       staff: both profiles side by side; choose which to keep

Who may do what is decided by ``engage.alumni.identity`` and
``engage.alumni.duplicates``; a profile out of reach answers 404.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from engage.alumni import duplicates, identity, profiles
from engage.errors import Conflict, InvalidInput, NotFound
from engage.i18n import N_, _
from engage.web.alumni import SERVICES, STATUSES
from engage.web.failures import form_failure, path_id
from engage.web.forms import Form, read_form
from engage.web.identity import client_ip
from engage.web.identity import current_actor as _actor
from engage.web.routing import Access, page
from engage.web.templating import render

#: What ``?saved=`` may say on the pending list.
SAVED = {
    "confirmed": N_("The person is confirmed."),
    "rejected": N_("The pending profile was rejected and deleted."),
}
REASONS = {
    duplicates.Reason.PROGRAMME_ID: N_("Same programme ID"),
    duplicates.Reason.EMAIL: N_("Same email address"),
    duplicates.Reason.NAME: N_("Same name, country and class year"),
}


def _labels() -> dict[str, object]:
    return {
        "services": SERVICES,
        "statuses": STATUSES,
        "reasons": REASONS,
        "display_name": profiles.display_name,
    }


async def _pending_page(request: Request, form: Form | None = None, status: int = 200) -> Response:
    people = await identity.list_pending(actor=await _actor(request))
    key = request.query_params.get("saved", "")
    context = {
        "people": people,
        "saved": _(SAVED[key]) if key in SAVED else "",
        "form": form or Form(),
        **_labels(),
    }
    return render(request, "vetting/pending.html", context, status_code=status)


@page("/alumni/pending", access=Access.ATTACHE, name="alumni_pending")
async def pending(request: Request) -> Response:
    return await _pending_page(request)


@page("/alumni/{id}/confirm", access=Access.ATTACHE, methods=["POST"], name="alumnus_confirm")
async def confirm(request: Request) -> Response:
    alumnus_id = path_id(request, "id")
    form = await read_form(request, "next")
    try:
        await identity.confirm_alumnus(
            alumnus_id, actor=await _actor(request), ip=client_ip(request)
        )
    except Conflict as exc:
        return await _pending_page(request, Form(message=exc.message), exc.status_code)
    if form.get("next") == "profile":
        return RedirectResponse(f"/alumni/{alumnus_id}?saved=confirmed", status_code=303)
    return RedirectResponse("/alumni/pending?saved=confirmed", status_code=303)


@page("/alumni/{id}/reject", access=Access.STAFF, methods=["GET", "POST"], name="alumnus_reject")
async def reject(request: Request) -> Response:
    actor = await _actor(request)
    view = await profiles.get_alumnus(path_id(request, "id"), actor=actor)
    context = {"view": view}
    if request.method == "GET":
        return render(request, "vetting/reject.html", {**context, "form": Form()})
    form = await read_form(request, "reason")
    try:
        await identity.reject_pending(
            view.alumnus.id, form.get("reason"), actor=actor, ip=client_ip(request)
        )
    except (InvalidInput, Conflict) as exc:
        return form_failure(request, "vetting/reject.html", form, exc, context)
    return RedirectResponse("/alumni/pending?saved=rejected", status_code=303)


@page("/alumni/duplicates", access=Access.STAFF, name="alumni_duplicates")
async def duplicate_pairs(request: Request) -> Response:
    pairs = await duplicates.find_duplicates(actor=await _actor(request))
    return render(request, "vetting/duplicates.html", {"pairs": pairs, **_labels()})


@page("/alumni/{id}/merge", access=Access.STAFF, methods=["GET", "POST"], name="alumnus_merge")
async def merge(request: Request) -> Response:
    actor = await _actor(request)
    alumnus_id = path_id(request, "id")
    other = request.query_params.get("other", "").strip()
    if not other:
        view = await profiles.get_alumnus(alumnus_id, actor=actor)
        return render(request, "vetting/merge_choose.html", {"view": view, "form": Form()})
    try:
        preview = await duplicates.merge_preview(alumnus_id, other, actor=actor)
    except NotFound as exc:
        view = await profiles.get_alumnus(alumnus_id, actor=actor)
        form = Form(values={"other": other}, errors={"other": exc.message})
        return render(
            request,
            "vetting/merge_choose.html",
            {"view": view, "form": form},
            status_code=exc.status_code,
        )
    context = {"preview": preview, **_labels()}
    if request.method == "GET":
        return render(request, "vetting/merge.html", {**context, "form": _keep_form(preview)})
    form = await read_form(request, "keep")
    try:
        survivor = await duplicates.merge_alumni(
            alumnus_id, other, keep=form.get("keep"), actor=actor, ip=client_ip(request)
        )
    except (InvalidInput, Conflict) as exc:
        return form_failure(request, "vetting/merge.html", form, exc, context)
    return RedirectResponse(f"/alumni/{survivor.id}?saved=merged", status_code=303)


def _keep_form(preview: duplicates.MergePreview) -> Form:
    """Suggest keeping the profile on the roster (confirmed), else the claimed one,
    else the older one."""

    def weight(view: profiles.ProfileView) -> tuple[bool, bool, int]:
        a = view.alumnus
        return (a.vetting == "confirmed", a.user_id is not None, -a.id)  # type: ignore[attr-defined]

    best = max((preview.first, preview.second), key=weight)
    return Form(values={"keep": str(best.alumnus.id)})
