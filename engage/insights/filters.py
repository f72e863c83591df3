"""The report filter: a date range and the scope, and the people every report starts
from.

::

    flt = parse_report_filter(request.query_params)    # InvalidInput names each field
    flt = report_filter(date_from=date(2025, 1, 1), country=["KE"], class_year_min=2015)
    people = await population(flt, actor=attache)      # a QuerySet: live, confirmed, in scope
    start, end = flt.period                            # aware UTC, end exclusive (or None)

The scope fields (``country``, ``region``, ``embassy``, ``course_category``,
``class_year_min``, ``class_year_max``) are those of the shared audience filter
(``engage.alumni.audience``), so they mean the same everywhere: an attaché sees the
countries their embassies are accredited to, an embassy that is not theirs answers
404, and the training criteria meet in one training record. The date range is whole
days in UTC, both ends included; what it selects is each report's to say (contacts in
the period, events that started in it, promotions dated in it, training that ended in
it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tortoise.queryset import QuerySet

from engage.accounts.actor import Actor, require_role
from engage.accounts.models import Role
from engage.alumni.audience import AudienceFilter, QueryParams, audience_query, check_filter
from engage.alumni.audience import filter_from as audience_filter_from
from engage.alumni.models import Alumnus, TrainingRecord, Vetting
from engage.errors import InvalidInput
from engage.i18n import _

#: The scope fields, as the shared audience filter names them.
SCOPE_FIELDS = (
    "country",
    "region",
    "embassy",
    "course_category",
    "class_year_min",
    "class_year_max",
)
DATE_FIELDS = ("date_from", "date_to")
FIELDS = (*DATE_FIELDS, *SCOPE_FIELDS)
FIRST_YEAR, LAST_YEAR = 1940, 2100


@dataclass(frozen=True)
class ReportFilter:
    """What a report looks at: the scope and, when given, a period of whole days."""

    scope: AudienceFilter = field(default_factory=AudienceFilter)
    date_from: date | None = None
    date_to: date | None = None

    @property
    def period(self) -> tuple[datetime | None, datetime | None]:
        """The date range as aware UTC instants: the first day's start and the day
        after the last day (exclusive); None where open."""
        start = datetime.combine(self.date_from, time(), UTC) if self.date_from else None
        end = (
            datetime.combine(self.date_to + timedelta(days=1), time(), UTC)
            if self.date_to
            else None
        )
        return start, end

    @property
    def has_period(self) -> bool:
        return self.date_from is not None or self.date_to is not None

    @property
    def training_criteria(self) -> bool:
        """A course category or class years: criteria on training records."""
        return self.scope.training_criteria

    def to_json(self) -> dict[str, Any]:
        """The fields that are set, JSON-ready."""
        found: dict[str, Any] = {}
        if self.date_from:
            found["date_from"] = self.date_from.isoformat()
        if self.date_to:
            found["date_to"] = self.date_to.isoformat()
        return {**found, **self.scope.to_json()}

    def query_items(self) -> list[tuple[str, str]]:
        """The fields that are set as query-string pairs (countries repeated)."""
        items = [("date_from", self.date_from.isoformat())] if self.date_from else []
        if self.date_to:
            items.append(("date_to", self.date_to.isoformat()))
        return items + self.scope.query_items()


def report_filter(
    *, date_from: date | None = None, date_to: date | None = None, **scope: Any
) -> ReportFilter:
    """A filter from values (code and tests); raises InvalidInput like the parser."""
    _check_range(date_from, date_to)
    return ReportFilter(scope=_scope(scope), date_from=date_from, date_to=date_to)


def parse_report_filter(params: QueryParams | Mapping[str, Any]) -> ReportFilter:
    """The filter in a query string or form; other keys are ignored.

    Raises InvalidInput naming each bad field in words people read.
    """
    data: dict[str, Any] = {}
    for name in SCOPE_FIELDS:
        if name == "country" and hasattr(params, "getlist"):
            values = [str(v) for v in params.getlist(name)]
            if values:
                data[name] = values
        elif (value := params.get(name)) is not None:
            data[name] = value
    errors: dict[str, str] = {}
    dates: dict[str, date | None] = {}
    for name in DATE_FIELDS:
        try:
            dates[name] = _date(params.get(name))
        except ValueError:
            errors[name] = _("A date, e.g. 2025-01-31.")
    try:
        scope = _scope(data)
    except InvalidInput as exc:
        errors.update(exc.fields)
    if errors:
        raise InvalidInput(_("Please correct the marked fields."), fields=errors)
    _check_range(dates["date_from"], dates["date_to"])
    return ReportFilter(scope=scope, date_from=dates["date_from"], date_to=dates["date_to"])


async def population(flt: ReportFilter, *, actor: Actor) -> QuerySet[Alumnus]:
    """The people a report counts: live, confirmed alumni the scope selects, within
    the actor's reach (attachés, staff, admins; others 403; an embassy not the
    attaché's 404)."""
    require_role(actor, Role.ATTACHE)
    await check_filter(flt.scope, actor=actor)
    # "Not pending" rather than "confirmed" (the same, there being two states): a
    # condition no index serves, so the database reads people by their country when
    # the scope names some, else scans them once, rather than following the index on
    # vetting to nearly every row.
    return audience_query(flt.scope, actor=actor).exclude(vetting=Vetting.PENDING)


