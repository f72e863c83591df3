"""``/api/v1/insights``: the Insights reports as JSON, with the pages' filters.

::

    GET /api/v1/insights/coverage       ?by=country|region|embassy|course_category|class_year
    GET /api/v1/insights/lapsed         ?months=18&by=country|region|embassy
    GET /api/v1/insights/funnel         per event, per embassy and by month
    GET /api/v1/insights/careers        ?by=country|region|embassy|course
    GET /api/v1/insights/capabilities   ?tag=C-130&by=country|region|embassy

Every report takes the same filters: ``country`` (repeat it or separate by commas),
``region``, ``embassy``, ``course_category``, ``class_year_min`` and
``class_year_max``; and, but for lapsed (which counts months back from today),
``date_from`` and ``date_to`` (days, both included): for coverage the alumni whose
training ended then, for the funnel the events that started then, for careers the
promotions dated then, for capabilities the training that ended then. Attachés, staff and
admins; an attaché's figures cover the countries their embassies are accredited to
(and their embassies' events), and another embassy answers 404. Each group has its
``counts`` and their ``shares`` (of the group's alumni, or for the funnel of those
invited; null where there is no base).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.requests import Request

from engage.alumni.audience import MAX_MONTHS
from engage.alumni.models import CourseCategory
from engage.api.endpoint import endpoint
from engage.insights import capabilities, careers, coverage, funnel, lapsed
from engage.insights.filters import ReportFilter, parse_report_filter
from engage.insights.groups import Row
from engage.web.identity import current_actor as _actor
from engage.web.routing import Access

# --- Queries ----------------------------------------------------------------------------


class ScopeQuery(BaseModel):
    """The scope every report takes."""

    model_config = ConfigDict(extra="forbid")

    country: list[str] = Field(
        default_factory=list,
        description="ISO 3166-1 alpha-2 codes: repeat the parameter or separate by commas.",
        examples=[["KE", "UG"]],
    )
    region: str = Field(default="", description='UN M49 region or sub-region ("Africa").')
    embassy: str = Field(
        default="",
        description="People of the countries this embassy is accredited to; for the funnel, "
        "its events.",
        examples=["NBO"],
    )
    course_category: CourseCategory | None = None
    class_year_min: int | None = Field(default=None, ge=1940, le=2100)
    class_year_max: int | None = Field(default=None, ge=1940, le=2100)

    @field_validator("country", mode="before")
    @classmethod
    def _countries(cls, value: Any) -> Any:
        return [v for v in value.split(",") if v.strip()] if isinstance(value, str) else value


class InsightsQuery(ScopeQuery):
    """The scope and a period: what it selects is each report's to say."""

    date_from: date | None = Field(
        default=None, description="First day of the period (UTC).", examples=["2025-01-01"]
    )
    date_to: date | None = Field(
        default=None, description="Last day of the period, included.", examples=["2025-12-31"]
    )


class CoverageQuery(InsightsQuery):
    by: Literal["country", "region", "embassy", "course_category", "class_year"] = "country"


class LapsedQuery(ScopeQuery):
    """Lapsed and lost is about today: months back from today, no period."""

    by: Literal["country", "region", "embassy"] = "country"
    months: int = Field(
        default=lapsed.DEFAULT_MONTHS,
        ge=1,
        le=MAX_MONTHS,
        description="Not engaged for this many months (or never).",
    )


class CareersQuery(InsightsQuery):
    by: Literal["country", "region", "embassy", "course"] = "country"


class CapabilitiesQuery(InsightsQuery):
    tag: str = Field(
        default="",
        max_length=capabilities.TAG_MAX,
        description="An equipment tag of the catalogue, exactly; empty: people per tag.",
        examples=["C-130"],
    )
    by: Literal["country", "region", "embassy"] = "country"


# --- Answers ----------------------------------------------------------------------------


class Figures(BaseModel):
    key: str = Field(description="Country code, region, embassy code, category, year, ...")
    label: str
    counts: dict[str, int]
    shares: dict[str, float | None]


