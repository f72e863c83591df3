"""``/admin/audit``: the audit log for staff and admins, newest first, with filters
(action prefix, actor email, target type and id, date range) and pages of 50."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from engage.accounts.audit_log import (
    FILTER_FIELDS,
    AuditFilters,
    AuditPage,
    list_audit_events,
    parse_filters,
)
from engage.errors import InvalidInput
from engage.web.forms import Form
from engage.web.identity import current_actor
from engage.web.routing import Access, page
from engage.web.templating import render


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < len(raw) < 7 else 1


@page("/admin/audit", access=Access.STAFF, name="audit_log")
async def audit_log(request: Request) -> Response:
    actor = await current_actor(request)
    params = {name: request.query_params.get(name, "") for name in FILTER_FIELDS}
    form = Form(values={name: value.strip() for name, value in params.items()})
    status = 200
    try:
        filters = parse_filters(params)
    except InvalidInput as exc:
        # Show what was typed and what is wrong, with no rows rather than wrong ones.
        form.errors, form.message = exc.fields, exc.message
        listing = AuditPage(rows=[], total=0, page=1, pages=1, filters=AuditFilters())
        status = exc.status_code
    else:
        listing = await list_audit_events(filters, actor=actor, page=_page_number(request))
    return render(
        request, "admin/audit.html", {"form": form, "listing": listing}, status_code=status
    )
