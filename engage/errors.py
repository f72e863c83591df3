"""Domain errors raised by services; the web and API layers map them to responses.

::

    EngageError
     ├── Unauthenticated   401  (pages redirect to /login)
     ├── PermissionDenied  403  (an action the caller's role may not take)
     ├── NotFound          404  (also a record outside the caller's scope)
     ├── Conflict          409
     ├── InvalidInput      422  (``fields`` maps a field name to what is wrong)
     └── Throttled         429  (``retry_after`` seconds)
"""

from __future__ import annotations


class EngageError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class NotFound(EngageError):
    status_code = 404
    code = "not_found"


class PermissionDenied(EngageError):
    status_code = 403
    code = "forbidden"


class Conflict(EngageError):
    status_code = 409
    code = "conflict"


class InvalidInput(EngageError):
    status_code = 422
    code = "invalid_input"


class Unauthenticated(EngageError):
    """Sign in first (pages redirect to /login; the API answers 401)."""

    status_code = 401
    code = "unauthenticated"


class Throttled(EngageError):
    """Too many attempts: try again after ``retry_after`` seconds (429)."""

    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
