"""``/admin/users``: accounts with their role, embassies, state and last sign-in;
invitations for staff and attachés; deactivation and reactivation (admins only)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from engage.accounts.invitations import (
    INVITABLE,
    embassy_choices,
    invite_user,
    list_users,
    resend_invitation,
    set_active,
)
from engage.accounts.models import Role
from engage.clock import utcnow
from engage.errors import Conflict, EngageError, InvalidInput
from engage.i18n import N_, _
from engage.web.failures import form_failure, path_id
from engage.web.forms import Form, read_form
from engage.web.identity import client_ip, identify
from engage.web.routing import Access, form_data, page
from engage.web.templating import render

DONE = {
    "invited": N_("The invitation is on its way."),
    "reinvited": N_("A new invitation is on its way; the previous link no longer works."),
    "deactivated": N_("The account is deactivated and its sessions have ended."),
    "reactivated": N_("The account is active again."),
}


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < len(raw) < 7 else 1


def _role_filter(request: Request) -> Role | None:
    raw = request.query_params.get("role", "")
    return Role(raw) if raw in {r.value for r in Role} else None


async def _list_context(request: Request) -> dict[str, Any]:
    identity = await identify(request)
    role = _role_filter(request)
    listing = await list_users(actor=identity.actor, role=role, page=_page_number(request))
    done = request.query_params.get("done", "")
    return {
        "listing": listing,
        "role_filter": role.value if role else "",
        "roles": list(Role),
        "done": _(DONE[done]) if done in DONE else "",
        "form": Form(),
    }


@page("/admin/users", access=Access.ADMIN, name="admin_users")
async def users(request: Request) -> Response:
    return render(request, "admin/users.html", await _list_context(request))


@page("/admin/users/invite", methods=["GET", "POST"], access=Access.ADMIN, name="admin_invite")
async def invite(request: Request) -> Response:
    context = {"embassies": await embassy_choices(), "roles": INVITABLE}
    if request.method == "GET":
        return render(request, "admin/users_invite.html", {**context, "form": Form(), "chosen": []})
    form = await read_form(request, "email", "role")
    chosen = [str(code) for code in (await form_data(request)).getlist("embassies")]
    identity = await identify(request)
    try:
        await invite_user(
            form.get("email"),
            role=form.get("role"),
            embassy_codes=chosen,
            actor=identity.actor,
            now=utcnow(),
            settings=request.app.state.settings,
            ip=client_ip(request),
        )
    except (InvalidInput, Conflict) as exc:
        return form_failure(
            request, "admin/users_invite.html", form, exc, {**context, "chosen": chosen}
        )
    return RedirectResponse("/admin/users?done=invited", status_code=303)


async def _act(request: Request, action: str) -> Response:
    identity = await identify(request)
    assert identity.actor is not None
    user_id = path_id(request, "user_id")
    try:
        if action == "reinvited":
            await resend_invitation(
                user_id,
                actor=identity.actor,
                now=utcnow(),
                settings=request.app.state.settings,
                ip=client_ip(request),
            )
        else:
            await set_active(
                user_id, action == "reactivated", actor=identity.actor, ip=client_ip(request)
            )
    except InvalidInput as exc:
        return _list_failure(request, exc, await _list_context(request))
    return RedirectResponse(f"/admin/users?done={action}", status_code=303)


def _list_failure(request: Request, exc: EngageError, context: dict[str, Any]) -> Response:
    return form_failure(request, "admin/users.html", context["form"], exc, context)


@page(
    "/admin/users/{user_id}/deactivate",
    methods=["POST"],
    access=Access.ADMIN,
    name="admin_user_deactivate",
)
async def deactivate(request: Request) -> Response:
    return await _act(request, "deactivated")


@page(
    "/admin/users/{user_id}/reactivate",
    methods=["POST"],
    access=Access.ADMIN,
    name="admin_user_reactivate",
)
async def reactivate(request: Request) -> Response:
    return await _act(request, "reactivated")


@page(
    "/admin/users/{user_id}/reinvite",
    methods=["POST"],
    access=Access.ADMIN,
    name="admin_user_reinvite",
)
async def reinvite(request: Request) -> Response:
    return await _act(request, "reinvited")
