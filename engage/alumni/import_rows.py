"""Rows of an import file, validated: what each says, or why it is rejected.

::

    checker = RowChecker(country_codes=names, funding_types=("IMET", "FMS"), today=today)
    for item in check_rows(parsed.rows, checker):
        if isinstance(item, RowRejection):
            print(item.line, item.reason)       # 7 "Bad email address."
        else:
            item.fields["family_name"], item.course, item.training

Profile fields are checked by the profile rules of ``engage.alumni.profiles`` (one
validation for staff forms, the API and imports); the rest here: country names,
dates, class years, funding types, courses, ranks. A row with several problems
names them all. A row whose programme ID or email an earlier row of the file
already has is a duplicate of that row, and rejected too.

Reasons never repeat an email address (they are kept in the import's report); they
quote the other values so that staff can find and fix them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from engage.accounts.users import email_key
from engage.alumni.csv_format import RawRow
from engage.alumni.models import AlumnusStatus, CourseCategory, Service
from engage.alumni.names import query_tokens
from engage.alumni.profiles import _clean as clean_profile_fields
from engage.alumni.profiles import parse_bool, parse_date
from engage.alumni.training import FIRST_CLASS_YEAR
from engage.i18n import _

#: Profile columns checked by the profile rules, as ``ImportedRecord`` fields.
PROFILE_COLUMNS = (
    "programme_id",
    "email",
    "given_name",
    "family_name",
    "given_name_latin",
    "family_name_latin",
    "preferred_name",
    "service",
    "status",
    "language",
    "phone",
    "position",
    "unit",
)
#: Columns that describe a training record (any of them needs a course).
TRAINING_COLUMNS = (
    "course_title",
    "course_school",
    "course_category",
    "class_year",
    "start_date",
    "end_date",
    "funding_type",
    "graduated",
)
_MAX_RANK = 100
_MAX_COURSE = 200
_QUOTED_MAX = 60


@dataclass(frozen=True)
class CourseRef:
    """A course by title and school (found case-insensitively, or added)."""

    title: str
    school: str
    #: Used only when the course is added.
    category: CourseCategory

    @property
    def key(self) -> tuple[str, str]:
        return course_key(self.title, self.school)


@dataclass(frozen=True)
class RowTraining:
    class_year: int | None
    start_date: date | None
    end_date: date | None
    funding_type: str
    #: None when the file does not say.
    graduated: bool | None


@dataclass(frozen=True)
class ImportRow:
    """A valid row."""

    line: int
    #: Profile fields (``engage.alumni.imports`` names), only those the row gives.
    fields: dict[str, Any]
    programme_id: str | None
    email_key: str | None
    rank: str
    rank_date: date | None
    course: CourseRef | None
    training: RowTraining | None


@dataclass(frozen=True)
class RowRejection:
    line: int
    reason: str


def course_key(title: str, school: str) -> tuple[str, str]:
    return (title.casefold(), school.casefold())


def country_key(text: str) -> str:
    """Case, accents and punctuation folded: "Côte d'Ivoire" -> "cote divoire"."""
    return " ".join(query_tokens(text))


def _quote(value: str) -> str:
    text = value if len(value) <= _QUOTED_MAX else value[: _QUOTED_MAX - 1] + "…"
    return f"“{text}”"


def _enum_value(text: str) -> str:
    """ "Air Force", "air-force" -> "air_force"."""
    return "_".join(text.lower().replace("-", " ").split())


@functools.lru_cache(maxsize=256)
def _language_problem(code: str) -> str:
    _values, errors = clean_profile_fields({"language": code})
    return errors.get("language", "")


class RowChecker:
    """Checks one row at a time; built once per import (country names, funding
    types and the date are the same for every row)."""

    def __init__(
        self, *, country_codes: Mapping[str, str], funding_types: Sequence[str], today: date
    ) -> None:
        #: Folded code, alpha-3 or English name -> ISO alpha-2 code.
        self.country_codes = country_codes
        self.funding_types = {f.casefold(): f for f in funding_types}
        self.funding_choices = ", ".join(funding_types)
        self.today = today

    def check(self, raw: RawRow) -> ImportRow | RowRejection:
        cells = raw.values
        problems: list[str] = []
        fields = self._profile_fields(cells, problems)
        country = cells.get("country", "")
        if not country:
            problems.append(_("Missing country."))
        else:
            code = self.country_codes.get(country_key(country))
            if code is None:
                problems.append(
                    _(
                        "Unknown country: %(value)s (an ISO code such as KE, or an English name).",
                        value=_quote(country),
                    )
                )
            else:
                fields["country"] = code
        if not fields.get("programme_id") and not cells.get("email"):
            problems.append(_("No programme ID or email: the row cannot be matched to a profile."))
        rank, rank_date = self._rank(cells, problems)
        course, training = self._training(cells, problems)
        if raw.extra_cells:
            problems.append(
                _(
                    "%(n)s cell(s) beyond the header's columns: check the quoting.",
                    n=raw.extra_cells,
                )
            )
        if problems:
            return RowRejection(raw.line, " ".join(problems))
        email = fields.get("email")
        return ImportRow(
            line=raw.line,
            fields=fields,
            programme_id=fields.get("programme_id"),
            email_key=email_key(email) if email else None,
            rank=rank,
            rank_date=rank_date,
            course=course,
            training=training,
        )

    def _profile_fields(self, cells: Mapping[str, str], problems: list[str]) -> dict[str, Any]:
        given = {name: cells[name] for name in PROFILE_COLUMNS if cells.get(name)}
        for name in ("service", "status"):
            if name in given:
                given[name] = _enum_value(given[name])
        language = given.pop("language", "")
        values, errors = clean_profile_fields(given)
        missing = [n for n in ("given_name", "family_name") if not cells.get(n)]
        if missing:
            problems.append(_("Missing name: %(columns)s.", columns=", ".join(missing)))
        if "email" in errors:
            problems.append(_("Bad email address."))
        for name in ("service", "status"):
            if name in errors:
                enum: type[Service | AlumnusStatus] = (
                    Service if name == "service" else AlumnusStatus
                )
                problems.append(
                    _(
                        "Unknown %(column)s: %(value)s (one of: %(choices)s).",
                        column=name,
                        value=_quote(cells[name]),
                        choices=", ".join(e.value for e in enum),
                    )
                )
        for name, message in errors.items():
            if name not in ("email", "service", "status"):
                problems.append(f"{name}: {message}")
        if language:
            problem = _language_problem(language)
            if problem:
                problems.append(f"language: {problem}")
            else:
                values["language"] = language
        return {name: value for name, value in values.items() if value not in (None, "")}

    def _date(self, cells: Mapping[str, str], name: str, problems: list[str]) -> date | None:
        text = cells.get(name, "")
        try:
            value = parse_date(text)
        except ValueError:
            problems.append(
                _(
                    "Bad date in %(column)s: %(value)s (use YYYY-MM-DD).",
                    column=name,
                    value=_quote(text),
                )
            )
            return None
        if value is not None and not FIRST_CLASS_YEAR <= value.year <= self.today.year + 2:
            problems.append(
                _("Bad date in %(column)s: %(value)s.", column=name, value=_quote(text))
            )
            return None
        return value

    def _rank(self, cells: Mapping[str, str], problems: list[str]) -> tuple[str, date | None]:
        rank = " ".join(cells.get("rank", "").split())
        rank_date = self._date(cells, "rank_date", problems)
        if len(rank) > _MAX_RANK:
            problems.append(_("rank: at most %(n)s characters.", n=_MAX_RANK))
        if rank_date is not None and not rank:
            problems.append(_("A rank_date needs a rank."))
        if rank_date is not None and rank_date > self.today:
            problems.append(_("Bad date in rank_date: it is in the future."))
        return rank, rank_date

    def _training(
        self, cells: Mapping[str, str], problems: list[str]
    ) -> tuple[CourseRef | None, RowTraining | None]:
        if not any(cells.get(name) for name in TRAINING_COLUMNS):
            return None, None
        title = " ".join(cells.get("course_title", "").split())
        school = " ".join(cells.get("course_school", "").split())
        before = len(problems)
        if not title or not school:
            problems.append(_("A course needs both course_title and course_school."))
        if len(title) > _MAX_COURSE or len(school) > _MAX_COURSE:
            problems.append(_("Course title and school: at most %(n)s characters.", n=_MAX_COURSE))
        category_text = cells.get("course_category", "")
        category = CourseCategory.OTHER
        if category_text:
            try:
                category = CourseCategory(_enum_value(category_text))
            except ValueError:
                problems.append(
                    _(
                        "Unknown course_category: %(value)s (one of: %(choices)s).",
                        value=_quote(category_text),
                        choices=", ".join(c.value for c in CourseCategory),
                    )
                )
        start = self._date(cells, "start_date", problems)
        end = self._date(cells, "end_date", problems)
        if start and end and end < start:
            problems.append(_("The course cannot end (end_date) before it starts (start_date)."))
        year_text = cells.get("class_year", "")
        year: int | None = end.year if end else None
        last = self.today.year + 2
        if year_text:
            if year_text.isascii() and year_text.isdigit() and len(year_text) <= 4:
                year = int(year_text)
            else:
                year = -1
            if not FIRST_CLASS_YEAR <= year <= last:
                problems.append(
                    _(
                        "Bad class year: %(value)s (a year between %(first)s and %(last)s).",
                        value=_quote(year_text),
                        first=FIRST_CLASS_YEAR,
                        last=last,
                    )
                )
        funding_text = cells.get("funding_type", "")
        funding = self.funding_types.get(funding_text.casefold(), "") if funding_text else ""
        if funding_text and not funding:
            problems.append(
                _(
                    "Unknown funding type: %(value)s (one of: %(choices)s).",
                    value=_quote(funding_text),
                    choices=self.funding_choices,
                )
            )
        graduated: bool | None = None
        if cells.get("graduated"):
            try:
                graduated = parse_bool(cells["graduated"])
            except ValueError:
                problems.append(
                    _("graduated: yes or no, not %(value)s.", value=_quote(cells["graduated"]))
                )
        if len(problems) > before:
            return None, None
        return (
            CourseRef(title=title, school=school, category=category),
            RowTraining(
                class_year=year,
                start_date=start,
                end_date=end,
                funding_type=funding,
                graduated=graduated,
            ),
        )


def check_rows(rows: Iterable[RawRow], checker: RowChecker) -> list[ImportRow | RowRejection]:
    """Every row checked, in file order; a later row with the programme ID or email of
    an earlier one is a duplicate of it (rejected, whatever became of the earlier)."""
    results: list[ImportRow | RowRejection] = []
    by_programme_id: dict[str, int] = {}
    by_email: dict[str, int] = {}
    for raw in rows:
        result = checker.check(raw)
        duplicates: list[str] = []
        programme_id = raw.values.get("programme_id", "")
        email = raw.values.get("email", "")
        if programme_id:
            if programme_id in by_programme_id:
                duplicates.append(
                    _(
                        "Duplicate of line %(line)s (same programme ID).",
                        line=by_programme_id[programme_id],
                    )
                )
            else:
                by_programme_id[programme_id] = raw.line
        if email:
            key = email_key(email)
            if key in by_email:
                duplicates.append(_("Duplicate of line %(line)s (same email).", line=by_email[key]))
            else:
                by_email[key] = raw.line
        if duplicates:
            own = [result.reason] if isinstance(result, RowRejection) else []
            result = RowRejection(raw.line, " ".join([*duplicates, *own]))
        results.append(result)
    return results
