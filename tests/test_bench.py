"""The benchmark runner (``bench/run.py``): discovery, declared parameters, smoke runs.

The benchmarks themselves are not run here at their sizes (they take a while and
measure nothing useful on a busy test machine); tiny runs check the wiring, and the
alumni generator the benchmarks fill their databases with is checked for what it
promises (complete, searchable, scoped, repeatable).
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest
from anyascii import anyascii

from engage import db as engage_db
from engage.alumni.audience import AudienceFilter
from engage.alumni.csv_format import COLUMN_NAMES, read_csv
from engage.alumni.directory import SORTS
from engage.alumni.models import Alumnus, CareerEntry, SearchToken, TrainingRecord
from engage.alumni.names import refresh_search_tokens
from tests.conftest import make_settings

BENCH_DIR = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("engage_bench_run", BENCH_DIR / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def test_every_benchmark_module_is_discovered(runner):
    found = runner.discover()

    assert sorted(b.path for b in found) == sorted(BENCH_DIR.glob("bench_*.py"))
    assert {"healthz", "mail_worker", "directory_p99_ms", "import_rows_per_s"} <= {
        b.name for b in found
    }


def test_each_benchmark_declares_its_parameters(runner):
    for benchmark in runner.discover():
        assert benchmark.summary, benchmark.name
        assert (benchmark.run.__doc__ or "").strip(), benchmark.name
        quick = benchmark.params(quick=True, database="postgres")
        full = benchmark.params(quick=False, database="postgres")
        assert quick["database"] == full["database"] == "postgres"
        assert quick.keys() == full.keys()
        assert "rounds" in quick
        for key, value in benchmark.parameters["quick"].items():
            assert isinstance(value, int | float) and value > 0, (benchmark.name, key)
            assert value <= full[key], f"{benchmark.name}: quick {key} exceeds full"


def test_a_module_without_parameters_is_refused(runner, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "bench_broken.py").write_text(
        'NAME = "broken"\n\ndef run(params):\n    """Measure nothing."""\n'
    )
    try:
        with pytest.raises(runner.DiscoveryError, match="PARAMETERS"):
            runner.discover(tmp_path)
    finally:
        sys.modules.pop("bench_broken", None)


@pytest.mark.slow
def test_mail_worker_smoke_run_on_sqlite(runner):
    (benchmark,) = [b for b in runner.discover() if b.name == "mail_worker"]
    params = {**benchmark.params(quick=True, database="sqlite"), "messages": 20, "rounds": 1}

    record = runner.run_benchmark(benchmark, params)

    assert "error" not in record, record.get("error")
    assert record["notes"] == []  # every message sent, on both sides
    assert record["figures"]["messages/s"] > 0 and record["baseline"]["messages/s"] > 0
    assert record["ratio"] > 0
    assert record["cpu_count"] and record["parameters"]["database"] == "sqlite"
    assert "mail_worker" in runner.format_table([record])


# --- The generated alumni (bench/_alumni_data.py) --------------------------------


@pytest.fixture(scope="module")
def alumni_data(runner) -> ModuleType:
    return importlib.import_module("_alumni_data")  # bench/ is on sys.path via the runner


async def test_generated_alumni_are_complete_searchable_and_scoped(alumni_data, settings):
    async with engage_db.database(settings):
        world = await alumni_data.generate_alumni(400, seed=3, chunk=150)

        assert world.rows["alumnus"] == await Alumnus.all().count() == 400
        assert world.staff.country_codes is None
        assert world.attache.country_codes == {"KE", "SO", "UG"}
        people = await Alumnus.all().values("id", "country_id", "given_name", "grade", "email_key")
        assert len({p["country_id"] for p in people}) >= 20
        scripts = {anyascii(p["given_name"]) != p["given_name"] for p in people}
        assert scripts == {True, False}  # Latin and other scripts
        assert {"KE", "SO", "UG"} & {p["country_id"] for p in people}
        keys = [p["email_key"] for p in people if p["email_key"]]
        assert len(keys) == len(set(keys)) > 300
        training = Counter(await TrainingRecord.all().values_list("alumnus_id", flat=True))
        career = Counter(await CareerEntry.all().values_list("alumnus_id", flat=True))
        assert set(training.values()) <= {1, 2, 3} and len(training) == 400
        assert set(career.values()) <= {1, 2, 3, 4} and len(career) == 400
        assert sum(1 for p in people if p["grade"]) == 400  # every rank is in the tables

        # The tokens are those the application writes for the same names.
        before = sorted(await SearchToken.all().values_list("alumnus_id", "token"))
        await refresh_search_tokens([p["id"] for p in people])
        assert sorted(await SearchToken.all().values_list("alumnus_id", "token")) == before

        # Explicit ids did not leave the id sequences behind (PostgreSQL).
        added = await Alumnus.create(given_name="New", family_name="Person", country_id="KE")
        assert added.id > 400


async def test_the_same_seed_makes_the_same_people(alumni_data, sqlite_url, tmp_path):
    second = tmp_path / "second.sqlite3"
    shutil.copy(sqlite_url.removeprefix("sqlite://"), second)
    made = []
    for url in (sqlite_url, f"sqlite://{second}"):
        async with engage_db.database(make_settings(url, tmp_path / "var")):
            await alumni_data.generate_alumni(150, seed=5, chunk=60)
            made.append(
                (
                    await Alumnus.all().order_by("id").values_list("search_key", "country_id"),
                    await TrainingRecord.all()
                    .order_by("id")
                    .values_list("course_id", "class_year"),
                    await CareerEntry.all().order_by("id").values_list("rank", "effective_date"),
                )
            )
    assert made[0] == made[1]


# --- Smoke runs of the directory and import benchmarks (SQLite, a few seconds) ----


def _benchmark(runner, name: str):
    (found,) = [b for b in runner.discover() if b.name == name]
    return found


def test_directory_smoke_run_on_sqlite(runner):
    benchmark = _benchmark(runner, "directory_p99_ms")
    params = {
        **benchmark.params(quick=True, database="sqlite"),
        "alumni_large": 600,
        "alumni_small": 150,
        "queries": 24,
        "warmup": 2,
        "rounds": 1,
    }

    record = runner.run_benchmark(benchmark, params)

    assert "error" not in record, record.get("error")
    figures, baseline = record["figures"], record["baseline"]
    # The contract names, whatever the sizes (which the parameters say).
    for name in ("directory_p99_ms_100k", "directory_p99_ms_10k", "directory_p50_ms_100k"):
        assert figures[name] > 0 and baseline[name] > 0
    assert figures["p99_100k/10k"] > 0
    assert record["parameters"]["generated"]["100k"]["alumni"] == 600
    assert record["measure"] == "directory_p99_ms_100k"
    assert record["ratio"] == pytest.approx(
        baseline["directory_p99_ms_100k"] / figures["directory_p99_ms_100k"], rel=1e-3
    )
    assert record["cpu_count"] and record["parameters"]["database"] == "sqlite"
    assert "directory_p99_ms_10k" in runner.format_table([record])


def test_directory_queries_are_valid_filters_and_mixed(runner):
    bench_directory = importlib.import_module("bench_directory")  # bench/ is on sys.path

    plan = bench_directory.plan_queries(300)

    assert plan == bench_directory.plan_queries(300)  # the same list every run
    for query in plan:
        AudienceFilter(**query.filters)
        assert query.sort in SORTS
    assert 0.15 < sum(q.as_attache for q in plan) / len(plan) < 0.45
    for field in ("q", "country", "region", "grade_min", "course_category", "class_year_min"):
        assert any(field in q.filters for q in plan), field


def test_import_smoke_run_on_sqlite(runner):
    benchmark = _benchmark(runner, "import_rows_per_s")
    params = {**benchmark.params(quick=True, database="sqlite"), "rows": 120, "rounds": 1}

    record = runner.run_benchmark(benchmark, params)

    assert "error" not in record, record.get("error")
    assert record["notes"] == []  # every row created, none rejected, no rank queued
    assert record["figures"]["created"] == 120
    assert record["figures"]["rows/s"] > 0 and record["baseline"]["rows/s"] > 0
    assert record["ratio"] > 0


def test_the_import_file_has_the_documented_columns(runner):
    bench_import = importlib.import_module("bench_import")

    parsed = read_csv(bench_import.import_csv(300))

    assert tuple(parsed.columns) == COLUMN_NAMES and parsed.unknown_columns == []
    assert len(parsed.rows) == 300
    assert any(row.values["course_title"] for row in parsed.rows)
    assert any(not row.values["rank"] for row in parsed.rows)
    assert len({row.values["programme_id"] for row in parsed.rows}) == 300


@pytest.mark.slow
def test_send_smoke_run_on_sqlite(runner):
    benchmark = _benchmark(runner, "send_ratio")
    params = {
        **benchmark.params(quick=True, database="sqlite"),
        "messages": 40,
        "rounds": 1,
        "rss_small": 30,
        "rss_large": 60,
    }

    record = runner.run_benchmark(benchmark, params)

    assert "error" not in record, record.get("error")
    assert [n for n in record["notes"] if "memory grew" not in n] == []  # all sent, every side
    figures, baseline = record["figures"], record["baseline"]
    assert figures["messages/s"] > 0 and baseline["messages/s"] > 0
    assert baseline["ceiling messages/s"] > 0 and figures["send_ceiling_ratio"] > 0
    assert figures["send_peak_rss_mb_10k"] > 0 and figures["send_peak_rss_mb_100k"] > 0
    assert record["parameters"]["baselines"]["connections"] == params["concurrency"]
