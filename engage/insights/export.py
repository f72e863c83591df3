"""CSV files of the reports: a report's table, or a list of people, for Excel.

::

    data = table_csv(["country", "total", "m12"], [["KE", 120, 54]])   # bytes
    csv_text(rows)                                                      # text of rows

UTF-8 with a byte-order mark, comma-separated, CRLF line ends, and every cell a
spreadsheet would run as a formula neutralised with a leading apostrophe (the
directory's export rule, ``engage.alumni.export.neutralise``). Shares are written as
decimals (0.4512), counts as integers; an empty cell where a share has no base.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from tortoise.expressions import Q

from engage.alumni.export import BOM, neutralise


def cell(value: object) -> str:
    """One cell's text: shares rounded to four places, nothing for None."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return neutralise(value)


def csv_text(rows: Iterable[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([cell(v) for v in row] for row in rows)
    return buffer.getvalue()


def table_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """A whole table as a CSV file's bytes."""
    return (BOM + csv_text([header, *rows])).encode("utf-8")


def keyset_after(key: tuple[str, str, int]) -> Q:
    """Rows after ``key`` in (family name, given name, id) order: the next chunk."""
    family, given, pk = key
    return Q(
        Q(family_name__gt=family),
        Q(family_name=family, given_name__gt=given),
        Q(family_name=family, given_name=given, id__gt=pk),
        join_type=Q.OR,
    )
