"""CSV import throughput (rows/s): ``run_import`` against parsing plus a plain bulk insert.

Engage: a generated file of ``rows`` valid rows in the documented columns
(``engage.alumni.csv_format``: names in their scripts with the Latin spelling, ISO
codes and a few English country names, services, statuses, languages, phones; a
current rank with its date in most rows, a training course from a 50-course
catalogue in most rows, which the import adds as it meets them) goes through
``run_import`` (not a dry run) as staff, into a fresh, migrated database with the
countries seeded: checks, matching, profiles, search tokens, training, careers and
grades, in chunks with the job checkpoint. Baseline: the same bytes parsed with
``csv.DictReader`` and written as ``Alumnus`` rows only (names, email, country,
service, programme ID, status, language, phone) with one ``bulk_create``, into
another fresh database. The ratio is Engage's rows/s over the baseline's.
"""

from __future__ import annotations

import asyncio
import csv
import io
import random
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from _alumni_data import LADDERS, countries, courses
from _database import BENCH_SECRET, scratch_database
from _result import Result
from anyascii import anyascii

from engage import db
from engage.accounts.actor import load_actor
from engage.accounts.models import Role, User
from engage.alumni.csv_format import COLUMN_NAMES
from engage.alumni.importer import run_import
from engage.alumni.models import Alumnus
from engage.places.catalogue import catalogue
from engage.places.seed import seed_countries
from engage.settings import Settings, load_settings

NAME = "import_rows_per_s"
#: Parameters by mode; the runner adds ``database``.
PARAMETERS: dict[str, dict[str, Any]] = {
    "quick": {"rows": 2_000, "rounds": 2},
    "full": {"rows": 10_000, "rounds": 3},
}
MEASURE = "rows/s"
SEED = 11
#: Shares of the rows that carry a rank, a training course, an English country name.
WITH_RANK, WITH_COURSE, COUNTRY_BY_NAME = 0.8, 0.7, 0.1
_SERVICES = ("army",) * 6 + ("air_force",) * 2 + ("navy",) * 2
_STATUSES = ("serving",) * 17 + ("retired", "retired", "left_service")


def _slug(name: str) -> str:
    return "".join(c for c in anyascii(name).lower() if c.isalnum())


def import_csv(rows: int, *, seed: int = SEED) -> bytes:
    """``rows`` valid, distinct rows in the documented columns: UTF-8 with a BOM, CRLF."""
    rng = random.Random(seed)
    world = countries()
    names = {entry.code: entry.name for entry in catalogue().values()}
    catalogue_ = courses()
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=COLUMN_NAMES, lineterminator="\r\n")
    writer.writeheader()
    picks = rng.choices(world, weights=[c.share for c in world], k=rows)
    for serial, country in enumerate(picks, start=1):
        given, given_latin = rng.choice(country.given)
        family, family_latin = rng.choice(country.family)
        service = rng.choice(_SERVICES)
        class_year = rng.randint(2000, 2024)
        row = {
            "programme_id": f"{country.code}-{class_year}-{serial:06d}",
            "email": f"{_slug(given_latin or given)}.{_slug(family_latin or family)}.{serial}"
            f"@example.{country.code.lower()}",
            "given_name": given,
            "family_name": family,
            "given_name_latin": given_latin,
            "family_name_latin": family_latin,
            "country": names[country.code] if rng.random() < COUNTRY_BY_NAME else country.code,
            "service": service,
            "status": rng.choice(_STATUSES),
            "language": country.language,
            "phone": f"+{rng.randint(20, 999)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
        }
        if rng.random() < WITH_RANK:
            ladder = LADDERS.get(country.code, {}).get(service) or LADDERS["_common"][service]
            row["rank"] = rng.choice(ladder)
            row["rank_date"] = date(rng.randint(2015, 2024), rng.randint(1, 12), 1).isoformat()
            row["position"] = "Staff Officer"
        if rng.random() < WITH_COURSE:
            course = rng.choice(catalogue_)
            start = date(class_year, rng.randint(1, 6), rng.randint(1, 28))
            row |= {
                "course_title": course.title,
                "course_school": course.school,
                "course_category": str(course.category),
                "class_year": str(class_year),
                "start_date": start.isoformat(),
                "end_date": (start + timedelta(weeks=rng.randint(2, 40))).isoformat(),
                "funding_type": rng.choice(("IMET", "IMET", "IMET", "FMS")),
                "graduated": "yes",
            }
        writer.writerow(row)
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def _settings(url: str, var_dir: Path) -> Settings:
    return load_settings(
        environ={},
        read_file=False,
        overrides={
            "app": {"var_dir": str(var_dir), "secret_key": BENCH_SECRET, "log_level": "warning"},
            "database": {"url": url},
        },
    )


