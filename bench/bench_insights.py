"""Insights report latency (p50, p99) at 100,000 alumni and 10,000, against a one-scan count.

At 100,000 alumni the history holds about 1,000,000 engagement lines. Two fresh
databases are filled by ``_alumni_data.generate_alumni`` and
``_engagement_data.generate_history`` (the same seed; ``alumni_large`` and
``alumni_small`` people with ``per_alumnus`` engagement lines each on average, the
summary columns they imply, events and invitations). Then the same list of report
requests (:func:`plan_requests`) runs on each, one at a time, each as its page asks
for it: contact coverage by country, region, embassy, course category or class year
(with a graduating cohort sometimes); lapsed and lost (the counts and a page of one
list); the event funnel (sometimes a period or a country); career outcomes (by
country or course, and the recently promoted page); capability lookup (every tag, or
one tag by country and a page of its people); as staff or, three times in ten, as the
Nairobi attaché (scope built in). Whatever the sizes, the figures keep the contract
names ``insights_p99_ms_100k`` and ``insights_p99_ms_10k`` (large and small size);
``<report>_p99_ms_100k`` break the large one down.

Baseline: next to each report, the same database counts its alumni by country
(``Alumnus`` grouped by ``country_id``: one scan of the people, the floor of any
report over all of them). The ratio is the baseline's p99 over the reports' at the
large size (higher is better); ``p99_100k/10k`` near 1 means the cost does not grow
with the tables, near 10 that it grows with them (a report over every person cannot
be flat: it reads each once).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from _alumni_data import ATTACHE_EMAIL, STAFF_EMAIL, analyze, describe, generate_alumni
from _database import BENCH_SECRET, scratch_database
from _engagement_data import generate_history
from _result import Result
from tortoise.functions import Count

from engage import db
from engage.accounts.actor import Actor, load_actor
from engage.accounts.models import User
from engage.alumni.models import Alumnus
from engage.insights import capabilities, careers, coverage, funnel, lapsed
from engage.insights.filters import ReportFilter, report_filter
from engage.settings import Settings, load_settings

NAME = "insights_p99_ms"
#: Parameters by mode; the runner adds ``database``.
PARAMETERS: dict[str, dict[str, Any]] = {
    "quick": {
        "alumni_large": 10_000,
        "alumni_small": 1_000,
        "per_alumnus": 10,
        "requests": 40,
        "warmup": 5,
        "rounds": 2,
    },
    "full": {
        "alumni_large": 100_000,
        "alumni_small": 10_000,
        "per_alumnus": 10,
        "requests": 60,
        "warmup": 10,
        "rounds": 2,
    },
}
LARGE, SMALL = "100k", "10k"
MEASURE = f"insights_p99_ms_{LARGE}"
SEED = 7
REPORTS = ("coverage", "lapsed", "funnel", "careers", "capabilities")
DIMENSIONS = ("country", "region", "embassy", "course_category", "class_year")


@dataclass(frozen=True)
class Request:
    """One report page: which report, as whom, with what."""

    report: str
    as_attache: bool
    options: dict[str, Any]


def plan_requests(count: int, *, seed: int = SEED) -> list[Request]:
    """``count`` report requests, the five reports in turn, drawn with a fixed seed."""
    rng = random.Random(seed)
    plan = []
    for index in range(count):
        report = REPORTS[index % len(REPORTS)]
        options: dict[str, Any] = {}
        if report == "coverage":
            options["by"] = rng.choice(DIMENSIONS)
            if rng.random() < 0.3:
                first = rng.randint(2000, 2020)
                options["cohort"] = (first, first + rng.randint(0, 4))
        elif report == "lapsed":
            options |= {"by": rng.choice(["country", "region"]), "months": rng.choice([12, 18, 24])}
            options["list"] = rng.choice(lapsed.LISTS)
        elif report == "funnel":
            if rng.random() < 0.4:
                options["since_days"] = rng.choice([90, 365, 730])
            if rng.random() < 0.3:
                options["country"] = rng.choice(["KE", "CO", "VN", "UG"])
        elif report == "careers":
            options["by"] = rng.choice(["country", "course", "region"])
        else:
            options["tag"] = rng.random() < 0.6
        plan.append(Request(report, rng.random() < 0.3, options))
    return plan


async def _report(request: Request, actor: Actor, tags: list[str], now: datetime) -> None:
    """What the report's page asks of ``engage.insights``."""
    options = request.options
    if request.report == "coverage":
        cohort = options.get("cohort")
        flt = report_filter()
        if cohort:
            flt = report_filter(date_from=date(cohort[0], 1, 1), date_to=date(cohort[1], 12, 31))
        await coverage.contact_coverage(flt, actor=actor, by=options["by"], now=now)
    elif request.report == "lapsed":
        months = options["months"]
        await lapsed.lapsed_report(report_filter(), actor=actor, months=months, by=options["by"])
        await lapsed.lapsed_people(report_filter(), options["list"], actor=actor, months=months)
    elif request.report == "funnel":
        since = options.get("since_days")
        flt: ReportFilter = report_filter(
            date_from=(now - timedelta(days=since)).date() if since else None,
            country=[options["country"]] if "country" in options else [],
        )
        await funnel.event_funnel(flt, actor=actor, now=now)
    elif request.report == "careers":
        await careers.career_outcomes(report_filter(), actor=actor, by=options["by"])
        await careers.recently_promoted(report_filter(), actor=actor, now=now)
    else:
        tag = tags[len(tags) // 2] if options["tag"] and tags else ""
        await capabilities.capability_lookup(report_filter(), actor=actor, tag=tag)
        if tag:
            await capabilities.capable_people(report_filter(), actor=actor, tag=tag)


async def _baseline() -> None:
    await Alumnus.annotate(n=Count("id")).group_by("country_id").values("country_id", "n")


@dataclass
class _Samples:
    engage: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    by_report: dict[str, list[float]] = field(default_factory=dict)


def _settings(url: str, var_dir: Path) -> Settings:
    return load_settings(
        environ={},
        read_file=False,
        overrides={
            "app": {"var_dir": str(var_dir), "secret_key": BENCH_SECRET, "log_level": "warning"},
            "database": {"url": url},
        },
    )


async def _generate(settings: Settings, count: int, per_alumnus: int) -> dict[str, Any]:
    async with db.database(settings) as ctx:
        await db.apply_migrations(ctx)
        world = await generate_alumni(count, seed=SEED)
        history = await generate_history(count, per_alumnus=per_alumnus, seed=SEED)
        analyzed = await analyze()
    return {
        **describe(world),
        **{f"{table}_rows": n for table, n in history.rows.items()},
        "seconds": round(world.seconds + history.seconds, 2),
        "analyzed": analyzed,
    }


async def _timed(call: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    await call()
    return time.perf_counter() - start


async def _measure(
    settings: Settings, warm: list[Request], plan: list[Request], samples: _Samples
) -> None:
    """Run ``warm`` (not counted), then ``plan`` once on this database."""
    now = datetime.now(UTC)
    async with db.database(settings):
        staff = await load_actor(await User.get(email_key=STAFF_EMAIL))
        attache = await load_actor(await User.get(email_key=ATTACHE_EMAIL))
        tags = await capabilities.equipment_tags()

        def call(request: Request) -> Callable[[], Awaitable[None]]:
            actor = attache if request.as_attache else staff
            return lambda: _report(request, actor, tags, now)

        for request in warm:
            await call(request)()
            await _baseline()
        for index, request in enumerate(plan):
            # Alternate which goes first, so neither always follows the other's work.
            if index % 2:
                samples.baseline.append(await _timed(_baseline))
            seconds = await _timed(call(request))
            samples.engage.append(seconds)
            samples.by_report.setdefault(request.report, []).append(seconds)
            if not index % 2:
                samples.baseline.append(await _timed(_baseline))


def _p(samples: list[float], q: int) -> float:
    """The q-th percentile of ``samples`` (seconds) in milliseconds."""
    return round(statistics.quantiles(samples, n=100, method="inclusive")[q - 1] * 1000, 3)


def _figures(large: list[float], small: list[float]) -> dict[str, float]:
    return {
        f"insights_p50_ms_{LARGE}": _p(large, 50),
        f"insights_p99_ms_{LARGE}": _p(large, 99),
        f"insights_p50_ms_{SMALL}": _p(small, 50),
        f"insights_p99_ms_{SMALL}": _p(small, 99),
        f"p99_{LARGE}/{SMALL}": round(_p(large, 99) / _p(small, 99), 3),
    }


@dataclass(frozen=True)
class LatencyResult(Result):
    """For a latency, the ratio is baseline / Engage: still "higher is better"."""

    @property
    def ratio(self) -> float:
        engage = self.figures.get(self.measure, 0.0)
        return round(self.baseline.get(self.measure, 0.0) / engage, 4) if engage else 0.0


async def _bench(urls: dict[str, str], var_dir: Path, params: dict[str, Any]) -> Result:
    sizes = {LARGE: params["alumni_large"], SMALL: params["alumni_small"]}
    settings = {label: _settings(urls[label], var_dir) for label in sizes}
    generated = {
        label: await _generate(settings[label], n, params["per_alumnus"])
        for label, n in sizes.items()
    }
    plan = plan_requests(params["requests"] + params["warmup"])
    warm, plan = plan[: params["warmup"]], plan[params["warmup"] :]
    samples = {label: _Samples() for label in sizes}
    for round_no in range(params["rounds"]):
        order = [LARGE, SMALL] if round_no % 2 == 0 else [SMALL, LARGE]
        for label in order:
            await _measure(settings[label], warm, plan, samples[label])
    figures = _figures(samples[LARGE].engage, samples[SMALL].engage)
    for report in REPORTS:
        figures[f"{report}_p99_ms_{LARGE}"] = _p(samples[LARGE].by_report[report], 99)
    figures |= {f"generate_s_{label}": g["seconds"] for label, g in generated.items()}
    baseline = _figures(samples[LARGE].baseline, samples[SMALL].baseline)
    notes = []
    slowest = max(samples[LARGE].engage)
    if slowest >= 1.0:
        notes.append(f"a report took {slowest:.2f} s at the large size")
    parameters = {
        **params,
        "generated": generated,
        "baseline": "Alumnus grouped by country_id (one scan of the people), same database",
    }
    return LatencyResult(NAME, MEASURE, figures, baseline, parameters, notes)


def run(params: dict[str, Any]) -> Result:
    """Measure the Insights reports' p50/p99 (ms) at two sizes against a one-scan count.

    ``params``: alumni_large and alumni_small (alumni generated in each database),
    per_alumnus (engagement lines per person on average), requests (report pages per
    round and size, after ``warmup`` uncounted ones), rounds (passes over the list,
    alternating which size goes first; percentiles pool every pass), database
    ("sqlite" or "postgres").
    """
    with (
        tempfile.TemporaryDirectory(prefix="engage-bench-") as tmp,
        scratch_database(params["database"], Path(tmp) / LARGE) as large,
        scratch_database(params["database"], Path(tmp) / SMALL) as small,
    ):
        return asyncio.run(_bench({LARGE: large, SMALL: small}, Path(tmp) / "var", params))