def audience_for(flt: ReportFilter, **criteria: Any) -> AudienceFilter:
    """The shared audience filter of the report's people with ``criteria`` added:
    what a saved segment of a report's list keeps."""
    return audience_filter_from(
        {**flt.scope.to_json(), "vetting": Vetting.CONFIRMED.value, **criteria}
    )


# --- Helpers ----------------------------------------------------------------------------


def _scope(data: Mapping[str, Any]) -> AudienceFilter:
    unknown = set(data) - set(SCOPE_FIELDS)
    if unknown:
        raise InvalidInput(
            _("Please correct the marked fields."),
            fields={name: _("Unknown field.") for name in sorted(unknown)},
        )
    return audience_filter_from(data)


def _date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    text = str(value).strip()
    if not text:
        return None
    if len(text) != 10:
        raise ValueError(text)
    found = date.fromisoformat(text)
    if not FIRST_YEAR <= found.year <= LAST_YEAR:
        raise ValueError(text)
    return found


def _check_range(first: date | None, last: date | None) -> None:
    if first and last and first > last:
        raise InvalidInput(
            _("Please correct the marked fields."),
            fields={"date_to": _("The last day must not be before the first.")},
        )


def training_conditions(
    flt: ReportFilter, *, period: bool = False, t: str = "t", c: str = "c"
) -> tuple[list[str], dict[str, Any]]:
    """SQL conditions on training records ``t`` (their course ``c``): the filter's
    course category and class years, and with ``period`` the training's end in the
    date range; their ``:name`` values."""
    where = ["1 = 1"]
    values: dict[str, Any] = {}
    scope = flt.scope
    if scope.course_category is not None:
        where.append(f"{c}.category = :training_category")
        values["training_category"] = str(scope.course_category.value)
    if scope.class_year_min is not None:
        where.append(f"{t}.class_year >= :training_year_min")
        values["training_year_min"] = scope.class_year_min
    if scope.class_year_max is not None:
        where.append(f"{t}.class_year <= :training_year_max")
        values["training_year_max"] = scope.class_year_max
    if period and flt.date_from:
        where.append(f"{t}.end_date >= :training_from")
        values["training_from"] = flt.date_from
    if period and flt.date_to:
        where.append(f"{t}.end_date <= :training_to")
        values["training_to"] = flt.date_to
    return where, values


def course_join(flt: ReportFilter, *, t: str = "t", c: str = "c") -> str:
    """The join of training records ``t`` to their course ``c``, when the conditions
    of :func:`training_conditions` need it (a course category); else nothing."""
    if flt.scope.course_category is None:
        return ""
    return f"JOIN alumni_course {c} ON {c}.id = {t}.course_id"


def training_records(flt: ReportFilter, *, period: bool = False) -> QuerySet[TrainingRecord]:
    """The same conditions as :func:`training_conditions` for the ORM (people aside)."""
    records = TrainingRecord.all()
    scope = flt.scope
    if scope.course_category is not None:
        records = records.filter(course__category=scope.course_category)
    if scope.class_year_min is not None:
        records = records.filter(class_year__gte=scope.class_year_min)
    if scope.class_year_max is not None:
        records = records.filter(class_year__lte=scope.class_year_max)
    if period and flt.date_from:
        records = records.filter(end_date__gte=flt.date_from)
    if period and flt.date_to:
        records = records.filter(end_date__lte=flt.date_to)
    return records
