"""Who may see a page. Accounts and roles arrive with the Accounts issue; until then
admin pages answer only to requests from this machine (the embedded default binds
to loopback), which is the narrowest rule that keeps them usable."""

from __future__ import annotations

from ipaddress import ip_address

from starlette.requests import Request

from engage.errors import PermissionDenied


def require_admin(request: Request) -> None:
    host = request.client.host if request.client else ""
    try:
        local = ip_address(host).is_loopback
    except ValueError:
        local = host in ("testclient", "localhost")
    if not local:
        raise PermissionDenied("Administrators only.")
