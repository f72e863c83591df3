"""Run the benchmarks in ``bench/`` and compare each with a baseline of the same run.

::

    python bench/run.py                       # full sizes, SQLite
    python bench/run.py --quick               # small sizes: well under a minute
    python bench/run.py --database postgres   # ENGAGE_BENCH_POSTGRES_URL
    python bench/run.py --only healthz

A benchmark is a module ``bench/bench_<name>.py`` that declares::

    NAME = "healthz"
    PARAMETERS = {"quick": {...}, "full": {...}}    # sizes, concurrency, rounds
    def run(params: dict[str, Any]) -> Result: ...  # params also has "database"

The runner prints a table and writes ``bench/results.json``: one object per
benchmark with Engage's figures, the baseline's, their ratio, the parameters and
the machine's core count. Figures are ratios, not verdicts: machines are shared and
noisy, so nothing here passes or fails on an absolute timing.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:  # the benchmarks import their helpers (_load, ...)
    sys.path.insert(0, str(BENCH_DIR))

from _database import KINDS  # noqa: E402
from _result import Result  # noqa: E402

MODES = ("quick", "full")
RESULTS_FILE = BENCH_DIR / "results.json"


class DiscoveryError(Exception):
    """A ``bench_*.py`` module does not declare what the runner needs."""


@dataclass(frozen=True)
class Benchmark:
    name: str
    #: Parameters by mode ("quick", "full"), without the database.
    parameters: dict[str, dict[str, Any]]
    run: Callable[[dict[str, Any]], Result]
    #: The first line of the module's docstring.
    summary: str
    path: Path

    def params(self, *, quick: bool, database: str) -> dict[str, Any]:
        mode = "quick" if quick else "full"
        return {**self.parameters[mode], "database": database, "mode": mode}


def _load_module(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise DiscoveryError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def _check(path: Path, module: Any) -> Benchmark:
    name = getattr(module, "NAME", None)
    parameters = getattr(module, "PARAMETERS", None)
    run = getattr(module, "run", None)
    if not isinstance(name, str) or not name:
        raise DiscoveryError(f"{path.name}: NAME must be a non-empty string")
    if not isinstance(parameters, dict) or set(parameters) != set(MODES):
        raise DiscoveryError(f"{path.name}: PARAMETERS must map exactly {MODES} to parameters")
    keys = [set(parameters[mode]) for mode in MODES]
    if any(not k for k in keys) or keys[0] != keys[1]:
        raise DiscoveryError(f"{path.name}: quick and full must declare the same parameters")
    if not callable(run) or not (run.__doc__ or "").strip():
        raise DiscoveryError(f"{path.name}: needs a documented function run(params) -> Result")
    summary = (module.__doc__ or "").strip().partition("\n")[0].replace("``", "")
    return Benchmark(name=name, parameters=parameters, run=run, summary=summary, path=path)


def discover(folder: Path = BENCH_DIR) -> list[Benchmark]:
    """Every ``bench_*.py`` in ``folder``, by file name; raises :class:`DiscoveryError`."""
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    found = [_check(path, _load_module(path)) for path in sorted(folder.glob("bench_*.py"))]
    names = [b.name for b in found]
    if len(set(names)) != len(names):
        raise DiscoveryError(f"two benchmarks share a name: {names}")
    return found


def _number(value: Any) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.1f}"
    return f"{value:,.0f}" if isinstance(value, int | float) else str(value)


def format_table(records: list[dict[str, Any]]) -> str:
    """The results as a text table: one row per figure, the ratio on the measured one."""
    rows = [("benchmark", "database", "figure", "engage", "baseline", "ratio")]
    for record in records:
        first = (record["name"], record["parameters"].get("database", ""))
        if "error" in record:
            rows.append((*first, "FAILED", record["error"].splitlines()[-1][:60], "", ""))
            continue
        for key, value in record["figures"].items():
            ratio = f"{record['ratio']:.3f}" if key == record["measure"] else ""
            base = _number(record["baseline"].get(key, ""))
            rows.append((*first, key, _number(value), base, ratio))
            first = ("", "")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            cell.ljust(w) if i < 3 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run_benchmark(benchmark: Benchmark, params: dict[str, Any]) -> dict[str, Any]:
    """Run one benchmark; its JSON record (with ``error`` instead of figures if it failed)."""
    started = datetime.now(UTC)
    clock = time.perf_counter()
    record: dict[str, Any]
    try:
        record = benchmark.run(params).to_json()
    except Exception:
        record = {"name": benchmark.name, "parameters": params, "error": traceback.format_exc()}
    record.update(
        cpu_count=os.cpu_count(),
        started_at=started.isoformat(timespec="seconds"),
        wall_seconds=round(time.perf_counter() - clock, 2),
        python=platform.python_version(),
        platform=platform.platform(),
    )
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run Engage's benchmarks against baselines.")
    parser.add_argument("--quick", action="store_true", help="small sizes (well under a minute)")
    parser.add_argument("--database", choices=KINDS, default="sqlite")
    parser.add_argument("--only", action="append", metavar="NAME", help="run only these")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help="results JSON file")
    args = parser.parse_args(argv)

    benchmarks = discover()
    if args.only:
        unknown = set(args.only) - {b.name for b in benchmarks}
        if unknown:
            parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
        benchmarks = [b for b in benchmarks if b.name in args.only]
    clock = time.perf_counter()
    records = []
    for benchmark in benchmarks:
        params = benchmark.params(quick=args.quick, database=args.database)
        shown = ", ".join(f"{k}={v}" for k, v in params.items())
        print(f"{benchmark.name}: {benchmark.summary} ({shown})", flush=True)
        record = run_benchmark(benchmark, params)
        if "error" in record:
            print(record["error"], file=sys.stderr, flush=True)
        for note in record.get("notes", []):
            print(f"  note: {note}", flush=True)
        records.append(record)
    args.output.write_text(json.dumps(records, indent=2) + "\n")
    print()
    print(format_table(records))
    print(
        f"\n{len(records)} benchmark(s) in {time.perf_counter() - clock:.1f}s on "
        f"{os.cpu_count()} core(s); ratio = engage / baseline (higher is better); "
        f"written to {args.output}"
    )
    return 1 if any("error" in r for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
