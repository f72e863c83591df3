"""A tiny run of the newsletter benchmark (bench/bench_newsletter.py): the wiring, and
that an issue sent to N people reaches the sink N times through a worker process."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


def _runner():
    spec = importlib.util.spec_from_file_location("engage_bench_run", BENCH_DIR / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_newsletter_bench_smoke_run_on_sqlite():
    runner = _runner()
    (benchmark,) = [b for b in runner.discover() if b.name == "newsletter_send_rate"]
    params = {
        **benchmark.params(quick=True, database="sqlite"),
        "recipients": 40,
        "baseline_messages": 10,
        "concurrency": 2,
        "rounds": 1,
    }

    record = runner.run_benchmark(benchmark, params)

    assert "error" not in record, record.get("error")
    assert record["notes"] == []  # 40 sent by the worker, 50 received by the sink
    figures = record["figures"]
    assert figures["recipients"] == 40
    assert figures["messages/s"] > 0 and record["baseline"]["messages/s"] > 0
    assert figures["worker_peak_rss_mb"] > 0 and figures["rows_written/s"] > 0
    assert "newsletter_send_rate" in runner.format_table([record])
