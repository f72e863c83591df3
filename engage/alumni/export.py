"""CSV export of a directory view: the people a filter selects in the caller's scope.

::

    export = await export_alumni(flt, actor=attache, ip=ip)   # checks scope, counts, audits
    export.total, export.filename                             # 1234, "alumni-2025-03-01.csv"
    async for chunk in export.chunks():                       # bytes, a few hundred rows each
        ...

- **Scope and filters** are the directory's (``engage.alumni.audience``): the same
  query, the same 404 for an embassy not the caller's. Rows come alphabetically
  (family name, given name), read in chunks of :data:`CHUNK_ROWS` by keyset, so a
  large export streams with constant memory and never holds a long transaction.
- **For Excel**: UTF-8 with a byte-order mark, comma-separated, CRLF line ends, and
  every cell that a spreadsheet would run as a formula (starting with ``=``, ``+``,
  ``-``, ``@``, a tab or a carriage return) is neutralised with a leading
  apostrophe, so "+254 700 000 000" shows as text and "=HYPERLINK(...)" never runs.
- **Columns** carry the names of the import format where they mean the same thing
  (``programme_id``, ``given_name``, ``country``, ...), so an export edited in a
  spreadsheet can be imported again; the others (``id``, ``grade``, ``courses``, ...)
  are reported and ignored by the import. Staff notes and the reason for "do not
  engage" are never exported; the flag is.
- **Audit**: every export is logged with the filter's criteria and the row count;
  a name search is logged as ``"q": "[name search]"`` (the audit log outlives
  personal data).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.expressions import Q

from engage.accounts.actor import Actor
from engage.accounts.audit import record
from engage.alumni.audience import AudienceFilter, audience_query, check_filter
from engage.alumni.models import TrainingRecord
from engage.clock import utcnow

#: Rows read and written per chunk.
CHUNK_ROWS = 500
#: Characters that make a spreadsheet cell a formula (or hide one after a break).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = (
    "id",
    "programme_id",
    "given_name",
    "family_name",
    "given_name_latin",
    "family_name_latin",
    "preferred_name",
    "email",
    "secondary_email",
    "phone",
    "country",
    "service",
    "rank",
    "grade",
    "position",
    "unit",
    "status",
    "language",
    "vetting",
    "accepts_invitations",
    "accepts_newsletter",
    "do_not_engage",
    "class_years",
    "courses",
    "updated_at",
)
BOM = "\ufeff"


def neutralise(value: object) -> str:
    """The cell's text, with a leading apostrophe when a spreadsheet would take it
    for a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


@dataclass(frozen=True)
class AlumniExport:
    """An export that passed the scope check and was audit-logged; stream ``chunks``."""

    filter: AudienceFilter
    actor: Actor
    #: How many people the filter selected when the export started.
    total: int
    filename: str

    async def chunks(self) -> AsyncIterator[bytes]:
        """The CSV file in pieces: the header (after a byte-order mark), then rows."""
        yield (BOM + _csv_text([COLUMNS])).encode("utf-8")
        query = audience_query(self.filter, actor=self.actor)
        after: tuple[str, str, int] | None = None
        while True:
            page = query if after is None else query.filter(_after(after))
            people = (
                await page.order_by("family_name", "given_name", "id")
                .limit(CHUNK_ROWS)
                .values(*_FIELDS)
            )
            if not people:
                return
            training = await _training([p["id"] for p in people])
            yield _csv_text(_row(p, training.get(p["id"], [])) for p in people).encode("utf-8")
            last = people[-1]
            after = (last["family_name"], last["given_name"], last["id"])
            if len(people) < CHUNK_ROWS:
                return


async def export_alumni(
    flt: AudienceFilter,
    *,
    actor: Actor,
    ip: str = "",
    segment_id: int | None = None,
    now: datetime | None = None,
) -> AlumniExport:
    """Check the actor may export this view (attachés, staff; 404 for an embassy not
    theirs), count it and log the export; the rows stream from the result."""
    await check_filter(flt, actor=actor)
    total = await audience_query(flt, actor=actor).count()
    criteria: dict[str, Any] = flt.to_json()
    if "q" in criteria:
        criteria["q"] = "[name search]"
    details: dict[str, Any] = {"filter": criteria, "rows": total}
    if segment_id is not None:
        details["segment"] = segment_id
    await record("alumni.export", actor=actor.user, details=details, ip=ip)
    stamp = (now or utcnow()).strftime("%Y-%m-%d")
    return AlumniExport(filter=flt, actor=actor, total=total, filename=f"alumni-{stamp}.csv")


# --- Helpers ----------------------------------------------------------------------------

#: What is read of each profile.
_FIELDS = (
    *(c for c in COLUMNS if c not in ("country", "class_years", "courses")),
    "country_id",
    "secondary_verified_at",
)


def _after(key: tuple[str, str, int]) -> Q:
    """Rows after ``key`` in (family name, given name, id) order: the next chunk."""
    family, given, pk = key
    return Q(
        Q(family_name__gt=family),
        Q(family_name=family, given_name__gt=given),
        Q(family_name=family, given_name=given, id__gt=pk),
        join_type=Q.OR,
    )


async def _training(ids: list[int]) -> dict[int, list[tuple[int | None, str, str]]]:
    """(class year, course title, school) of each person's training, oldest first."""
    found: dict[int, list[tuple[int | None, str, str]]] = {}
    rows = await (
        TrainingRecord.filter(alumnus_id__in=ids)
        .order_by("class_year", "start_date", "id")
        .values_list("alumnus_id", "class_year", "course__title", "course__school")
    )
    for pk, year, title, school in rows:
        found.setdefault(pk, []).append((year, title, school))
    return found


def _row(person: dict[str, Any], training: list[tuple[int | None, str, str]]) -> list[str]:
    values = dict(person)
    values["country"] = person["country_id"]
    if person["secondary_verified_at"] is None:
        values["secondary_email"] = ""  # an unconfirmed address is not for contacting
    years = sorted({year for year, _t, _s in training if year is not None})
    values["class_years"] = " ".join(str(y) for y in years)
    values["courses"] = "; ".join(
        f"{title} ({school}){f', {year}' if year else ''}" for year, title, school in training
    )
    for name in ("accepts_invitations", "accepts_newsletter", "do_not_engage"):
        values[name] = "yes" if person[name] else "no"
    updated = person["updated_at"]
    values["updated_at"] = updated.strftime("%Y-%m-%dT%H:%M:%SZ") if updated else ""
    return [neutralise(values.get(column)) for column in COLUMNS]


def _csv_text(rows: Iterable[Iterable[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(rows)
    return buffer.getvalue()
