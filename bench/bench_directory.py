"""Directory search latency (p50, p99) over 100,000 and 10,000 alumni, against a PK page fetch.

Two fresh databases are filled by ``_alumni_data.generate_alumni`` (the same seed;
``alumni_large`` and ``alumni_small`` people, 100,000 and 10,000 in full mode), then
the same list of queries (:func:`plan_queries`) runs on each, one at a time:
``search_directory`` with a place (a country, three, a region, or the whole scope)
and one or two of a grade range, a course category or class-year range, a name
prefix ``q`` and a service; a sort; page 1 mostly, else 2 or 3; as staff or as the
Nairobi attaché (scope built in). A query's time is the whole call: the COUNT, the
page and its people's class years. Whatever the sizes, the figures keep the contract
names ``directory_p99_ms_100k`` and ``directory_p99_ms_10k`` (large and small size).

Baseline: next to each directory query, the same database fetches one page of
``page_size`` random alumni by primary key (``Alumnus.filter(id__in=...)``): the
floor of producing a page of profiles through the ORM, whatever the filter. (The same
queries over 1,000 alumni would need a third database and still scan a little.) It
does not grow with the table, so its own ``p99_100k/10k`` shows how far noise alone
moves that figure. The ratio is the baseline's p99 over the directory's at the large
size: the directory's speed as a share of the floor's (higher is better).
``p99_100k/10k`` near 1 means the directory's cost does not grow with the table
(indexes, not scans); near the size ratio (10) means it grows with it.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _alumni_data import (
    ATTACHE_EMAIL,
    STAFF_EMAIL,
    CountryData,
    analyze,
    countries,
    describe,
    generate_alumni,
)
from _database import BENCH_SECRET, scratch_database
from _result import Result

from engage import db
from engage.accounts.actor import Actor, load_actor
from engage.accounts.models import User
from engage.alumni.audience import AudienceFilter
from engage.alumni.directory import search_directory
from engage.alumni.models import Alumnus
from engage.alumni.names import query_tokens
from engage.settings import Settings, load_settings

NAME = "directory_p99_ms"
#: Parameters by mode; the runner adds ``database``.
PARAMETERS: dict[str, dict[str, Any]] = {
    "quick": {
        "alumni_large": 20_000,
        "alumni_small": 2_000,
        "queries": 200,
        "warmup": 10,
        "page_size": 50,
        "rounds": 2,
    },
    "full": {
        "alumni_large": 100_000,
        "alumni_small": 10_000,
        "queries": 300,
        "warmup": 20,
        "page_size": 50,
        "rounds": 2,
    },
}
LARGE, SMALL = "100k", "10k"
MEASURE = f"directory_p99_ms_{LARGE}"
SEED = 7
#: Sort orders the directory offers (``search_directory(sort=...)``).
SORTS = ("name", "name", "name", "-name", "grade", "-grade", "country", "-updated")
ATTACHE_COUNTRIES = ("KE", "SO", "UG")


@dataclass(frozen=True)
class Query:
    """One directory request: who asks, the filter, the page and the sort."""

    as_attache: bool
    filters: dict[str, Any]
    page: int
    sort: str


@dataclass
class _Samples:
    engage: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    #: Directory queries whose page came back empty.
    empty: int = 0
    #: Seconds of each query of the plan, by its index (one per round).
    by_query: dict[int, list[float]] = field(default_factory=dict)


def _place(rng: random.Random, as_attache: bool, world: tuple[CountryData, ...]) -> dict[str, Any]:
    """Where: one country (most often), three, a region, or anywhere in scope."""
    roll = rng.random()
    if as_attache:
        return {"country": [rng.choice(ATTACHE_COUNTRIES)]} if roll < 0.6 else {}
    if roll < 0.5:
        return {"country": [rng.choices(world, weights=[c.share for c in world])[0].code]}
    if roll < 0.65:
        return {"country": [c.code for c in rng.sample(world, 3)]}
    if roll < 0.85:
        return {"region": rng.choice(sorted({c.region for c in world}))}
    return {}


def _criteria(rng: random.Random, country: CountryData) -> dict[str, Any]:
    """What else: one or two of a grade range, a training criterion, a name, a service."""
    found: dict[str, Any] = {}
    for pick in rng.sample(["grade", "training", "grade", "q", "service"], rng.randint(1, 2)):
        if pick == "grade" and rng.random() < 0.15:
            found |= {"grade_min": "OR-5", "grade_max": "OR-8"}
        elif pick == "grade":
            low = rng.randint(1, 5)
            found |= {"grade_min": f"OF-{low}", "grade_max": f"OF-{low + rng.randint(1, 3)}"}
        elif pick == "training" and rng.random() < 0.5:
            found["course_category"] = rng.choice(["pme", "technical", "english", "other"])
        elif pick == "training":
            first = rng.randint(2000, 2020)
            found |= {"class_year_min": first, "class_year_max": first + rng.randint(0, 4)}
        elif pick == "q":
            written, latin = rng.choice(country.family)
            token = query_tokens(latin or written)[0]
            found["q"] = token[: rng.randint(min(3, len(token)), len(token))]
        elif pick == "service":
            found["service"] = rng.choice(["army", "army", "navy", "air_force"])
    return found


def plan_queries(count: int, *, seed: int = SEED) -> list[Query]:
    """``count`` directory queries drawn from the generated countries and names: a
    place (or the whole scope) and one or two other criteria; page 1 mostly."""
    rng = random.Random(seed)
    world = countries()
    by_code = {c.code: c for c in world}
    plan = []
    for _ in range(count):
        as_attache = rng.random() < 0.3
        filters = _place(rng, as_attache, world)
        codes = filters.get("country") or (ATTACHE_COUNTRIES if as_attache else list(by_code))
        filters |= _criteria(rng, by_code.get(rng.choice(codes)) or rng.choice(world))
        page = rng.choice([1, 1, 1, 1, 1, 1, 1, 2, 2, 3])
        plan.append(Query(as_attache, filters, page=page, sort=rng.choice(SORTS)))
    return plan


def _settings(url: str, var_dir: Path) -> Settings:
    return load_settings(
        environ={},
        read_file=False,
        overrides={
            "app": {"var_dir": str(var_dir), "secret_key": BENCH_SECRET, "log_level": "warning"},
            "database": {"url": url},
        },
    )


async def _generate(settings: Settings, count: int) -> dict[str, Any]:
    async with db.database(settings) as ctx:
        await db.apply_migrations(ctx)
        world = await generate_alumni(count, seed=SEED)
        analyzed = await analyze()
    return {**describe(world), "seconds": world.seconds, "analyzed": analyzed}


async def _actors() -> tuple[Actor, Actor]:
    staff, attache = await User.get(email_key=STAFF_EMAIL), await User.get(email_key=ATTACHE_EMAIL)
    return await load_actor(staff), await load_actor(attache)


async def _directory(
    query: Query, actors: tuple[Actor, Actor], page_size: int
) -> tuple[float, int]:
    actor = actors[1] if query.as_attache else actors[0]
    start = time.perf_counter()
    page = await search_directory(
        AudienceFilter(**query.filters),
        actor=actor,
        page=query.page,
        page_size=page_size,
        sort=query.sort,
    )
    return time.perf_counter() - start, len(page.items)


async def _pk_page(rng: random.Random, alumni: int, page_size: int) -> float:
    ids = rng.sample(range(1, alumni + 1), page_size)
    start = time.perf_counter()
    rows = await Alumnus.filter(id__in=ids).order_by("family_name", "given_name", "id")
    seconds = time.perf_counter() - start
    assert len(rows) == page_size
    return seconds


async def _measure(
    settings: Settings,
    alumni: int,
    warm: list[Query],
    plan: list[Query],
    params: dict[str, Any],
    samples: _Samples,
) -> None:
    """Run ``warm`` (not counted), then ``plan`` once on this database."""
    rng = random.Random(SEED + alumni)
    page_size = params["page_size"]
    async with db.database(settings):
        actors = await _actors()
        for query in warm:
            await _directory(query, actors, page_size)
            await _pk_page(rng, alumni, page_size)
        for index, query in enumerate(plan):
            # Alternate which goes first, so neither always follows the other's work.
            if index % 2:
                samples.baseline.append(await _pk_page(rng, alumni, page_size))
            seconds, shown = await _directory(query, actors, page_size)
            samples.engage.append(seconds)
            samples.by_query.setdefault(index, []).append(seconds)
            samples.empty += shown == 0
            if not index % 2:
                samples.baseline.append(await _pk_page(rng, alumni, page_size))


def _p(samples: list[float], q: int) -> float:
    """The q-th percentile of ``samples`` (seconds) in milliseconds."""
    return round(statistics.quantiles(samples, n=100, method="inclusive")[q - 1] * 1000, 3)


def _figures(large: list[float], small: list[float]) -> dict[str, float]:
    return {
        f"directory_p50_ms_{LARGE}": _p(large, 50),
        f"directory_p99_ms_{LARGE}": _p(large, 99),
        f"directory_p50_ms_{SMALL}": _p(small, 50),
        f"directory_p99_ms_{SMALL}": _p(small, 99),
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
    generated = {label: await _generate(settings[label], n) for label, n in sizes.items()}
    plan = plan_queries(params["queries"] + params["warmup"])
    warm, plan = plan[: params["warmup"]], plan[params["warmup"] :]
    samples = {label: _Samples() for label in sizes}
    for round_no in range(params["rounds"]):
        order = [LARGE, SMALL] if round_no % 2 == 0 else [SMALL, LARGE]
        for label in order:
            await _measure(settings[label], sizes[label], warm, plan, params, samples[label])
    notes = []
    for label, found in samples.items():
        if found.empty > len(found.engage) // 2:
            notes.append(f"{label}: {found.empty} of {len(found.engage)} pages were empty")
    figures = _figures(samples[LARGE].engage, samples[SMALL].engage)
    figures |= {f"generate_s_{label}": round(g["seconds"], 2) for label, g in generated.items()}
    figures |= {f"empty_pages_{label}": float(s.empty) for label, s in samples.items()}
    baseline = _figures(samples[LARGE].baseline, samples[SMALL].baseline)
    parameters = {
        **params,
        "generated": {label: generated[label] for label in sizes},
        "baseline": "Alumnus.filter(id__in=<page_size random ids>) on the same database",
    }
    return LatencyResult(NAME, MEASURE, figures, baseline, parameters, notes)


def run(params: dict[str, Any]) -> Result:
    """Measure directory p50/p99 (ms) at two sizes against a primary-key page fetch.

    ``params``: alumni_large and alumni_small (alumni generated in each database),
    queries (directory queries per round and size, after ``warmup`` uncounted ones),
    page_size, rounds (passes over the query list, alternating which size goes
    first; percentiles pool every pass), database ("sqlite" or "postgres").
    """
    with (
        tempfile.TemporaryDirectory(prefix="engage-bench-") as tmp,
        scratch_database(params["database"], Path(tmp) / LARGE) as large,
        scratch_database(params["database"], Path(tmp) / SMALL) as small,
    ):
        return asyncio.run(_bench({LARGE: large, SMALL: small}, Path(tmp) / "var", params))
