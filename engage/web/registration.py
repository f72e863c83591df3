"""Alumni registration and email confirmation: ``/register``, ``/verify/resend``,
``/verify/{token}``.

Registration and resend answer the same page, with the same status, for known and
unknown addresses (the service sends a different email, never a different answer).
A confirmation link opens a page with one button: mail scanners that fetch links
do not use it up; the POST does.

The registration form also asks who the person is (names in any script, the Latin
spelling, country, service, optionally programme ID and class year, and the two
consents): that makes their pending profile (``engage.alumni.identity``). The page
after confirmation says whether an existing record was linked or the profile waits
for confirmation by programme staff.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from engage.accounts.links import InvalidLink
from engage.accounts.registration import (
    check_verify_link,
    confirm_email,
    register_alumnus,
    resend_verification,
)
from engage.alumni import identity
from engage.clock import utcnow
from engage.errors import InvalidInput, Throttled
from engage.web.alumni import SERVICES
from engage.web.failures import form_failure
from engage.web.forms import Form, read_form
from engage.web.identity import client_ip
from engage.web.routing import Access, page
from engage.web.templating import render

#: Pages whose address holds a token: never sent on as a referrer.
NO_REFERRER = {"Referrer-Policy": "no-referrer"}


async def _register_choices() -> dict[str, Any]:
    return {"countries": await identity.registration_countries(), "services": SERVICES}


@page("/register", methods=["GET", "POST"], access=Access.PUBLIC, name="register")
async def register(request: Request) -> Response:
    context = await _register_choices()
    if request.method == "GET":
        ticked = {"accepts_invitations": "on", "accepts_newsletter": "on"}
        return render(request, "auth/register.html", {**context, "form": Form(values=ticked)})
    form = await read_form(request, "email", "password", *identity.REGISTRATION_FIELDS)
    try:
        await register_alumnus(
            form.get("email"),
            form.values.pop("password", ""),
            profile={name: form.get(name) for name in identity.REGISTRATION_FIELDS},
            ip=client_ip(request),
            now=utcnow(),
            settings=request.app.state.settings,
        )
    except (InvalidInput, Throttled) as exc:
        return form_failure(request, "auth/register.html", form, exc, context)
    return render(request, "auth/register_sent.html", {"email": form.get("email")})


@page("/verify/resend", methods=["GET", "POST"], access=Access.PUBLIC, name="verify_resend")
async def verify_resend(request: Request) -> Response:
    if request.method == "GET":
        return render(request, "auth/verify_resend.html", {"form": Form()})
    form = await read_form(request, "email")
    try:
        await resend_verification(
            form.get("email"),
            ip=client_ip(request),
            now=utcnow(),
            settings=request.app.state.settings,
        )
    except (InvalidInput, Throttled) as exc:
        return form_failure(request, "auth/verify_resend.html", form, exc)
    return render(request, "auth/verify_resend_sent.html", {"email": form.get("email")})


@page("/verify/{token}", methods=["GET", "POST"], access=Access.PUBLIC, name="verify")
async def verify(request: Request) -> Response:
    token = request.path_params["token"]
    settings = request.app.state.settings
    try:
        if request.method == "GET":
            user = await check_verify_link(token, now=utcnow(), settings=settings)
            return render(
                request,
                "auth/verify.html",
                {"token": token, "address": user.pending_email or user.email},
                headers=NO_REFERRER,
            )
        user = await confirm_email(token, now=utcnow(), settings=settings)
    except InvalidLink:
        return link_invalid(request)
    link = await identity.profile_link(user)
    return render(
        request,
        "auth/verified.html",
        {"address": user.email, "profile": link},
        headers=NO_REFERRER,
    )


def link_invalid(request: Request) -> Response:
    """The one page for a forged, unknown, used or expired link."""
    return render(request, "auth/link_invalid.html", status_code=404, headers=NO_REFERRER)
