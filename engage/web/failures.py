"""A form that failed: render it again with what was typed and what is wrong (and
numeric ids read from the path).

::

    try:
        await register_alumnus(...)
    except (InvalidInput, Throttled) as exc:
        return form_failure(request, "auth/register.html", form, exc)

The status is the error's (422, 429 with ``Retry-After``, 403, 404, 409); password
fields are never echoed back.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from engage.errors import EngageError, NotFound, Throttled
from engage.i18n import _
from engage.web.forms import Form
from engage.web.templating import render


def form_failure(
    request: Request,
    template: str,
    form: Form,
    exc: EngageError,
    context: dict[str, Any] | None = None,
    *,
    form_name: str = "form",
) -> Response:
    form.errors.update(exc.fields)
    form.message = exc.message
    for name in list(form.values):
        if "password" in name:
            del form.values[name]
    response = render(
        request, template, {**(context or {}), form_name: form}, status_code=exc.status_code
    )
    if isinstance(exc, Throttled):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def path_id(request: Request, name: str) -> int:
    """A numeric id from the path (404 otherwise). Routes declare ``{name}`` without
    a converter, so the access check answers first whatever the path holds."""
    raw = str(request.path_params.get(name, ""))
    if not raw.isdigit() or len(raw) > 18:
        raise NotFound(_("Not found."))
    return int(raw)
