"""Who is calling: the session cookie (pages) or a bearer token (API), the client IP
(from proxy headers only behind a trusted proxy), and the cookies that carry them."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from engage.accounts.actor import Actor, load_actor
from engage.accounts.api_tokens import authenticate_token
from engage.accounts.models import Session
from engage.accounts.sessions import load_session
from engage.clock import utcnow
from engage.errors import Unauthenticated
from engage.i18n import _
from engage.settings import Settings


@dataclass(frozen=True)
class Identity:
    actor: Actor | None
    session: Session | None
    #: Authenticated by ``Authorization: Bearer`` (no cookies, no CSRF).
    bearer: bool = False

    @property
    def partial(self) -> bool:
        """Signed in with a password, second factor still to come."""
        return self.session is not None and not self.session.mfa_passed


ANONYMOUS = Identity(actor=None, session=None)


def _secure(settings: Settings) -> bool:
    return settings.app.base_url.startswith("https:")


def session_cookie_name(settings: Settings) -> str:
    # The __Host- prefix requires Secure; over plain http (local use) browsers refuse it.
    return "__Host-engage_session" if _secure(settings) else "engage_session"


def csrf_cookie_name(settings: Settings) -> str:
    return "__Host-engage_csrf" if _secure(settings) else "engage_csrf"


def set_session_cookie(response: Response, key: str, settings: Settings) -> None:
    response.set_cookie(
        session_cookie_name(settings),
        key,
        max_age=settings.security.session_absolute_hours * 3600,
        path="/",
        secure=_secure(settings),
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        session_cookie_name(settings), path="/", secure=_secure(settings), httponly=True
    )


def csrf_token(request: Request) -> str:
    """The request's CSRF token (the cookie's value; a new one if there is none).

    ``render`` sets the cookie when it was new, so a form and its cookie match.
    """
    settings: Settings = request.app.state.settings
    token = getattr(request.state, "csrf_token", None)
    if token is None:
        token = request.cookies.get(csrf_cookie_name(settings), "")
        if len(token) < 32 or len(token) > 100:
            token = secrets.token_urlsafe(32)
            request.state.csrf_new = True
        request.state.csrf_token = token
    return token


def set_csrf_cookie(response: Response, request: Request) -> None:
    settings: Settings = request.app.state.settings
    if getattr(request.state, "csrf_new", False):
        response.set_cookie(
            csrf_cookie_name(settings),
            request.state.csrf_token,
            path="/",
            secure=_secure(settings),
            httponly=True,
            samesite="lax",
        )


def client_ip(request: Request) -> str:
    settings: Settings = request.app.state.settings
    peer = request.client.host if request.client else ""
    proxies = settings.security.trusted_proxies
    if not proxies or not peer:
        return peer
    try:
        peer_ip = ipaddress.ip_address(peer)
    except ValueError:
        return peer
    if not any(peer_ip in ipaddress.ip_network(p, strict=False) for p in proxies):
        return peer
    # The right-most address the trusted proxy saw is the client.
    forwarded = request.headers.get("x-forwarded-for", "")
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        try:
            hop_ip = ipaddress.ip_address(hop)
        except ValueError:
            break
        if not any(hop_ip in ipaddress.ip_network(p, strict=False) for p in proxies):
            return hop
    return peer


async def identify(request: Request) -> Identity:
    """Resolve (once per request) who is calling."""
    cached = getattr(request.state, "identity", None)
    if cached is not None:
        return cached
    settings: Settings = request.app.state.settings
    identity = ANONYMOUS
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        user = await authenticate_token(header[7:].strip())
        if user is not None:
            identity = Identity(actor=await load_actor(user), session=None, bearer=True)
    else:
        key = request.cookies.get(session_cookie_name(settings), "")
        if key:
            session = await load_session(key, now=utcnow(), security=settings.security)
            if session is not None:
                identity = Identity(actor=await load_actor(session.user), session=session)
    request.state.identity = identity
    return identity


async def current_actor(request: Request) -> Actor:
    """The signed-in actor of a route whose guard already demanded one (its class is
    above ``public``): raises Unauthenticated only if a route was misclassified."""
    identity = await identify(request)
    if identity.actor is None:
        raise Unauthenticated(_("Sign in first."))
    return identity.actor
