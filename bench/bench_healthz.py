"""``GET /healthz`` of the real app against a bare Starlette endpoint.

Both are served by uvicorn in their own process (Engage through ``engage serve``
on a fresh database in a temporary folder); the load comes from a third process
(``_load.py``): the same connections for the same time against each, alternating
which goes first in each round. The ratio is Engage's requests/s over the
baseline's; latencies are shown for both.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _database import BENCH_SECRET, scratch_database
from _processes import BENCH_DIR, clean_environ, free_port, http_server, run_checked
from _result import Result

NAME = "healthz"
#: Parameters by mode; the runner adds ``database``.
PARAMETERS: dict[str, dict[str, Any]] = {
    "quick": {"connections": 16, "seconds": 2.0, "warmup_seconds": 0.5, "rounds": 2},
    "full": {"connections": 64, "seconds": 10.0, "warmup_seconds": 2.0, "rounds": 3},
}
MEASURE = "requests/s"


def _engage_command() -> list[str]:
    script = Path(sys.executable).with_name("engage")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from engage.cli.main import main; main()"]


def _baseline_command(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(BENCH_DIR),
        "_baseline_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--no-server-header",
        "--proxy-headers",
        "--log-level",
        "warning",
    ]


def _engage_environ(workdir: Path, url: str, port: int, *, postgres: bool) -> dict[str, str]:
    extra = {
        "ENGAGE_APP__VAR_DIR": str(workdir / "var"),
        "ENGAGE_APP__LOG_LEVEL": "warning",
        "ENGAGE_APP__LOG_FORMAT": "text",
        "ENGAGE_DATABASE__URL": url,
        "ENGAGE_SERVER__HOST": "127.0.0.1",
        "ENGAGE_SERVER__PORT": str(port),
    }
    if postgres:  # outside the embedded default a secret is required
        extra["ENGAGE_APP__SECRET_KEY"] = BENCH_SECRET
    return clean_environ(extra)


def _load(url: str, params: dict[str, Any]) -> dict[str, float]:
    seconds, warmup = params["seconds"], params["warmup_seconds"]
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH_DIR / "_load.py"),
            url,
            "--connections",
            str(params["connections"]),
            "--seconds",
            str(seconds),
            "--warmup",
            str(warmup),
        ],
        capture_output=True,
        text=True,
        timeout=seconds + warmup + 60,
        check=True,
    )
    return json.loads(done.stdout)


#: Figures added up over the rounds; the others are the median round's.
_TOTALS = ("requests", "errors")


def _combine(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {
        key: sum(r[key] for r in rounds)
        if key in _TOTALS
        else statistics.median(r[key] for r in rounds)
        for key in rounds[0]
    }


def run(params: dict[str, Any]) -> Result:
    """Measure requests/s and p50/p95/p99 of Engage's ``/healthz`` against the baseline.

    ``params``: connections, seconds (measured per round), warmup_seconds, rounds,
    database ("sqlite" or "postgres").
    """
    postgres = params["database"] == "postgres"
    with (
        tempfile.TemporaryDirectory(prefix="engage-bench-") as tmp,
        scratch_database(params["database"], Path(tmp)) as db_url,
    ):
        workdir = Path(tmp)
        engage_port, base_port = free_port(), free_port()
        env = _engage_environ(workdir, db_url, engage_port, postgres=postgres)
        if postgres:  # `engage serve` refuses pending migrations on PostgreSQL
            run_checked(
                [*_engage_command(), "migrate"], env=env, cwd=workdir, log=workdir / "migrate.log"
            )
        engage_url = f"http://127.0.0.1:{engage_port}/healthz"
        base_url = f"http://127.0.0.1:{base_port}/healthz"
        engage_rounds: list[dict[str, float]] = []
        base_rounds: list[dict[str, float]] = []
        with (
            http_server(
                [*_engage_command(), "serve", "--port", str(engage_port)],
                url=engage_url,
                env=env,
                cwd=workdir,
                log=workdir / "engage.log",
            ),
            http_server(
                _baseline_command(base_port),
                url=base_url,
                env=clean_environ(),
                cwd=workdir,
                log=workdir / "baseline.log",
            ),
        ):
            for index in range(params["rounds"]):
                order = [(base_url, base_rounds), (engage_url, engage_rounds)]
                for url, into in order if index % 2 == 0 else reversed(order):
                    into.append(_load(url, params))
    figures, baseline = _combine(engage_rounds), _combine(base_rounds)
    notes = [
        f"{side}: {int(f['errors'])} failed request(s)"
        for side, f in (("engage", figures), ("baseline", baseline))
        if f["errors"]
    ]
    return Result(NAME, MEASURE, figures, baseline, dict(params), notes)