class ReportFilterOut(BaseModel):
    date_from: date | None
    date_to: date | None
    filters: dict[str, Any] = Field(description="The scope filters that were set.")


def _filter(flt: ReportFilter) -> ReportFilterOut:
    return ReportFilterOut(
        date_from=flt.date_from, date_to=flt.date_to, filters=flt.scope.to_json()
    )


def _figures(row: Row, shares: list[str], *, of: str = "total") -> Figures:
    return Figures(
        key=row.key, label=row.label, counts=dict(row.counts), shares=row.shares(shares, of=of)
    )


class CoverageOut(BaseModel):
    """Counts: ``total``, ``m3``/``m6``/``m12``/``m24`` (contacted within so many
    months), ``never_since_training``. Shares of ``total``. With a date range, the
    alumni whose training ended in it."""

    by: str
    as_of: datetime
    filter: ReportFilterOut
    windows: list[int] = Field(description="The windows, in months.")
    total: Figures
    groups: list[Figures]


class LapsedOut(BaseModel):
    """Counts: ``total``, ``never_contacted``, ``not_engaged`` (for ``months``),
    ``no_working_email``, ``any`` (on at least one list). Shares of ``total``."""

    by: str
    months: int
    filter: ReportFilterOut
    total: Figures
    groups: list[Figures]


class EventFigures(Figures):
    starts_at: datetime | None
    embassy: str
    started: bool


class FunnelOut(BaseModel):
    """Counts: ``events``, ``invited``, ``answered``, ``yes``, ``attended``,
    ``no_show`` (said yes, did not come, started events), ``yes_started``. Shares of
    ``invited``; ``no_show`` of ``yes_started``."""

    filter: ReportFilterOut
    as_of: datetime
    no_show_rate: float | None
    total: Figures
    events: list[EventFigures] = Field(description="Latest first.")
    embassies: list[Figures]
    months: list[Figures] = Field(description="By the month the event started, oldest first.")


class CareerFigures(Figures):
    years_to_of5: float | None = Field(description="Mean years from training end to OF-5.")
    years_to_of6: float | None = Field(description="Mean years from training end to OF-6.")


class CareersOut(BaseModel):
    """Counts: ``total``, ``of5`` / ``of6`` (reached OF-5 / OF-6 or above, in the period
    if given), ``of5_after`` / ``of6_after`` (after their training ended) and the days
    between (``of5_days``, ``of6_days``). Shares of ``total``."""

    by: str
    filter: ReportFilterOut
    total: CareerFigures
    groups: list[CareerFigures]


class CourseRef(BaseModel):
    id: int
    title: str
    school: str


class CapabilitiesOut(BaseModel):
    """Counts: ``total`` (people trained on the tag). Without a tag, one group per tag."""

    tag: str
    by: str
    filter: ReportFilterOut
    courses: list[CourseRef] = Field(description="The courses that teach the tag.")
    total: Figures
    groups: list[Figures]


# --- Endpoints --------------------------------------------------------------------------

_COVERAGE_SHARES = ["m3", "m6", "m12", "m24", "never_since_training"]
_LAPSED_SHARES = [*lapsed.LISTS, "any"]


@endpoint(
    "GET",
    "/insights/coverage",
    response=CoverageOut,
    query=CoverageQuery,
    tag="insights",
    access=Access.ATTACHE,
    errors=(404,),
)
async def insights_coverage(request: Request, query: CoverageQuery) -> CoverageOut:
    """Contact coverage: alumni contacted in the last 3, 6, 12 and 24 months, by group."""
    flt = parse_report_filter(request.query_params)
    report = await coverage.contact_coverage(flt, actor=await _actor(request), by=query.by)
    return CoverageOut(
        by=report.by,
        as_of=report.as_of,
        filter=_filter(flt),
        windows=list(coverage.WINDOWS),
        total=_figures(report.total, _COVERAGE_SHARES),
        groups=[_figures(r, _COVERAGE_SHARES) for r in report.rows],
    )