async def _engage(settings: Settings, data: bytes) -> tuple[float, Any]:
    """Seconds ``run_import`` took on a fresh database, and its report."""
    async with db.database(settings) as ctx:
        await db.apply_migrations(ctx)
        await seed_countries()
        user = await User.create(
            email="staff@bench.example", email_key="staff@bench.example", role=Role.STAFF
        )
        actor = await load_actor(user)
        start = time.perf_counter()
        report = await run_import(
            data, actor=actor, settings=settings, dry_run=False, filename="bench.csv"
        )
        return time.perf_counter() - start, report


async def _baseline(settings: Settings, data: bytes) -> tuple[float, int]:
    """Seconds to parse ``data`` and bulk-insert its rows as bare profiles; how many."""
    async with db.database(settings) as ctx:
        await db.apply_migrations(ctx)
        await seed_countries()
        codes = {entry.name.lower(): entry.code for entry in catalogue().values()}
        start = time.perf_counter()
        reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
        profiles = [
            Alumnus(
                given_name=row["given_name"],
                family_name=row["family_name"],
                given_name_latin=row["given_name_latin"],
                family_name_latin=row["family_name_latin"],
                email=row["email"],
                email_key=row["email"].lower(),
                country_id=codes.get(row["country"].lower(), row["country"]),
                service=row["service"],
                programme_id=row["programme_id"],
                status=row["status"],
                language=row["language"],
                phone=row["phone"],
            )
            for row in reader
        ]
        await Alumnus.bulk_create(profiles, batch_size=1000)
        return time.perf_counter() - start, len(profiles)


def run(params: dict[str, Any]) -> Result:
    """Measure rows/s of ``run_import`` against csv parsing plus ``bulk_create``.

    ``params``: rows (in the generated file), rounds (each side imports the file
    into a fresh database per round, alternating which goes first; the median
    round's rate counts), database ("sqlite" or "postgres").
    """
    data = import_csv(params["rows"])
    engage_rates, base_rates, notes = [], [], []
    created = rejected = 0
    for round_no in range(params["rounds"]):
        sides = ["engage", "baseline"] if round_no % 2 == 0 else ["baseline", "engage"]
        for side in sides:
            with (
                tempfile.TemporaryDirectory(prefix="engage-bench-") as tmp,
                scratch_database(params["database"], Path(tmp)) as url,
            ):
                settings = _settings(url, Path(tmp) / "var")
                if side == "engage":
                    seconds, report = asyncio.run(_engage(settings, data))
                    engage_rates.append(params["rows"] / seconds)
                    created, rejected = report.created, len(report.rejected)
                    if created != params["rows"] or rejected or report.queued_ranks:
                        notes.append(
                            f"round {round_no}: {created} created, {rejected} rejected, "
                            f"{len(report.queued_ranks)} ranks queued of {params['rows']} rows; "
                            f"first rejections: {report.rejected[:3]}"
                        )
                else:
                    seconds, written = asyncio.run(_baseline(settings, data))
                    base_rates.append(written / seconds)
    figures = {MEASURE: round(statistics.median(engage_rates), 1), "created": float(created)}
    baseline = {MEASURE: round(statistics.median(base_rates), 1)}
    parameters = {**params, "file_bytes": len(data)}
    return Result(NAME, MEASURE, figures, baseline, parameters, notes)
