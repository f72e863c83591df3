"""The audience filter: one set of criteria for the directory, its CSV export, saved
segments, invitations and newsletters, compiled into one SQL query with the caller's
scope built in.

::

    flt = AudienceFilter(q="nguyen", country=["VN"], grade_min="OF-4", tag="C-130")
    await check_filter(flt, actor=attache)            # 404: an embassy not theirs
    people = audience_query(flt, actor=attache)       # a QuerySet: one SELECT
    await people.order_by("family_name").limit(50)
    await audience_count(flt, actor=attache)          # one SELECT COUNT(*)
    flt = parse_filter(request.query_params)          # InvalidInput names each field

The rules:

- **Live profiles only** (``identity.live_alumni``): not merged, not erased, not a
  registration whose address is unverified. Pending people are included (filter
  ``vetting``); bulk mail adds ``eligibility.bulk_eligible`` on top.
- **Scope is part of the query**: an attaché matches only people of the countries
  their embassies are accredited to. A country outside that scope matches nobody;
  an embassy code that is not one of theirs answers 404 (:func:`check_filter`),
  and matches nobody even unchecked.
- **No join multiplies a person**: criteria on other tables are ``id IN (subquery)``
  or ``country_id IN (subquery)``, so counts and pages are exact without DISTINCT.
- **Training criteria meet in one record**: course, category, school, class years and
  equipment tag must all hold for the same training record ("an English course in
  2015", not "some English course, and something in 2015").
- **Name search** (``q``): each folded token of the query (``names.query_tokens``)
  must be the prefix of one of the person's name tokens, matched as an index range
  on ``SearchToken`` ("jose garc" finds "José García", "коваленко" finds
  "Kovalenko"). A query with an ``@`` also matches that primary address, and one
  with a digit that programme ID.
- **Contact and engagement** (``contacted_within_months``, ``not_contacted_months``,
  ``never_contacted``, ``not_engaged_months``) read the summary columns kept by
  ``engage.alumni.engagement``, counting calendar months back from today: a saved
  segment of "not contacted for 12 months" stays true to its name as time passes.
  "Not contacted / not engaged for N months" includes those never contacted /
  engaged.
- **A working email** (``has_working_email``) is an address mail can reach: the
  primary unless it hard-bounced (``email_failing_at``), else a verified secondary
  (where ``engage.alumni.addresses.deliverable_address`` then sends). ``false``
  finds those with neither.
- **Equipment tags** match exactly ("C-130" never matches "C-1300"), case included:
  PostgreSQL by JSONB containment, SQLite by the tag's JSON text within the list.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pypika_tortoise.terms import Function as SQLFunction
from pypika_tortoise.terms import Term
from tortoise.expressions import Q, Subquery
from tortoise.functions import Function
from tortoise.queryset import QuerySet

from engage.accounts.actor import Actor, require_role
from engage.accounts.models import Role
from engage.accounts.users import email_key
from engage.alumni.grades import GRADE_LEVEL
from engage.alumni.identity import live_alumni
from engage.alumni.models import (
    Alumnus,
    AlumnusStatus,
    Course,
    CourseCategory,
    SearchToken,
    Service,
    TrainingRecord,
    Vetting,
)
from engage.alumni.names import prefix_bounds, query_tokens
from engage.clock import utcnow
from engage.errors import InvalidInput, NotFound
from engage.i18n import N_, _
from engage.places.models import Accreditation, Country, Embassy

#: The filter's fields, in the order forms and query strings list them.
FILTER_FIELDS = (
    "q",
    "country",
    "region",
    "embassy",
    "service",
    "status",
    "grade_min",
    "grade_max",
    "course",
    "course_category",
    "school",
    "class_year_min",
    "class_year_max",
    "tag",
    "language",
    "vetting",
    "has_account",
    "accepts_invitations",
    "accepts_newsletter",
    "contacted_within_months",
    "not_contacted_months",
    "never_contacted",
    "not_engaged_months",
    "has_working_email",
)
#: Query tokens beyond this many are ignored (each is one indexed subquery).
MAX_QUERY_TOKENS = 6
FIRST_CLASS_YEAR = 1940
LAST_CLASS_YEAR = 2100
#: The engagement criteria count months back from today, up to this many.
MAX_MONTHS = 600
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_COUNTRY = re.compile(r"[A-Z]{2}")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")
#: Messages of the two range checks (the API shows them; forms translate them).
_BELOW_LOWEST = "the highest grade is below the lowest"
_BEFORE_FIRST = "the last class year is before the first"
_RANGE_ERRORS = {
    _BELOW_LOWEST: N_("The highest grade must not be below the lowest."),
    _BEFORE_FIRST: N_("The last class year must not be before the first."),
}
#: What each field expects, said to people (a form, the API's ``fields``).
_EXPECTED = {
    "q": N_("At most 200 characters."),
    "country": N_("Two-letter country codes, e.g. KE."),
    "region": N_("Choose a region from the list."),
    "embassy": N_("An embassy code, e.g. NBO."),
    "service": N_("Choose a service from the list."),
    "status": N_("Choose a status from the list."),
    "grade_min": N_("A NATO grade, e.g. OF-3."),
    "grade_max": N_("A NATO grade, e.g. OF-5."),
    "course": N_("Choose a course from the list."),
    "course_category": N_("Choose a course category from the list."),
    "school": N_("At most 200 characters."),
    "class_year_min": N_("A year, e.g. 2010."),
    "class_year_max": N_("A year, e.g. 2020."),
    "tag": N_("At most 60 characters."),
    "language": N_("A language code, e.g. en, fr or pt-BR."),
    "vetting": N_("Pending or confirmed."),
    "has_account": N_("Yes or no."),
    "accepts_invitations": N_("Yes or no."),
    "accepts_newsletter": N_("Yes or no."),
    "contacted_within_months": N_("A number of months, e.g. 12."),
    "not_contacted_months": N_("A number of months, e.g. 12."),
    "never_contacted": N_("Yes or no."),
    "not_engaged_months": N_("A number of months, e.g. 18."),
    "has_working_email": N_("Yes or no."),
}


class AudienceFilter(BaseModel):
    """Who is in an audience; every field is optional and they all must hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    q: str = Field(
        default="",
        max_length=200,
        description="Name search: every word matches the start of a name, in any script "
        "(case and accents ignored); also an exact email or programme ID.",
        examples=["nguyen"],
    )
    country: list[str] = Field(
        default_factory=list,
        max_length=300,
        description="ISO 3166-1 alpha-2 codes: repeat the parameter or separate by commas.",
        examples=[["KE", "UG"]],
    )
    region: str = Field(
        default="",
        max_length=64,
        description='UN M49 region or sub-region of the country ("Africa", "Eastern Africa").',
    )
    embassy: str = Field(
        default="",
        max_length=16,
        description="People of the countries this embassy is accredited to (its code).",
        examples=["NBO"],
    )
    service: Service | None = None
    status: AlumnusStatus | None = None
    grade_min: str | None = Field(
        default=None,
        description="Lowest NATO grade (OR-1..OR-9, WO, OF-1..OF-10).",
        examples=["OF-3"],
    )
    grade_max: str | None = Field(
        default=None, description="Highest NATO grade.", examples=["OF-6"]
    )
    course: int | None = Field(default=None, ge=1, le=2**31 - 1, description="A course id.")
    course_category: CourseCategory | None = None
    school: str = Field(default="", max_length=200, description="Trained at this school.")
    class_year_min: int | None = Field(default=None, ge=FIRST_CLASS_YEAR, le=LAST_CLASS_YEAR)
    class_year_max: int | None = Field(default=None, ge=FIRST_CLASS_YEAR, le=LAST_CLASS_YEAR)
    tag: str = Field(
        default="",
        max_length=60,
        description="Trained on this equipment (a course tag, exactly as in the catalogue).",
        examples=["C-130"],
    )
    language: str = Field(
        default="", max_length=16, description='Preferred language ("pt" also finds "pt-BR").'
    )
    vetting: Vetting | None = Field(
        default=None, description="pending (self-registered, not yet confirmed) or confirmed."
    )
    has_account: bool | None = Field(default=None, description="An account claimed the profile.")
    accepts_invitations: bool | None = None
    accepts_newsletter: bool | None = None
    contacted_within_months: int | None = Field(
        default=None,
        ge=1,
        le=MAX_MONTHS,
        description="Contacted (an invitation or newsletter delivered, or attendance) "
        "within the last N months.",
        examples=[12],
    )
    not_contacted_months: int | None = Field(
        default=None,
        ge=1,
        le=MAX_MONTHS,
        description="Not contacted for N months: the last contact is older, or there "
        "was none (add never_contacted=false to leave those out).",
        examples=[12],
    )
    never_contacted: bool | None = Field(
        default=None, description="true: never contacted; false: contacted at least once."
    )
    not_engaged_months: int | None = Field(
        default=None,
        ge=1,
        le=MAX_MONTHS,
        description="Not engaged (an answer, attendance, or an update of their own "
        "profile or career) for N months, or never.",
        examples=[18],
    )
    has_working_email: bool | None = Field(
        default=None,
        description="false: no address mail can reach (none, or a primary address that "
        "hard-bounced without a verified secondary one); true: one that works.",
    )

    @model_validator(mode="before")
    @classmethod
    def _blanks_are_unset(cls, data: Any) -> Any:
        """An empty form field (or JSON null) means "any"."""
        if isinstance(data, Mapping):
            return {
                k: v
                for k, v in data.items()
                if v is not None and not (isinstance(v, str) and not v.strip())
            }
        return data

    @field_validator("q", "region", "school", "tag", "language", "embassy", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if isinstance(value, str):
            return " ".join(_CONTROL.sub(" ", value).split())
        return value

    @field_validator("embassy")
    @classmethod
    def _embassy(cls, value: str) -> str:
        return value.upper()

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        if value and not _LANGUAGE.fullmatch(value):
            raise ValueError("a language code, e.g. en, fr or pt-BR")
        return value

    @field_validator("country", mode="before")
    @classmethod
    def _countries(cls, value: Any) -> Any:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            return value
        codes: list[str] = []
        for item in items:
            if not isinstance(item, str):
                raise ValueError("two-letter country codes, e.g. KE")
            for part in item.split(","):
                code = part.strip().upper()
                if code and not _COUNTRY.fullmatch(code):
                    raise ValueError(f"not a country code: {part.strip()!r}")
                if code and code not in codes:
                    codes.append(code)
        return codes

    @field_validator("grade_min", "grade_max", mode="before")
    @classmethod
    def _grade(cls, value: Any) -> Any:
        if isinstance(value, str):
            grade = value.strip().upper()
            if grade not in GRADE_LEVEL:
                raise ValueError("a NATO grade: OR-1..OR-9, WO or OF-1..OF-10")
            return grade
        return value

    @field_validator("grade_max")
    @classmethod
    def _grade_range(cls, value: str | None, info: ValidationInfo) -> str | None:
        low = info.data.get("grade_min")
        if value and low and GRADE_LEVEL[low] > GRADE_LEVEL[value]:
            raise ValueError(_BELOW_LOWEST)
        return value

    @field_validator("class_year_max")
    @classmethod
    def _year_range(cls, value: int | None, info: ValidationInfo) -> int | None:
        first = info.data.get("class_year_min")
        if value is not None and first is not None and first > value:
            raise ValueError(_BEFORE_FIRST)
        return value

    # --- Forms of the filter ------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The fields that are set, JSON-ready (``Segment.filters``)."""
        return self.model_dump(mode="json", exclude_defaults=True)

    def query_items(self) -> list[tuple[str, str]]:
        """The fields that are set as query-string pairs (countries repeated)."""
        items: list[tuple[str, str]] = []
        for name, value in self.to_json().items():
            if isinstance(value, list):
                items.extend((name, str(v)) for v in value)
            elif isinstance(value, bool):
                items.append((name, "true" if value else "false"))
            else:
                items.append((name, str(value)))
        return items

    @property
    def active(self) -> bool:
        return bool(self.to_json())

    @property
    def training_criteria(self) -> bool:
        return bool(
            self.course
            or self.course_category
            or self.school
            or self.tag
            or self.class_year_min is not None
            or self.class_year_max is not None
        )


class QueryParams(Protocol):
    """A query string or form (Starlette's ``QueryParams``, ``FormData``)."""

    def getlist(self, key: str) -> list[Any]: ...

    def get(self, key: str, default: Any = None) -> Any: ...


def parse_filter(params: QueryParams | Mapping[str, Any]) -> AudienceFilter:
    """The filter in a query string, form or mapping; other keys are ignored.

    Raises InvalidInput naming each bad field in words people read.
    """
    data: dict[str, Any] = {}
    for name in FILTER_FIELDS:
        if name == "country" and hasattr(params, "getlist"):
            values = [str(v) for v in params.getlist(name)]
            if values:
                data[name] = values
        elif (value := params.get(name)) is not None:
            data[name] = value
    return filter_from(data)


def filter_from(data: Mapping[str, Any]) -> AudienceFilter:
    """Validate a filter given as data (a saved segment, a JSON body)."""
    try:
        return AudienceFilter.model_validate(dict(data))
    except ValidationError as exc:
        raise InvalidInput(
            _("Please correct the marked fields."), fields=filter_errors(exc)
        ) from None


def filter_errors(exc: ValidationError) -> dict[str, str]:
    """Each bad field of ``exc`` with what it expects, translated."""
    fields: dict[str, str] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "filter"
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        if message in _RANGE_ERRORS:
            fields.setdefault(name, _(_RANGE_ERRORS[message]))
        elif name in _EXPECTED:
            fields.setdefault(name, _(_EXPECTED[name]))
        else:
            fields.setdefault(name, _("Unknown field."))
    return fields


# --- The query --------------------------------------------------------------------------


async def check_filter(flt: AudienceFilter, *, actor: Actor) -> None:
    """404 for an embassy the actor may not use (attachés: only their own), or none."""
    require_role(actor, Role.ATTACHE)
    if flt.embassy:
        embassy = await Embassy.get_or_none(code=flt.embassy)
        if embassy is None or not actor.can_act_for_embassy(embassy.id):
            raise NotFound(_("No such embassy."))


def audience_query(flt: AudienceFilter, *, actor: Actor) -> QuerySet[Alumnus]:
    """Everyone ``flt`` selects within the actor's scope, as one query (unordered).

    Attachés, staff and admins; others 403. Call :func:`check_filter` first to answer
    404 for an embassy not theirs (unchecked, it matches nobody).
    """
    require_role(actor, Role.ATTACHE)
    query = live_alumni()
    if actor.country_codes is not None:
        query = query.filter(_in_countries(actor.country_codes))
    conditions = audience_conditions(flt, actor=actor)
    return query.filter(*conditions) if conditions else query


async def audience_count(flt: AudienceFilter, *, actor: Actor) -> int:
    """How many people ``flt`` selects in the actor's scope (one ``SELECT COUNT(*)``)."""
    await check_filter(flt, actor=actor)
    return await audience_query(flt, actor=actor).count()


def audience_conditions(flt: AudienceFilter, *, actor: Actor) -> list[Q]:
    """The filter as conditions on ``Alumnus`` (all must hold); scope aside."""
    found: list[Q] = []
    if flt.q:
        found.append(_name_search(flt.q))
    if flt.country:
        found.append(_in_countries(flt.country))
    if flt.region:
        regions = Country.filter(Q(region=flt.region) | Q(continent=flt.region))
        found.append(Q(country_id__in=Subquery(regions.values("code"))))
    if flt.embassy:
        accredited = Accreditation.filter(embassy__code=flt.embassy)
        if not actor.at_least(Role.STAFF):
            accredited = accredited.filter(embassy_id__in=sorted(actor.embassy_ids) or [0])
        found.append(Q(country_id__in=Subquery(accredited.values("country_id"))))
    for name in ("service", "status", "vetting", "accepts_invitations", "accepts_newsletter"):
        value = getattr(flt, name)
        if value is not None:
            found.append(Q(**{name: value}))
    if flt.grade_min:
        found.append(Q(grade_level__gte=GRADE_LEVEL[flt.grade_min]))
    if flt.grade_max:
        found.append(Q(grade_level__lte=GRADE_LEVEL[flt.grade_max]))
    if flt.has_account is not None:
        found.append(Q(user_id__isnull=not flt.has_account))
    if flt.language:
        found.append(
            Q(language=flt.language)
            | Q(language__startswith=f"{flt.language}-")
            | Q(language__startswith=f"{flt.language}_")
        )
    if flt.training_criteria:
        found.append(Q(id__in=Subquery(_training(flt).values("alumnus_id"))))
    found.extend(_engagement(flt, utcnow()))
    if flt.has_working_email is not None:
        found.append(~_no_working_email() if flt.has_working_email else _no_working_email())
    return found


def _no_working_email() -> Q:
    """No address mail can reach: none, or a failing primary without a verified
    secondary."""
    no_fallback = Q(secondary_email__isnull=True) | Q(secondary_verified_at__isnull=True)
    failing = Q(Q(email_failing_at__isnull=False), no_fallback)
    return Q(Q(email__isnull=True), Q(email=""), failing, join_type=Q.OR)


def _engagement(flt: AudienceFilter, now: datetime) -> list[Q]:
    """The summary columns (``engage.alumni.engagement``) against months back from now."""
    found: list[Q] = []
    if flt.contacted_within_months is not None:
        found.append(Q(last_contacted_at__gte=months_before(now, flt.contacted_within_months)))
    if flt.not_contacted_months is not None:
        cutoff = months_before(now, flt.not_contacted_months)
        found.append(Q(last_contacted_at__isnull=True) | Q(last_contacted_at__lt=cutoff))
    if flt.never_contacted is not None:
        found.append(Q(last_contacted_at__isnull=flt.never_contacted))
    if flt.not_engaged_months is not None:
        cutoff = months_before(now, flt.not_engaged_months)
        found.append(Q(last_engaged_at__isnull=True) | Q(last_engaged_at__lt=cutoff))
    return found


def months_before(now: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (the month's last day
    when it is shorter: 31 May less 3 months is 28 or 29 February)."""
    index = now.year * 12 + now.month - 1 - months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return now.replace(year=year, month=month + 1, day=min(now.day, last))


def _in_countries(codes: Iterable[str]) -> Q:
    listed = sorted(codes)
    # An empty scope matches nobody (never "no condition").
    return Q(country_id__in=listed) if listed else Q(id__in=[0])


def _name_search(text: str) -> Q:
    terms: list[Q] = []
    for word in text.split():
        tokens = query_tokens(word)
        if len(tokens) > 2 and tokens[-1] == "".join(tokens[:-1]):
            # Han or Hangul written without spaces ("张伟"): its syllables, or all of
            # it as one token, whichever way the name was stored.
            terms.append(
                Q(Q(*map(_has_token, tokens[:-1])), _has_token(tokens[-1]), join_type=Q.OR)
            )
        else:
            terms.extend(_has_token(t) for t in tokens)
    names = Q(*terms[:MAX_QUERY_TOKENS]) if terms else Q(id__in=[0])
    alternatives = [names]
    stripped = text.strip()
    if "@" in stripped:
        alternatives.append(Q(email_key=email_key(stripped)))
    if any(c.isdigit() for c in stripped) and len(stripped) <= 64:
        alternatives.append(Q(programme_id=stripped))
    return Q(*alternatives, join_type=Q.OR) if len(alternatives) > 1 else names


def _has_token(token: str) -> Q:
    """One of the person's name tokens starts with ``token`` (an index range)."""
    low, high = prefix_bounds(token)
    tokens = SearchToken.filter(token__gte=low)
    if high is not None:
        tokens = tokens.filter(token__lt=high)
    return Q(id__in=Subquery(tokens.values("alumnus_id")))


def _training(flt: AudienceFilter) -> QuerySet[TrainingRecord]:
    records = TrainingRecord.all()
    if flt.course:
        records = records.filter(course_id=flt.course)
    if flt.class_year_min is not None:
        records = records.filter(class_year__gte=flt.class_year_min)
    if flt.class_year_max is not None:
        records = records.filter(class_year__lte=flt.class_year_max)
    if flt.course_category or flt.school or flt.tag:
        courses = Course.all()
        if flt.course_category:
            courses = courses.filter(category=flt.course_category)
        if flt.school:
            courses = courses.filter(school=flt.school)
        if flt.tag:
            courses = _with_tag(courses, flt.tag)
        records = records.filter(course_id__in=Subquery(courses.values("id")))
    return records


class _SQLInstr(SQLFunction):  # type: ignore[misc]
    def __init__(self, haystack: Term, needle: Term, alias: str | None = None) -> None:
        super().__init__("INSTR", haystack, needle, alias=alias)


class _Instr(Function):
    """SQLite's ``INSTR(text, part)``: the 1-based position of ``part``, 0 when absent."""

    database_func = _SQLInstr


def _with_tag(courses: QuerySet[Course], tag: str) -> QuerySet[Course]:
    """Courses whose ``tags`` list holds ``tag`` exactly."""
    if Course._meta.db.capabilities.dialect == "postgres":
        return courses.filter(tags__contains=[tag])  # JSONB containment: exact
    # SQLite keeps the list as JSON text: the tag, quoted as JSON, is one whole element
    # ('"C-130"' is not inside '"C-1300"'). Written ASCII-escaped or not, both found.
    needles = sorted({json.dumps(tag), json.dumps(tag, ensure_ascii=False)})
    positions = {f"_tag{i}": _Instr("tags", needle) for i, needle in enumerate(needles)}
    found = Q(*[Q(**{f"{name}__gt": 0}) for name in positions], join_type=Q.OR)
    return courses.annotate(**positions).filter(found)
