"""``engage import alumni FILE.csv [--dry-run]``: the progress bar and report, the
command as a real process (exit statuses), and an import killed mid-way (SIGKILL)
then resumed by running the same command again."""

from __future__ import annotations

import asyncio
import io
import re
import signal
from datetime import date

import pytest

from engage.accounts.models import AuditEvent
from engage.alumni.import_jobs import ImportReport
from engage.alumni.models import (
    Alumnus,
    CareerEntry,
    ImportJob,
    ImportStatus,
    SearchToken,
    TrainingRecord,
)
from engage.cli.imports import ProgressBar, _print_report
from tests.alumni.test_import import HEADER, csv_bytes, row
from tests.conftest import TEST_SECRET
from tests.test_demo_pages import engage_command, engage_env, run_engage

KILL_ROWS = 3000
_PROGRESS = re.compile(r"\] (\d+)/(\d+) rows")


# --- In process: what the command prints ------------------------------------------------


def test_progress_bar_on_a_pipe_prints_each_tenth():
    out = io.StringIO()
    bar = ProgressBar(out)
    for done in range(0, 3001, 200):
        bar(done, 3000)
    lines = out.getvalue().splitlines()
    assert lines[0] == "[" + " " * 30 + "] 0/3000 rows"
    assert lines[-1] == "[" + "#" * 30 + "] 3000/3000 rows"
    assert "[#####" in out.getvalue() and "] 1200/3000 rows" in out.getvalue()
    assert len(lines) <= 12


def test_report_lists_counts_rejected_lines_and_queued_ranks():
    out = io.StringIO()
    report = ImportReport(
        created=3,
        updated=1,
        unchanged=2,
        rejected=[(4, "Bad email address."), (9, "Unknown country: “Atlantis”.")],
        queued_ranks=["KE army: Field Bishop"],
        job_id=7,
        total_rows=8,
        status="done",
    )
    _print_report(report, out)
    text = out.getvalue()
    assert "8 rows: 3 created, 1 updated, 2 unchanged, 2 rejected" in text
    assert "  line 4: Bad email address." in text and "  line 9: Unknown country" in text
    assert "  KE army: Field Bishop" in text and "Import job 7: done" in text


# --- Real processes ---------------------------------------------------------------------


def roster(n: int) -> bytes:
    countries = ["KE", "Kenya", "UA", "CO"]
    ranks = ["Colonel", "Major", "Полковник", "Coronel"]
    return csv_bytes(
        HEADER,
        *[
            row(
                programme_id=f"K-{i:05d}",
                email=f"k{i}@example.org",
                given_name=["Amani", "Nguyễn", "Олександр", "José"][i % 4],
                family_name=f"Family{i}",
                country=countries[i % 4],
                service="army",
                rank=ranks[i % 4],
                rank_date="2022-01-01",
                course_title=f"Course {i % 7}",
                course_school="CGSC",
                class_year=str(2000 + i % 20),
                funding_type="IMET",
            )
            for i in range(n)
        ],
        newline="\r\n",
    )


@pytest.fixture
def cli_env(db_url, tmp_path):
    return engage_env(
        ENGAGE_DATABASE__URL=db_url,
        ENGAGE_APP__SECRET_KEY=TEST_SECRET,
        ENGAGE_APP__VAR_DIR=str(tmp_path / "var"),
        ENGAGE_APP__LOG_FORMAT="text",
    )


@pytest.mark.slow
async def test_the_command_dry_run_import_reimport_and_exit_statuses(db, cli_env, tmp_path):
    path = tmp_path / "roster.csv"
    path.write_bytes(
        roster(5)
        + csv_bytes(row(programme_id="X-1", given_name="No", family_name="Where", country="ZZ"))
    )
    dry = run_engage("import", "alumni", str(path), "--dry-run", cwd=tmp_path, env=cli_env)
    assert dry.returncode == 0, dry.stderr
    assert "Dry run: nothing was written" in dry.stdout
    assert "6 rows: 5 to create, 0 to update, 0 unchanged, 1 rejected" in dry.stdout
    assert "line 7: Unknown country" in dry.stdout
    assert "] 6/6 rows" in dry.stderr
    assert not await Alumnus.exists() and not await ImportJob.exists()

    done = run_engage("import", "alumni", str(path), cwd=tmp_path, env=cli_env)
    assert done.returncode == 0, done.stderr
    assert "6 rows: 5 created, 0 updated, 0 unchanged, 1 rejected" in done.stdout
    assert "Import job" in done.stdout and ": done" in done.stdout
    assert await Alumnus.all().count() == 5
    event = await AuditEvent.get(action="alumni.import")
    assert event.actor_id is None and event.details["by"] == "system"
    assert (await ImportJob.get()).created_by_id is None

    again = run_engage("import", "alumni", str(path), cwd=tmp_path, env=cli_env)
    assert again.returncode == 0
    assert "6 rows: 0 created, 0 updated, 5 unchanged, 1 rejected" in again.stdout

    missing = run_engage("import", "alumni", str(tmp_path / "nope.csv"), cwd=tmp_path, env=cli_env)
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    latin = tmp_path / "latin1.csv"
    latin.write_bytes(
        "given_name,family_name,country,email\nJosé,García,CO,j@x.org\n".encode("latin-1")
    )
    unreadable = run_engage("import", "alumni", str(latin), cwd=tmp_path, env=cli_env)
    assert unreadable.returncode == 1 and "not UTF-8" in unreadable.stderr
    usage = run_engage("import", "alumni", cwd=tmp_path, env=cli_env)
    assert usage.returncode == 2
    usage = run_engage("import", "alumni", str(path), "--dry", "--bogus", cwd=tmp_path, env=cli_env)
    assert usage.returncode == 2


