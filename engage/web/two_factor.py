"""Two-factor authentication pages: the second step of signing in, enrolment, and
managing it from the account (recovery codes, a new authenticator, turning it off)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import segno
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from engage.accounts.actor import load_actor
from engage.accounts.mfa import (
    SignInExpired,
    Step,
    confirm_enrolment,
    disable_two_factor,
    pending_step,
    regenerate_recovery_codes,
    reset_authenticator,
    start_enrolment,
    two_factor_status,
    verify_second_factor,
)
from engage.accounts.models import Session
from engage.accounts.sessions import OpenSession
from engage.clock import utcnow
from engage.errors import Conflict, InvalidInput, Throttled
from engage.web.forms import Form, read_form
from engage.web.identity import (
    Identity,
    clear_session_cookie,
    client_ip,
    identify,
    set_session_cookie,
)
from engage.web.routing import Access, form_data, page, safe_next
from engage.web.templating import render

_SETUP = "/account/two-factor/setup"
_MANAGE = "/account/two-factor"
_VERIFY = "/login/second-factor"


# --- Signing in ---------------------------------------------------------------------


@page(_VERIFY, methods=["GET", "POST"], access=Access.PARTIAL, name="second_factor")
async def second_factor(request: Request) -> Response:
    session = await _session(request)
    next_url = await _next(request)
    step = pending_step(session)
    if step is not Step.VERIFY:
        return _redirect(next_url if step is Step.DONE else _with_next(_SETUP, next_url))
    if request.method == "GET":
        return _verify_page(request, Form(), next_url)
    form = await read_form(request, "code")
    try:
        passed = await verify_second_factor(session, form.values.pop("code", ""), **_ctx(request))
    except SignInExpired:
        response = _redirect(_with_next("/login", next_url))
        clear_session_cookie(response, request.app.state.settings)
        return response
    except (InvalidInput, Throttled) as exc:
        return _verify_page(request, _failed(form, exc), next_url, exc)
    return _signed_in(request, _redirect(next_url), passed.opened)


def _verify_page(
    request: Request, form: Form, next_url: str, exc: Exception | None = None
) -> Response:
    return _form_page(request, "two_factor/verify.html", {"form": form, "next": next_url}, exc)


# --- Enrolment ----------------------------------------------------------------------


@page(_SETUP, methods=["GET", "POST"], access=Access.PARTIAL, name="two_factor_setup")
async def setup(request: Request) -> Response:
    session = await _session(request)
    next_url = await _next(request)
    if pending_step(session) is Step.VERIFY:
        return _redirect(_with_next(_VERIFY, next_url))
    if request.method == "GET":
        return await _setup_page(request, session, Form(), next_url)
    form = await read_form(request, "code")
    try:
        done = await confirm_enrolment(session, form.values.pop("code", ""), **_ctx(request))
    except Conflict:
        return _redirect(_MANAGE)
    except (InvalidInput, Throttled) as exc:
        return await _setup_page(request, session, _failed(form, exc), next_url, exc)
    await _now_signed_in(request, done.opened)
    response = render(
        request,
        "two_factor/recovery_codes.html",
        {"codes": done.recovery_codes, "next": next_url, "just_enabled": True},
    )
    return _signed_in(request, response, done.opened)


async def _setup_page(
    request: Request, session: Session, form: Form, next_url: str, exc: Exception | None = None
) -> Response:
    try:
        enrolment = await start_enrolment(session.user, settings=request.app.state.settings)
    except Conflict:
        return _redirect(_MANAGE)
    context = {
        "form": form,
        "next": next_url,
        "secret_groups": [enrolment.secret[i : i + 4] for i in range(0, len(enrolment.secret), 4)],
        "qr": segno.make(enrolment.uri, error="m").svg_data_uri(scale=5, light="#fff"),
        "uri": enrolment.uri,
        "required": not session.mfa_passed,
    }
    return _form_page(request, "two_factor/setup.html", context, exc)


# --- Managing -----------------------------------------------------------------------


@page(_MANAGE, access=Access.ALUMNUS, name="two_factor")
async def manage(request: Request) -> Response:
    return await _manage_page(request, Form(), "")


@page(
    f"{_MANAGE}/recovery-codes",
    methods=["POST"],
    access=Access.ALUMNUS,
    name="two_factor_recovery_codes",
)
async def new_recovery_codes(request: Request) -> Response:
    identity = await identify(request)
    assert identity.actor is not None
    form = await read_form(request, "password")
    ctx = _ctx(request)
    try:
        codes = await regenerate_recovery_codes(
            identity.actor.user,
            form.values.pop("password", ""),
            ip=ctx["ip"],
            now=ctx["now"],
            settings=ctx["settings"],
        )
    except (InvalidInput, Throttled) as exc:
        return await _manage_page(request, _failed(form, exc), "codes", exc)
    return render(
        request,
        "two_factor/recovery_codes.html",
        {"codes": codes, "next": _MANAGE, "just_enabled": False},
    )


@page(f"{_MANAGE}/disable", methods=["POST"], access=Access.ALUMNUS, name="two_factor_disable")
async def disable(request: Request) -> Response:
    session = await _session(request)
    form = await read_form(request, "password")
    try:
        opened = await disable_two_factor(session, form.values.pop("password", ""), **_ctx(request))
    except (InvalidInput, Throttled) as exc:
        return await _manage_page(request, _failed(form, exc), "disable", exc)
    return _signed_in(request, _redirect(f"{_MANAGE}?done=disabled"), opened)


@page(f"{_MANAGE}/reset", methods=["POST"], access=Access.ALUMNUS, name="two_factor_reset")
async def reset(request: Request) -> Response:
    session = await _session(request)
    form = await read_form(request, "password")
    try:
        opened = await reset_authenticator(
            session, form.values.pop("password", ""), **_ctx(request)
        )
    except (InvalidInput, Throttled) as exc:
        return await _manage_page(request, _failed(form, exc), "reset", exc)
    return _signed_in(request, _redirect(_with_next(_SETUP, _MANAGE)), opened)


async def _manage_page(
    request: Request, form: Form, failed: str, exc: Exception | None = None
) -> Response:
    identity = await identify(request)
    assert identity.actor is not None
    context = {
        "status": await two_factor_status(identity.actor.user),
        "form": form,
        "failed": failed,
        "done": request.query_params.get("done", ""),
    }
    return _form_page(request, "two_factor/manage.html", context, exc)


# --- Helpers ------------------------------------------------------------------------


async def _session(request: Request) -> Session:
    identity = await identify(request)
    assert identity.session is not None  # the guard admits only session holders here
    return identity.session


async def _next(request: Request) -> str:
    """Where to go once signed in: ``next`` from the form or the query, local only."""
    wanted = request.query_params.get("next")
    if request.method == "POST":
        wanted = str((await form_data(request)).get("next", "")) or wanted
    return safe_next(wanted, "/account")


def _ctx(request: Request) -> dict[str, Any]:
    return {
        "ip": client_ip(request),
        "user_agent": request.headers.get("user-agent", ""),
        "now": utcnow(),
        "settings": request.app.state.settings,
    }


def _with_next(path: str, next_url: str) -> str:
    return f"{path}?next={quote(next_url, safe='/')}"


def _redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


def _failed(form: Form, exc: Exception) -> Form:
    if isinstance(exc, InvalidInput):
        form.message = exc.message
        form.errors = dict(exc.fields)
    elif isinstance(exc, Throttled):
        form.message = exc.message
    return form


def _form_page(
    request: Request, template: str, context: dict[str, Any], exc: Exception | None
) -> Response:
    status = 200 if exc is None else 429 if isinstance(exc, Throttled) else 422
    response = render(request, template, context, status_code=status)
    if isinstance(exc, Throttled):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def _now_signed_in(request: Request, opened: OpenSession) -> None:
    """The page rendered with the new session shows the signed-in navigation."""
    user = opened.session.user
    request.state.identity = Identity(actor=await load_actor(user), session=opened.session)


def _signed_in(request: Request, response: Response, opened: OpenSession) -> Response:
    set_session_cookie(response, opened.key, request.app.state.settings)
    return response
