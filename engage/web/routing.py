"""Every route is classified: who may call it. One decorator declares a page and its
class; one wrapper enforces it (and CSRF) before the handler runs.

::

    @page("/account", access=Access.ALUMNUS)
    async def account(request: Request) -> Response: ...

    @page("/login", methods=["GET", "POST"], access=Access.PUBLIC)
    async def login(request: Request) -> Response: ...   # POST checks CSRF first

Classes, from open to narrow: ``public`` (anyone), ``partial`` (signed in with a
password, second factor pending), ``token`` (API: a bearer token or a session),
``alumnus`` (any signed-in person), ``attache`` (attachés, staff and admins;
services narrow attachés to their embassies' countries), ``staff``, ``admin``.

Without a session a page redirects to ``/login``; the API answers 401. A role too
low answers 403. State-changing methods need the CSRF token (form field
``csrf_token`` or header ``X-CSRF-Token``) unless the call carries a bearer token or
the route is declared ``csrf_exempt`` (only RFC 8058 one-click unsubscribe).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from engage.accounts.models import Role
from engage.errors import PermissionDenied, Unauthenticated
from engage.i18n import _
from engage.settings import Settings
from engage.web.identity import csrf_cookie_name, identify

Handler = Callable[[Request], Awaitable[Response]]
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Access(StrEnum):
    PUBLIC = "public"
    PARTIAL = "partial"
    TOKEN = "token"  # noqa: S105 - an access class, not a secret
    ALUMNUS = "alumnus"
    ATTACHE = "attache"
    STAFF = "staff"
    ADMIN = "admin"


#: The least role each class admits (None: no sign-in needed).
MIN_ROLE: dict[Access, Role | None] = {
    Access.PUBLIC: None,
    Access.PARTIAL: None,
    Access.TOKEN: Role.ALUMNUS,
    Access.ALUMNUS: Role.ALUMNUS,
    Access.ATTACHE: Role.ATTACHE,
    Access.STAFF: Role.STAFF,
    Access.ADMIN: Role.ADMIN,
}


@dataclass(frozen=True)
class PageSpec:
    path: str
    handler: Handler
    methods: tuple[str, ...]
    access: Access
    name: str
    csrf_exempt: bool
    when: Callable[[Settings], bool] | None
    max_files: int = 0


_PAGES: list[PageSpec] = []


def page(
    path: str,
    *,
    access: Access,
    methods: Iterable[str] = ("GET",),
    name: str | None = None,
    csrf_exempt: bool = False,
    when: Callable[[Settings], bool] | None = None,
    max_files: int = 0,
) -> Callable[[Handler], Handler]:
    """Declare an HTML route with its access class (``when``: only in some set-ups;
    ``max_files``: file uploads its multipart form may carry, none by default)."""

    def register(handler: Handler) -> Handler:
        _PAGES.append(
            PageSpec(
                path=path,
                handler=handler,
                methods=tuple(m.upper() for m in methods),
                access=access,
                name=name or handler.__name__,
                csrf_exempt=csrf_exempt,
                when=when,
                max_files=max_files,
            )
        )
        return handler

    return register


def page_routes(settings: Settings) -> list[Route]:
    """The declared pages as routes. Paths with fewer parameters match first, so a
    fixed path (``/alumni/pending``) is never taken by a parameter (``/alumni/{id}``),
    whatever the order the page modules were imported in."""
    specs = sorted(_PAGES, key=lambda spec: spec.path.count("{"))
    return [
        Route(
            spec.path,
            guarded(
                spec.handler,
                access=spec.access,
                csrf_exempt=spec.csrf_exempt,
                api=False,
                max_files=spec.max_files,
            ),
            methods=list(spec.methods),
            name=spec.name,
        )
        for spec in specs
        if spec.when is None or spec.when(settings)
    ]


async def form_data(request: Request) -> FormData:
    """The request's form, parsed once (the guard reads it for the CSRF check). Files
    only where the route allows them (``page(..., max_files=1)``)."""
    cached = getattr(request.state, "form", None)
    if cached is None:
        max_files = getattr(request.state, "max_files", 0)
        cached = await request.form(max_files=max_files, max_fields=200)
        request.state.form = cached
    return cached


async def _check_csrf(request: Request) -> None:
    settings: Settings = request.app.state.settings
    cookie = request.cookies.get(csrf_cookie_name(settings), "")
    sent = request.headers.get("x-csrf-token", "")
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = str((await form_data(request)).get("csrf_token", ""))
    if len(cookie) < 32 or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise PermissionDenied(
            _(
                "This form has expired or did not come from this site. Go back, reload the "
                "page and try again."
            )
        )


def guarded(
    handler: Handler, *, access: Access, csrf_exempt: bool, api: bool, max_files: int = 0
) -> Handler:
    """Wrap ``handler`` with the access check of its class, and CSRF."""

    async def checked(request: Request) -> Response:
        identity = await identify(request)
        minimum = MIN_ROLE[access]
        if api and identity.session is None and not identity.bearer and minimum is not None:
            # An API call with no credentials at all: say so (401) rather than
            # complain about a missing CSRF token.
            return _sign_in_first(request, api)
        if request.method in UNSAFE and not csrf_exempt and not identity.bearer:
            await _check_csrf(request)
        if access is Access.PARTIAL:
            if identity.session is None:
                return _sign_in_first(request, api)
        elif minimum is not None:
            if identity.actor is None:
                return _sign_in_first(request, api)
            if identity.partial:
                if api:
                    raise Unauthenticated(_("Complete the sign-in first."))
                return RedirectResponse("/login/second-factor", status_code=303)
            if not identity.actor.at_least(minimum):
                raise PermissionDenied(_("You are not allowed to see this page."))
        response = await handler(request)
        if identity.actor is not None:
            # Pages with personal data are never stored by browsers or proxies.
            response.headers["Cache-Control"] = "no-store"
        return response

    async def endpoint(request: Request) -> Response:
        request.state.max_files = max_files
        try:
            return await checked(request)
        finally:
            form = getattr(request.state, "form", None)
            if max_files and form is not None:
                await form.close()  # uploaded files' temporary copies

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    endpoint.__access__ = access  # type: ignore[attr-defined]
    endpoint.__csrf_exempt__ = csrf_exempt  # type: ignore[attr-defined]
    return endpoint


def _sign_in_first(request: Request, api: bool) -> Response:
    if api:
        raise Unauthenticated(_("Sign in, or send an API token: Authorization: Bearer <token>."))
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def safe_next(value: str | None, default: str = "/") -> str:
    """A local path to go to after sign-in (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value
