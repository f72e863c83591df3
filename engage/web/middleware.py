"""ASGI middleware: request ids with one access-log line, and security headers."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engage.logs import request_id_var

access_log = logging.getLogger("engage.access")
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
#: Link tokens in paths (verify, reset, invite, rsvp, checkin, newsletter tracking) are
#: credentials: never logged, and never sent on as a referrer, whatever answers (an
#: error page too).
_TOKEN_PATH = re.compile(
    r"^(/verify|/password/reset|/invite|/rsvp|/checkin|/t/o|/t/c)/(?!resend$)[^/]+"
)

#: Pages are plain server-rendered HTML: no inline script, no third parties.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: https:; style-src 'self'; "
        "script-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class RequestContextMiddleware:
    """Gives each request an id (kept from ``X-Request-ID`` when well formed), echoes it
    in the response and logs one line per request with status and duration."""

    def __init__(self, app: ASGIApp, *, https: bool = False) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if _TOKEN_PATH.match(scope["path"]):
                    headers["Referrer-Policy"] = "no-referrer"
                if self.https:
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000")
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            path = _TOKEN_PATH.sub(r"\1/<token>", scope["path"])
            access_log.info(
                "%s %s %s",
                scope["method"],
                path,
                status,
                extra={
                    "method": scope["method"],
                    "path": path,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id_var.reset(token)
