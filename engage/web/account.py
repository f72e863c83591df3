"""The signed-in person's own account: ``/account`` and its actions.

Each action is a small form posting to its own address; success redirects back to
``/account?done=<what>`` (a fixed message, never text from the address), failure
shows the page again with that form's errors. Actions need a real session: an API
token does not change passwords or mint more tokens.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from engage.accounts.api_tokens import create_api_token, list_api_tokens, revoke_api_token
from engage.accounts.models import Session, User
from engage.accounts.profile import (
    LANGUAGES,
    account_summary,
    cancel_email_change,
    change_password,
    end_own_session,
    request_email_change,
    sign_out_everywhere,
    timezone_choices,
    update_preferences,
)
from engage.accounts.sessions import list_sessions
from engage.clock import utcnow
from engage.errors import EngageError, InvalidInput, PermissionDenied, Throttled
from engage.i18n import N_, _
from engage.web.failures import form_failure, path_id
from engage.web.forms import Form, read_form
from engage.web.identity import clear_session_cookie, client_ip, identify, set_session_cookie
from engage.web.routing import Access, page
from engage.web.templating import render

#: What ``?done=`` may say.
DONE = {
    "password": N_("Your password has been changed. Other devices were signed out."),
    "email": N_(
        "We sent a link to the new address. The change happens when you follow it; "
        "your current address was told."
    ),
    "email_cancelled": N_("The change of address was cancelled."),
    "preferences": N_("Your preferences are saved."),
    "session": N_("That device was signed out."),
    "token_revoked": N_("The token was revoked. Programs using it can no longer sign in."),
}
FORMS = ("password", "email", "preferences", "token")
TWO_FACTOR_PATH = "/account/two-factor"


async def _own(request: Request) -> tuple[User, Session]:
    """The person and their browser session (API tokens may not act here)."""
    identity = await identify(request)
    if identity.actor is None or identity.session is None:
        raise PermissionDenied(_("Sign in with your password to change your account."))
    return identity.actor.user, identity.session


async def _context(request: Request, user: User, session: Session) -> dict[str, Any]:
    done = request.query_params.get("done", "")
    return {
        "summary": await account_summary(user),
        "sessions": await list_sessions(user),
        "current_session": session.id,
        "tokens": await list_api_tokens(user),
        "timezones": [(zone, zone.replace("_", " ")) for zone in timezone_choices()],
        "two_factor_path": _two_factor_path(request),
        "languages": LANGUAGES,
        "done": _(DONE[done]) if done in DONE else "",
        **{f"{name}_form": Form() for name in FORMS},
    }


async def _failed(
    request: Request, user: User, session: Session, name: str, form: Form, exc: EngageError
) -> Response:
    context = await _context(request, user, session)
    return form_failure(request, "account/index.html", form, exc, context, form_name=f"{name}_form")


def _two_factor_path(request: Request) -> str | None:
    """Where second factors are managed, once that page exists."""
    paths = {getattr(route, "path", "") for route in request.app.routes}
    return TWO_FACTOR_PATH if TWO_FACTOR_PATH in paths else None


def _done(what: str) -> Response:
    return RedirectResponse(f"/account?done={what}", status_code=303)


@page("/account", access=Access.ALUMNUS, name="account")
async def account(request: Request) -> Response:
    user, session = await _own(request)
    return render(request, "account/index.html", await _context(request, user, session))


@page("/account/password", methods=["POST"], access=Access.ALUMNUS, name="account_password")
async def password(request: Request) -> Response:
    user, session = await _own(request)
    form = await read_form(request, "current_password", "new_password")
    settings = request.app.state.settings
    try:
        opened = await change_password(
            user,
            form.values.pop("current_password", ""),
            form.values.pop("new_password", ""),
            session=session,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
            now=utcnow(),
            settings=settings,
        )
    except (InvalidInput, Throttled) as exc:
        return await _failed(request, user, session, "password", form, exc)
    response = _done("password")
    set_session_cookie(response, opened.key, settings)
    return response


@page("/account/email", methods=["POST"], access=Access.ALUMNUS, name="account_email")
async def email(request: Request) -> Response:
    user, session = await _own(request)
    form = await read_form(request, "new_email", "current_password")
    try:
        await request_email_change(
            user,
            form.get("new_email"),
            form.values.pop("current_password", ""),
            ip=client_ip(request),
            now=utcnow(),
            settings=request.app.state.settings,
        )
    except (InvalidInput, Throttled) as exc:
        return await _failed(request, user, session, "email", form, exc)
    return _done("email")


@page("/account/email/cancel", methods=["POST"], access=Access.ALUMNUS, name="account_email_cancel")
async def email_cancel(request: Request) -> Response:
    user, _session = await _own(request)
    await cancel_email_change(user)
    return _done("email_cancelled")


@page("/account/preferences", methods=["POST"], access=Access.ALUMNUS, name="account_preferences")
async def preferences(request: Request) -> Response:
    user, session = await _own(request)
    form = await read_form(request, "timezone", "language")
    try:
        await update_preferences(user, timezone=form.get("timezone"), language=form.get("language"))
    except InvalidInput as exc:
        return await _failed(request, user, session, "preferences", form, exc)
    return _done("preferences")


@page(
    "/account/sessions/{session_id}/end",
    methods=["POST"],
    access=Access.ALUMNUS,
    name="account_session_end",
)
async def session_end(request: Request) -> Response:
    user, _session = await _own(request)
    await end_own_session(user, path_id(request, "session_id"), ip=client_ip(request))
    return _done("session")


@page(
    "/account/sessions/end-all",
    methods=["POST"],
    access=Access.ALUMNUS,
    name="account_sign_out_everywhere",
)
async def sign_out_all(request: Request) -> Response:
    user, _session = await _own(request)
    await sign_out_everywhere(user, ip=client_ip(request))
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, request.app.state.settings)
    return response


@page("/account/tokens", methods=["POST"], access=Access.ALUMNUS, name="account_token_create")
async def token_create(request: Request) -> Response:
    user, session = await _own(request)
    form = await read_form(request, "name")
    try:
        raw, token = await create_api_token(user, name=form.get("name"))
    except InvalidInput as exc:
        return await _failed(request, user, session, "token", form, exc)
    # Shown once, on this page only: it is stored hashed.
    return render(request, "account/token_created.html", {"raw": raw, "token": token})


@page(
    "/account/tokens/{token_id}/revoke",
    methods=["POST"],
    access=Access.ALUMNUS,
    name="account_token_revoke",
)
async def token_revoke(request: Request) -> Response:
    user, _session = await _own(request)
    await revoke_api_token(user, path_id(request, "token_id"))
    return _done("token_revoked")
