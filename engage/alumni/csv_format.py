"""The alumni CSV format: its documented columns, reading a file, and the template.

::

    parsed = read_csv(data)                 # raises ImportFileError when unreadable
    parsed.rows[0].line, parsed.rows[0].values["given_name"]   # 2, "Amani"
    parsed.unknown_columns                  # ["notes"]: reported, ignored
    template_csv()                          # bytes: header and two example rows

A file is UTF-8 (with or without a byte-order mark; UTF-16 with one, as Excel's
"Unicode text" saves, is read too), comma-separated (semicolons or tabs, as some
Excel locales write, are recognised from the header), quoted the way Excel quotes
(a cell may hold commas, quotes doubled, and line breaks), with CRLF, LF or CR line
endings. Header names are case-insensitive; spaces and hyphens count as
underscores ("Given name" is ``given_name``), and a few common other names are
understood (:data:`ALIASES`: "E-mail", "First name", "Surname"…). Blank rows are
skipped.

A row's ``line`` is the physical line of the file where it starts, the header being
line 1: a cell with a line break makes its row span two lines.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass

from engage.i18n import N_, _

#: An upload larger than this is refused (about 100,000 rows).
MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Column:
    name: str
    #: What the column holds (translated where shown).
    description: str
    example: str
    #: A second example, in another script.
    example_2: str = ""


#: The documented columns, in the template's order. One row per alumnus, with an
#: optional training course.
COLUMNS: tuple[Column, ...] = (
    Column(
        "programme_id",
        N_("Student or record number in the programme. Matches the profile when present."),
        "IMET-2019-0457",
        "IMET-2016-0112",
    ),
    Column(
        "email",
        N_("Primary email. Matches the profile (case-insensitive) when there is no programme ID."),
        "amani.wanjiru@example.ke",
        "illia.kovalenko@example.ua",
    ),
    Column("given_name", N_("Required. In any script."), "Amani", "Ілля"),
    Column("family_name", N_("Required. In any script."), "Wanjiru", "Коваленко"),
    Column("given_name_latin", N_("Latin spelling (passport), if different."), "", "Illia"),
    Column("family_name_latin", N_("Latin spelling (passport), if different."), "", "Kovalenko"),
    Column("preferred_name", N_("What the person likes to be called."), "", ""),
    Column(
        "country",
        N_("Required. ISO code (KE, KEN) or English name (Kenya)."),
        "KE",
        "Ukraine",
    ),
    Column(
        "service",
        N_("army, navy, air_force, marines, coast_guard, joint or other."),
        "army",
        "Army",
    ),
    Column(
        "rank",
        N_("Current rank as the country writes it; graded from the rank tables."),
        "Colonel",
        "Полковник",
    ),
    Column(
        "rank_date",
        N_("When the rank took effect, YYYY-MM-DD (default: the day of the import)."),
        "2023-07-01",
        "",
    ),
    Column("position", N_("Current position."), "Defence attaché", ""),
    Column("unit", N_("Current unit."), "Joint HQ", ""),
    Column("status", N_("serving, retired, left_service or deceased."), "serving", "serving"),
    Column("language", N_("Preferred language code: en, fr, pt-BR…"), "en", "uk"),
    Column("phone", N_("Phone number with country code."), "+254 700 000 000", ""),
    Column(
        "course_title",
        N_("Training course title; with course_school, found or added to the catalogue."),
        "Command and General Staff",
        "Air Command and Staff",
    ),
    Column("course_school", N_("The school that gave the course."), "CGSC", "ACSC"),
    Column(
        "course_category",
        N_("For a new course: pme, technical, english or other."),
        "pme",
        "pme",
    ),
    Column(
        "class_year",
        N_("Class year (default: the end date's year)."),
        "2019",
        "2016",
    ),
    Column("start_date", N_("Course start, YYYY-MM-DD."), "2018-08-06", "2015-08-03"),
    Column("end_date", N_("Course end, YYYY-MM-DD."), "2019-06-14", "2016-05-27"),
    Column("funding_type", N_("One of programme.funding_types."), "IMET", "FMS"),
    Column("graduated", N_("yes or no (default: yes for a new record)."), "yes", "yes"),
)
COLUMN_NAMES = tuple(c.name for c in COLUMNS)
#: Without these columns in the header, the file cannot be imported.
REQUIRED_COLUMNS = ("given_name", "family_name", "country")
#: At least one of these must be a column: rows are matched by them.
KEY_COLUMNS = ("programme_id", "email")

_HEADER_SEPARATORS = re.compile(r"[\s\-]+")
#: Other spellings of the documented columns that rosters often use.
ALIASES = {
    "e_mail": "email",
    "email_address": "email",
    "first_name": "given_name",
    "last_name": "family_name",
    "surname": "family_name",
    "student_id": "programme_id",
}
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class ImportFileError(Exception):
    """The file cannot be imported at all (not text, no header, missing columns)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class RawRow:
    """One data row: the physical line it starts on, and its cells by column name."""

    line: int
    values: dict[str, str]
    #: Cells beyond the header's columns that are not empty.
    extra_cells: int = 0


