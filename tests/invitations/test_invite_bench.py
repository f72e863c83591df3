"""A tiny run of the invite_ratio benchmark (bench/bench_invite.py): the wiring, and
that both sides write the same number of rows."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


def _runner():
    spec = importlib.util.spec_from_file_location("engage_bench_run", BENCH_DIR / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_invite_ratio_smoke_run_on_sqlite():
    runner = _runner()
    (benchmark,) = [b for b in runner.discover() if b.name == "invite_ratio"]
    params = {
        **benchmark.params(quick=True, database="sqlite"),
        "alumni": 60,
        "chunk": 25,
        "rounds": 1,
    }

    record = runner.run_benchmark(benchmark, params)

    assert "error" not in record, record.get("error")
    assert record["notes"] == []  # 60 invitations and 60 outbox rows on each side
    figures = record["figures"]
    assert figures["invited"] == 60
    assert figures["invitations/s"] > 0 and record["baseline"]["invitations/s"] > 0
    assert figures["invite_ratio"] > 0 and figures["max_chunk_ms"] >= figures["p50_chunk_ms"] > 0
    assert "invite_ratio" in runner.format_table([record])
