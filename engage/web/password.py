"""Setting a password from an emailed link: ``/password/forgot``,
``/password/reset/{token}`` and ``/invite/{token}``.

``/password/forgot`` answers the same page for known and unknown addresses. A reset
ends every session of the account and signs nobody in: the person signs in with
the new password (and second factor) next, like any other time.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from engage.accounts.invitations import accept_invitation, check_invite_link
from engage.accounts.links import InvalidLink
from engage.accounts.recovery import check_reset_link, request_password_reset, reset_password
from engage.clock import utcnow
from engage.errors import InvalidInput, Throttled
from engage.web.failures import form_failure
from engage.web.forms import Form, read_form
from engage.web.identity import clear_session_cookie, client_ip
from engage.web.registration import NO_REFERRER, link_invalid
from engage.web.routing import Access, page
from engage.web.templating import render


@page("/password/forgot", methods=["GET", "POST"], access=Access.PUBLIC, name="password_forgot")
async def forgot(request: Request) -> Response:
    if request.method == "GET":
        return render(request, "auth/forgot.html", {"form": Form()})
    form = await read_form(request, "email")
    try:
        await request_password_reset(
            form.get("email"),
            ip=client_ip(request),
            now=utcnow(),
            settings=request.app.state.settings,
        )
    except (InvalidInput, Throttled) as exc:
        return form_failure(request, "auth/forgot.html", form, exc)
    return render(request, "auth/forgot_sent.html", {"email": form.get("email")})


@page(
    "/password/reset/{token}", methods=["GET", "POST"], access=Access.PUBLIC, name="password_reset"
)
async def reset(request: Request) -> Response:
    token = request.path_params["token"]
    settings = request.app.state.settings
    context = {"token": token, "action": request.url.path}
    try:
        if request.method == "GET":
            user = await check_reset_link(token, now=utcnow(), settings=settings)
            return render(
                request,
                "auth/set_password.html",
                {**context, "form": Form(), "purpose": "reset", "address": user.email},
                headers=NO_REFERRER,
            )
        form = await read_form(request, "password")
        try:
            user = await reset_password(
                token,
                form.values.pop("password", ""),
                ip=client_ip(request),
                now=utcnow(),
                settings=settings,
            )
        except InvalidInput as exc:
            return form_failure(
                request, "auth/set_password.html", form, exc, {**context, "purpose": "reset"}
            )
    except InvalidLink:
        return link_invalid(request)
    response = render(request, "auth/password_set.html", {"purpose": "reset"}, headers=NO_REFERRER)
    # Every session of the account ended; this browser's cookie is dead too.
    clear_session_cookie(response, settings)
    return response


@page("/invite/{token}", methods=["GET", "POST"], access=Access.PUBLIC, name="invite_accept")
async def invite(request: Request) -> Response:
    token = request.path_params["token"]
    settings = request.app.state.settings
    context = {"token": token, "action": request.url.path, "purpose": "invite"}
    try:
        if request.method == "GET":
            user = await check_invite_link(token, now=utcnow(), settings=settings)
            return render(
                request,
                "auth/set_password.html",
                {**context, "form": Form(), "address": user.email},
                headers=NO_REFERRER,
            )
        form = await read_form(request, "password")
        try:
            await accept_invitation(
                token,
                form.values.pop("password", ""),
                ip=client_ip(request),
                now=utcnow(),
                settings=settings,
            )
        except InvalidInput as exc:
            return form_failure(request, "auth/set_password.html", form, exc, context)
    except InvalidLink:
        return link_invalid(request)
    return render(request, "auth/password_set.html", {"purpose": "invite"}, headers=NO_REFERRER)