@endpoint(
    "GET",
    "/insights/lapsed",
    response=LapsedOut,
    query=LapsedQuery,
    tag="insights",
    access=Access.ATTACHE,
    errors=(404,),
)
async def insights_lapsed(request: Request, query: LapsedQuery) -> LapsedOut:
    """Lapsed and lost: never contacted, not engaged for N months, no working email."""
    flt = parse_report_filter(request.query_params)
    report = await lapsed.lapsed_report(
        flt, actor=await _actor(request), months=query.months, by=query.by
    )
    return LapsedOut(
        by=report.by,
        months=report.months,
        filter=_filter(flt),
        total=_figures(report.total, _LAPSED_SHARES),
        groups=[_figures(r, _LAPSED_SHARES) for r in report.rows],
    )


def _funnel_figures(row: Row) -> Figures:
    shares = {
        **row.shares(["answered", "yes", "attended"], of="invited"),
        "no_show": row.share("no_show", of="yes_started"),
    }
    return Figures(key=row.key, label=row.label, counts=dict(row.counts), shares=shares)


@endpoint(
    "GET",
    "/insights/funnel",
    response=FunnelOut,
    query=InsightsQuery,
    tag="insights",
    access=Access.ATTACHE,
    errors=(404,),
)
async def insights_funnel(request: Request, query: InsightsQuery) -> FunnelOut:
    """The event funnel: invited, answered, yes, attended; per event, embassy, month."""
    flt = parse_report_filter(request.query_params)
    report = await funnel.event_funnel(flt, actor=await _actor(request))
    return FunnelOut(
        filter=_filter(flt),
        as_of=report.as_of,
        no_show_rate=report.no_show_rate,
        total=_funnel_figures(report.total),
        events=[
            EventFigures(
                **_funnel_figures(e).model_dump(),
                starts_at=e.starts_at,
                embassy=e.embassy,
                started=e.started,
            )
            for e in report.events
        ],
        embassies=[_funnel_figures(r) for r in report.embassies],
        months=[_funnel_figures(r) for r in report.months],
    )


def _career_figures(row: careers.CareerRow) -> CareerFigures:
    return CareerFigures(
        **_figures(row, ["of5", "of6"]).model_dump(),
        years_to_of5=row.years("of5"),
        years_to_of6=row.years("of6"),
    )


@endpoint(
    "GET",
    "/insights/careers",
    response=CareersOut,
    query=CareersQuery,
    tag="insights",
    access=Access.ATTACHE,
    errors=(404,),
)
async def insights_careers(request: Request, query: CareersQuery) -> CareersOut:
    """Career outcomes: who reached OF-5 and OF-6 or above, and years after training."""
    flt = parse_report_filter(request.query_params)
    report = await careers.career_outcomes(flt, actor=await _actor(request), by=query.by)
    return CareersOut(
        by=report.by,
        filter=_filter(flt),
        total=_career_figures(report.total),
        groups=[_career_figures(r) for r in report.rows],
    )


@endpoint(
    "GET",
    "/insights/capabilities",
    response=CapabilitiesOut,
    query=CapabilitiesQuery,
    tag="insights",
    access=Access.ATTACHE,
    errors=(404,),
)
async def insights_capabilities(request: Request, query: CapabilitiesQuery) -> CapabilitiesOut:
    """Capability lookup: alumni trained on an equipment or weapons system, by place."""
    flt = parse_report_filter(request.query_params)
    report = await capabilities.capability_lookup(
        flt, actor=await _actor(request), tag=query.tag, by=query.by
    )
    return CapabilitiesOut(
        tag=report.tag,
        by=report.by,
        filter=_filter(flt),
        courses=[CourseRef(id=c.id, title=c.title, school=c.school) for c in report.courses],
        total=_figures(report.total, []),
        groups=[_figures(r, []) for r in report.rows],
    )
