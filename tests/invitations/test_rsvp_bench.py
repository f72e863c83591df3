"""A tiny run of the ``rsvp_ratio`` benchmark (bench/bench_rsvp.py): the wiring, not
the figures. Both servers answer every request, and the seats add up afterwards."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.slow
def test_rsvp_benchmark_smoke_run_on_sqlite():
    spec = importlib.util.spec_from_file_location("engage_bench_run", BENCH_DIR / "run.py")
    assert spec is not None and spec.loader is not None
    runner = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = runner
    spec.loader.exec_module(runner)
    (benchmark,) = [b for b in runner.discover() if b.name == "rsvp_ratio"]
    params = {
        **benchmark.params(quick=True, database="sqlite"),
        "connections": 8,
        "seconds": 1.0,
        "warmup_seconds": 0.2,
        "rounds": 1,
        "invitations": 60,
        "capacity": 10,
    }

    record = runner.run_benchmark(benchmark, params)

    assert "error" not in record, record.get("error")
    assert record["notes"] == []  # no errors, no "database is locked", seats add up
    assert record["figures"]["requests/s"] > 0 and record["baseline"]["requests/s"] > 0
    assert record["figures"]["errors"] == record["baseline"]["errors"] == 0
    assert record["ratio"] > 0