@dataclass(frozen=True)
class ParsedFile:
    columns: list[str]
    unknown_columns: list[str]
    rows: list[RawRow]


def column_key(header: str) -> str:
    """ "Given name" -> "given_name"; "E-mail" -> "email" (:data:`ALIASES`)."""
    key = _HEADER_SEPARATORS.sub("_", header.strip().lower())
    return ALIASES.get(key, key)


def decode(data: bytes) -> str:
    """The file's text (byte-order mark removed); ImportFileError when not UTF-8."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError:
                break
    else:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    raise ImportFileError(
        _(
            'The file is not UTF-8 text. In Excel, choose "Save as" and the type '
            '"CSV UTF-8 (Comma delimited)".'
        )
    )


def _delimiter(first_line: str) -> str:
    counts = {sep: first_line.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def read_csv(data: bytes) -> ParsedFile:
    """Parse an import file (see the module doc). Raises ImportFileError."""
    if len(data) > MAX_FILE_BYTES:
        raise ImportFileError(
            _("The file is larger than %(n)s MB: split it.", n=MAX_FILE_BYTES // 1024 // 1024)
        )
    text = decode(data)
    if "\x00" in text:
        raise ImportFileError(_("The file holds binary data: it is not a CSV file."))
    if not text.strip():
        raise ImportFileError(_("The file is empty."))
    first_line = re.split(r"\r\n|\r|\n", text.lstrip("\r\n"), maxsplit=1)[0]
    # newline="" keeps line breaks inside quoted cells; the reader ends a row on
    # CRLF, LF or CR alike.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line))
    header: list[str] | None = None
    rows: list[RawRow] = []
    consumed = 0
    try:
        for cells in reader:
            line = consumed + 1
            consumed = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = [column_key(cell) for cell in cells]
                continue
            values = {name: cell.strip() for name, cell in zip(header, cells, strict=False) if name}
            extra = sum(1 for cell in cells[len(header) :] if cell.strip())
            rows.append(RawRow(line=line, values=values, extra_cells=extra))
    except csv.Error as exc:
        raise ImportFileError(
            _("Line %(line)s cannot be read: %(error)s.", line=reader.line_num, error=str(exc))
        ) from None
    if header is None:
        raise ImportFileError(_("The file is empty."))
    _check_header(header)
    unknown = [name for name in header if name and name not in COLUMN_NAMES]
    return ParsedFile(columns=header, unknown_columns=unknown, rows=rows)


def _check_header(header: list[str]) -> None:
    seen: set[str] = set()
    for name in header:
        if name and name in seen:
            raise ImportFileError(_("The column %(name)s appears twice in the header.", name=name))
        seen.add(name)
    missing = [name for name in REQUIRED_COLUMNS if name not in seen]
    if missing:
        raise ImportFileError(
            _(
                "The header lacks the required column(s) %(names)s. Start from the template.",
                names=", ".join(missing),
            )
        )
    if not any(name in seen for name in KEY_COLUMNS):
        raise ImportFileError(
            _("The header needs a programme_id or an email column: rows are matched by them.")
        )


def template_csv() -> bytes:
    """The template: the documented header and two example rows, UTF-8 with a BOM (so
    Excel opens names in any script correctly), CRLF line endings."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMN_NAMES)
    writer.writerow([c.example for c in COLUMNS])
    writer.writerow([c.example_2 for c in COLUMNS])
    return codecs.BOM_UTF8 + out.getvalue().encode("utf-8")
