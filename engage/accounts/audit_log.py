"""Reading the audit log (staff and admins): newest first, filtered, a page at a time.

::

    filters = parse_filters({"action": "alumnus.", "since": "2024-05-01"})
    page = await list_audit_events(filters, actor=staff, page=1)
    for event in page.rows: event.at, event.actor, event.action, event.target_type, ...

Filters: ``action`` (a prefix: "alumnus." finds every alumnus action), ``actor`` (part
of the acting account's email address; "system" for actions nobody signed in took),
``target_type`` and ``target_id`` (exact), ``since`` and ``until`` (dates, inclusive, in
UTC). A bad filter raises InvalidInput naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from engage.accounts.actor import Actor, require_role
from engage.accounts.models import AuditEvent, Role
from engage.errors import InvalidInput
from engage.i18n import _

PAGE_SIZE = 50
FILTER_FIELDS = ("action", "actor", "target_type", "target_id", "since", "until")
#: The ``actor`` filter value for actions taken by nobody signed in.
SYSTEM = "system"
_MAX = {"action": 64, "actor": 320, "target_type": 32, "target_id": 64}


@dataclass(frozen=True)
class AuditFilters:
    action: str = ""
    actor: str = ""
    target_type: str = ""
    target_id: str = ""
    since: date | None = None
    until: date | None = None

    def query_string(self, **extra: object) -> str:
        """The filters (and ``extra``, e.g. a page) as a URL query, empty ones left out."""
        values = {k: ("" if v is None else str(v)) for k, v in asdict(self).items()}
        values.update({k: str(v) for k, v in extra.items()})
        return urlencode({k: v for k, v in values.items() if v})

    @property
    def active(self) -> bool:
        return any(v not in ("", None) for v in asdict(self).values())


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditEvent]
    total: int
    page: int
    pages: int
    filters: AuditFilters


def parse_filters(params: Mapping[str, str]) -> AuditFilters:
    """Filters from a query string; InvalidInput names each bad one."""
    errors: dict[str, str] = {}
    text: dict[str, str] = {}
    for name, limit in _MAX.items():
        value = " ".join(str(params.get(name, "")).split())
        if len(value) > limit:
            errors[name] = _("At most %(n)s characters.", n=limit)
        text[name] = value
    dates: dict[str, date | None] = {}
    for name in ("since", "until"):
        raw = str(params.get(name, "")).strip()
        try:
            dates[name] = date.fromisoformat(raw) if raw else None
        except ValueError:
            errors[name] = _("A date like 2024-05-31.")
            dates[name] = None
    since, until = dates["since"], dates["until"]
    if since and until and since > until:
        errors["until"] = _("The end date comes before the start date.")
    if errors:
        raise InvalidInput(_("Please correct the marked filters."), fields=errors)
    return AuditFilters(
        action=text["action"],
        actor=text["actor"].lower(),
        target_type=text["target_type"],
        target_id=text["target_id"],
        since=since,
        until=until,
    )


async def list_audit_events(
    filters: AuditFilters, *, actor: Actor, page: int = 1, per_page: int = PAGE_SIZE
) -> AuditPage:
    """One page of events matching ``filters``, newest first (staff and admins)."""
    require_role(actor, Role.STAFF)
    query = AuditEvent.all()
    if filters.action:
        query = query.filter(action__startswith=filters.action)
    if filters.actor == SYSTEM:
        query = query.filter(actor_id__isnull=True)
    elif filters.actor:
        query = query.filter(actor__email_key__contains=filters.actor)
    if filters.target_type:
        query = query.filter(target_type=filters.target_type)
    if filters.target_id:
        query = query.filter(target_id=filters.target_id)
    if filters.since:
        query = query.filter(at__gte=datetime.combine(filters.since, time.min, tzinfo=UTC))
    if filters.until:
        end = datetime.combine(filters.until + timedelta(days=1), time.min, tzinfo=UTC)
        query = query.filter(at__lt=end)
    total = await query.count()
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    rows = (
        await query.select_related("actor")
        .order_by("-at", "-id")
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return AuditPage(rows=rows, total=total, page=page, pages=pages, filters=filters)
