"""The Insights benchmark (bench/bench_insights.py): a tiny smoke run on SQLite, and
the engagement history it generates checked for what it promises."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from engage import db as engage_db
from engage.alumni.engagement import CONTACTED, ENGAGED
from engage.alumni.models import Alumnus, Engagement
from engage.invitations.models import Invitation

BENCH_DIR = Path(__file__).resolve().parent.parent.parent / "bench"


@pytest.fixture(scope="module")
def runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("engage_bench_run", BENCH_DIR / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_insights_smoke_run_on_sqlite(runner):
    (benchmark,) = [b for b in runner.discover() if b.name == "insights_p99_ms"]
    params = {
        **benchmark.params(quick=True, database="sqlite"),
        "alumni_large": 400,
        "alumni_small": 120,
        "requests": 10,
        "warmup": 1,
        "rounds": 1,
    }

    record = runner.run_benchmark(benchmark, params)

    assert "error" not in record, record.get("error")
    figures, baseline = record["figures"], record["baseline"]
    for name in ("insights_p99_ms_100k", "insights_p99_ms_10k", "insights_p50_ms_100k"):
        assert figures[name] > 0 and baseline[name] > 0
    for report in ("coverage", "lapsed", "funnel", "careers", "capabilities"):
        assert figures[f"{report}_p99_ms_100k"] > 0
    assert record["measure"] == "insights_p99_ms_100k"
    assert record["ratio"] == pytest.approx(
        baseline["insights_p99_ms_100k"] / figures["insights_p99_ms_100k"], abs=1e-4
    )
    generated = record["parameters"]["generated"]["100k"]
    assert generated["alumni"] == 400
    assert 3000 < generated["engagement_rows"] < 5000  # about 10 a person


def test_the_plan_mixes_reports_and_roles(runner):
    bench = importlib.import_module("bench_insights")  # bench/ is on sys.path via the runner
    plan = bench.plan_requests(100)
    assert plan == bench.plan_requests(100)
    assert Counter(r.report for r in plan) == dict.fromkeys(bench.REPORTS, 20)
    assert 0.15 < sum(r.as_attache for r in plan) / len(plan) < 0.45
    assert {r.options["by"] for r in plan if r.report == "coverage"} == set(bench.DIMENSIONS)


async def test_the_history_keeps_the_summary_columns_rules(runner, settings):
    alumni_data = importlib.import_module("_alumni_data")
    engagement_data = importlib.import_module("_engagement_data")
    async with engage_db.database(settings):
        await alumni_data.generate_alumni(300, seed=3, chunk=100)
        history = await engagement_data.generate_history(300, per_alumnus=10, seed=3)

        assert history.lines == await Engagement.all().count()
        assert history.invitations == await Invitation.all().count() > 0
        people = {a.id: a for a in await Alumnus.all()}
        lines = await Engagement.all().values("alumnus_id", "kind", "at")
        for column, kinds in (("last_contacted_at", CONTACTED), ("last_engaged_at", ENGAGED)):
            latest: dict[int, object] = {}
            for line in lines:
                if line["kind"] in kinds:
                    pk = line["alumnus_id"]
                    latest[pk] = max(latest.get(pk, line["at"]), line["at"])
            for pk, person in people.items():
                assert getattr(person, column) == latest.get(pk), (column, pk)
        never = sum(1 for p in people.values() if p.last_contacted_at is None)
        assert 0.05 < never / len(people) < 0.4
        # Explicit ids did not leave the sequences behind (PostgreSQL).
        added = await Engagement.create(alumnus_id=1, kind="invited", at=lines[0]["at"])
        assert added.id > history.lines
