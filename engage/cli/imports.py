"""``engage import alumni FILE.csv [--dry-run]``: the CSV import from the command line.

::

    engage import alumni roster.csv --dry-run    # what it would do; writes nothing
    engage import alumni roster.csv              # a progress bar on stderr, the report on stdout

It acts as the system (no account): the job and the audit log name no one
("System"). Exit status 0 when the import ran, rejected rows or not; 1 when the
file cannot be read (missing, not UTF-8, no usable header); 2 for a bad command.
Interrupted (Ctrl+C, a kill, a crash), the same command resumes the import from
its last applied chunk.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from tortoise.context import TortoiseContext

from engage import db
from engage.alumni.csv_format import ImportFileError
from engage.alumni.import_jobs import ImportReport
from engage.alumni.importer import run_import
from engage.logs import configure_logging
from engage.places.seed import seed_countries
from engage.settings import Settings, load_settings, with_secret_key

EXIT_FAILED = 1
BAR_WIDTH = 30


def add_commands(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    config_option: Callable[[argparse.ArgumentParser], None],
) -> None:
    command = sub.add_parser("import", help="import data from files")
    kinds = command.add_subparsers(dest="import_kind", metavar="KIND", required=True)
    alumni = kinds.add_parser(
        "alumni",
        help="import alumni from a CSV file (see README: CSV import)",
        description="Import alumni from a CSV file. Rows are matched by programme ID, "
        "else by email; importing the same file twice changes nothing.",
    )
    alumni.add_argument("file", metavar="FILE.csv", type=Path, help="the CSV file")
    alumni.add_argument(
        "--dry-run", action="store_true", help="check the file and report; write nothing"
    )
    config_option(alumni)
    alumni.set_defaults(func=import_alumni)


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    configure_logging(settings)
    # The erased-identity check hashes addresses with the secret key.
    return with_secret_key(settings)


async def _ready(ctx: TortoiseContext, settings: Settings) -> None:
    # SQLite is brought up to date by whoever opens it first (as `engage serve`
    # does); on PostgreSQL migrating is a deliberate step: `engage migrate`.
    if settings.database.is_sqlite:
        await db.apply_migrations(ctx)
    elif pending := await db.pending_migrations(ctx):
        raise db.PendingMigrations(pending)
    await seed_countries()  # country names are matched against the table


class ProgressBar:
    """``[#########       ] 1200/3000 rows`` on one line of a terminal; on a pipe, a
    line at every tenth of the way (and the last)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.shown_tenth = -1

    def __call__(self, done: int, total: int) -> None:
        filled = BAR_WIDTH * done // total if total else BAR_WIDTH
        text = f"[{'#' * filled}{' ' * (BAR_WIDTH - filled)}] {done}/{total} rows"
        if self.tty:
            end = "\n" if done >= total else ""
            print(f"\r{text}", end=end, file=self.stream, flush=True)
            return
        tenth = 10 * done // total if total else 10
        if tenth > self.shown_tenth or done >= total:
            self.shown_tenth = tenth
            print(text, file=self.stream, flush=True)


def _print_report(report: ImportReport, out: TextIO) -> None:
    def say(text: str = "") -> None:
        print(text, file=out)

    if report.dry_run:
        say("Dry run: nothing was written. Importing the file would give:")
    elif report.resumed_from:
        say(f"Resumed import {report.job_id} at row {report.resumed_from}.")
    verb = ("to create", "to update") if report.dry_run else ("created", "updated")
    say(
        f"{report.total_rows} rows: {report.created} {verb[0]}, {report.updated} {verb[1]}, "
        f"{report.unchanged} unchanged, {len(report.rejected)} rejected"
    )
    if report.courses_created:
        added = "to add" if report.dry_run else "added"
        say(f"{report.courses_created} course(s) {added} to the catalogue")
    if report.kept_contact:
        say(f"{report.kept_contact} profile(s) kept the contact details the person edited")
    if report.unknown_columns:
        say(f"Unknown columns (ignored): {', '.join(report.unknown_columns)}")
    if report.queued_ranks:
        say("Ranks waiting for a grade at /admin/ranks (their rows were imported):")
        for rank in report.queued_ranks:
            say(f"  {rank}")
    if report.conflicts:
        say("Values not applied (another profile holds them):")
        for line, text in report.conflicts:
            say(f"  line {line}: {text}")
    if report.rejected:
        say("Rejected rows (line numbers count the header as line 1):")
        for line, reason in report.rejected:
            say(f"  line {line}: {reason}")
    if report.job_id is not None:
        say(f"Import job {report.job_id}: {report.status}")


def import_alumni(args: argparse.Namespace) -> int:
    path: Path = args.file
    try:
        data = path.read_bytes()
    except OSError as exc:
        print(f"engage: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    return asyncio.run(_import_alumni(data, path.name, args))


async def _import_alumni(data: bytes, filename: str, args: argparse.Namespace) -> int:
    path = args.file
    settings = _settings(args)
    async with db.database(settings) as ctx:
        await _ready(ctx, settings)
        try:
            report = await run_import(
                data,
                actor=None,
                settings=settings,
                dry_run=args.dry_run,
                filename=filename,
                progress=ProgressBar(sys.stderr),
            )
        except ImportFileError as exc:
            print(f"engage: {path}: {exc.message}", file=sys.stderr)
            return EXIT_FAILED
    _print_report(report, sys.stdout)
    return 0
