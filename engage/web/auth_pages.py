"""Signing in and out."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from engage.accounts.login import sign_in, sign_out
from engage.clock import utcnow
from engage.errors import InvalidInput, Throttled
from engage.web.forms import Form, read_form
from engage.web.identity import (
    clear_session_cookie,
    client_ip,
    identify,
    session_cookie_name,
    set_session_cookie,
)
from engage.web.routing import Access, form_data, page, safe_next
from engage.web.templating import render


@page("/login", methods=["GET", "POST"], access=Access.PUBLIC, name="login")
async def login(request: Request) -> Response:
    next_url = safe_next(request.query_params.get("next"), "/account")
    if request.method == "GET":
        return render(request, "auth/login.html", {"form": Form(), "next": next_url})
    form = await read_form(request, "email", "password")
    next_url = safe_next(str((await form_data(request)).get("next", "")), next_url)
    settings = request.app.state.settings
    try:
        result = await sign_in(
            form.get("email"),
            form.values.pop("password", ""),
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
            now=utcnow(),
            settings=settings,
        )
    except (InvalidInput, Throttled) as exc:
        form.message = exc.message
        status = 429 if isinstance(exc, Throttled) else 422
        response = render(
            request, "auth/login.html", {"form": form, "next": next_url}, status_code=status
        )
        if isinstance(exc, Throttled):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if result.complete:
        target = next_url
    else:
        step = "/account/two-factor/setup" if result.needs_enrolment else "/login/second-factor"
        target = f"{step}?next={quote(next_url, safe='/')}"
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, result.opened.key, settings)
    return response


@page("/logout", methods=["POST"], access=Access.PARTIAL, name="logout")
async def logout(request: Request) -> Response:
    settings = request.app.state.settings
    identity = await identify(request)
    await sign_out(
        request.cookies.get(session_cookie_name(settings), ""),
        user=identity.actor.user if identity.actor else None,
        ip=client_ip(request),
    )
    response = RedirectResponse("/", status_code=303)
    clear_session_cookie(response, settings)
    return response