@pytest.mark.slow
async def test_an_import_killed_mid_way_resumes_to_the_state_of_a_clean_import(
    db, cli_env, tmp_path
):
    path = tmp_path / "big.csv"
    data = roster(KILL_ROWS)
    path.write_bytes(data)
    process = await asyncio.create_subprocess_exec(
        *engage_command(),
        "import",
        "alumni",
        str(path),
        cwd=tmp_path,
        env=cli_env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    progress = 0
    try:
        # The bar is printed after each chunk's commit: kill at the first real progress.
        assert process.stderr is not None
        while line := await asyncio.wait_for(process.stderr.readline(), timeout=120):
            match = _PROGRESS.search(line.decode())
            if match and 0 < int(match.group(1)) < KILL_ROWS:
                progress = int(match.group(1))
                process.send_signal(signal.SIGKILL)
                break
    finally:
        if process.returncode is None and not progress:
            process.kill()
        await asyncio.wait_for(process.wait(), timeout=30)
    assert progress, "the import showed no progress before it ended"
    assert process.returncode == -signal.SIGKILL

    # Killed: every chunk is applied or not, and the checkpoint says which.
    job = await ImportJob.get()
    assert job.status == ImportStatus.RUNNING
    assert 0 < job.next_row < KILL_ROWS
    assert job.next_row >= progress
    applied = job.next_row
    assert job.created == applied
    assert await Alumnus.all().count() == applied
    assert await TrainingRecord.all().count() == applied
    assert await CareerEntry.all().count() == applied
    assert (
        await Alumnus.filter(programme_id__in=[f"K-{i:05d}" for i in range(applied)]).count()
        == applied
    )
    assert not await AuditEvent.filter(action="alumni.import").exists()

    # The same command again: it resumes the job and completes it.
    rerun = run_engage("import", "alumni", str(path), cwd=tmp_path, env=cli_env)
    assert rerun.returncode == 0, rerun.stderr
    assert f"Resumed import {job.id} at row {applied}." in rerun.stdout
    assert (
        f"{KILL_ROWS} rows: {KILL_ROWS} created, 0 updated, 0 unchanged, 0 rejected" in rerun.stdout
    )
    await job.refresh_from_db()
    assert job.status == ImportStatus.DONE and job.next_row == KILL_ROWS
    assert await ImportJob.all().count() == 1

    # The final state is that of a clean import: each row once, as the file says.
    people = {a.programme_id: a for a in await Alumnus.all()}
    assert len(people) == KILL_ROWS == await Alumnus.all().count()
    assert await TrainingRecord.all().count() == KILL_ROWS
    assert await CareerEntry.all().count() == KILL_ROWS
    trained = dict(await TrainingRecord.all().values_list("alumnus_id", "class_year"))
    for i in range(KILL_ROWS):
        person = people[f"K-{i:05d}"]
        assert person.family_name == f"Family{i}" and person.email == f"k{i}@example.org"
        assert person.country_id == ["KE", "KE", "UA", "CO"][i % 4]
        assert trained[person.id] == 2000 + i % 20
    assert await SearchToken.filter(token="family0").count() == 1
    entry = await CareerEntry.filter(alumnus_id=people["K-00000"].id).first()
    assert entry.effective_date == date(2022, 1, 1) and entry.grade == "OF-5"
    event = await AuditEvent.get(action="alumni.import")
    assert event.details["created"] == KILL_ROWS
