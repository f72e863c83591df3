"""Domain errors raised by services; the web and API layers map them to responses.

::

    EngageError
     ├── NotFound          404  (also a record outside the caller's scope)
     ├── PermissionDenied  403  (an action the caller's role may not take)
     ├── Conflict          409
     └── InvalidInput      422  (``fields`` maps a field name to what is wrong)
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
