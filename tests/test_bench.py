"""The benchmark runner (``bench/run.py``): discovery, declared parameters, a smoke run.

The benchmarks themselves are not run here (they take a while and measure nothing
useful on a busy test machine); only a tiny mail_worker run checks the wiring.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

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
    assert {"healthz", "mail_worker"} <= {b.name for b in found}


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
