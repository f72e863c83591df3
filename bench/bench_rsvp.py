"""``POST /rsvp/{token}`` of the real app under 64 clients, against a bare lookup-and-update.

Engage: ``engage serve`` (uvicorn, one process, the mail worker off so only the
request is measured) on a fresh database holding an event of ``capacity`` seats
and ``invitations`` invitations. Each request answers one invitation through its
personal link: the token check, CSRF (cookie and form field), the answer's
validation, the capacity rule under the event's row lock, the update, the
confirmation's outbox row, the confirmation page. Invitations are taken in turn and
each pass flips the answer (yes, then no, then yes...), so every request writes: the
first yes answers fill the seats and then the waitlist; a no frees a seat and
promotes the first in line (or leaves the line).

Baseline: ``_rsvp_baseline_app.py`` under uvicorn, on the same database in the same
run: ``POST /answer/{id}`` reads the form, fetches the invitation by primary key and
updates its status (other rows than Engage's). The load (``connections`` keep-alive
clients for ``seconds`` after a warm-up, raw asyncio streams, from this process)
alternates which side goes first each round. The ratio is Engage's requests/s over
the baseline's; p50/p99 and errors are shown for both, and a note flags any error,
any "database is locked" in a server's log, and seats that do not add up.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from _database import BENCH_SECRET, scratch_database
from _processes import BENCH_DIR, clean_environ, free_port, http_server
from _result import Result

from engage import db
from engage.accounts.users import email_key
from engage.alumni.models import Alumnus
from engage.clock import utcnow
from engage.events.models import Event, EventStatus
from engage.invitations.links import PURPOSE
from engage.invitations.models import Invitation, InvitationStatus
from engage.places.models import Embassy
from engage.places.seed import seed_countries
from engage.settings import Settings, load_settings
from engage.tokens import make_token

NAME = "rsvp_ratio"
#: Parameters by mode; the runner adds ``database``.
PARAMETERS: dict[str, dict[str, Any]] = {
    "quick": {
        "connections": 64,
        "seconds": 2.0,
        "warmup_seconds": 0.5,
        "rounds": 2,
        "invitations": 1000,
        "capacity": 100,
    },
    "full": {
        "connections": 64,
        "seconds": 10.0,
        "warmup_seconds": 2.0,
        "rounds": 3,
        "invitations": 5000,
        "capacity": 500,
    },
}
MEASURE = "requests/s"
CSRF = "b" * 43


def _engage_command() -> list[str]:
    script = Path(sys.executable).with_name("engage")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from engage.cli.main import main; main()"]


def _environ(workdir: Path, url: str, port: int) -> dict[str, str]:
    return clean_environ(
        {
            "ENGAGE_APP__VAR_DIR": str(workdir / "var"),
            "ENGAGE_APP__LOG_LEVEL": "warning",
            "ENGAGE_APP__LOG_FORMAT": "text",
            "ENGAGE_APP__SECRET_KEY": BENCH_SECRET,
            "ENGAGE_APP__BASE_URL": f"http://127.0.0.1:{port}",
            "ENGAGE_DATABASE__URL": url,
        }
    )


def _settings(url: str, workdir: Path) -> Settings:
    return load_settings(
        environ={},
        read_file=False,
        overrides={
            "app": {"var_dir": str(workdir / "var"), "secret_key": BENCH_SECRET},
            "database": {"url": url},
        },
    )


# --- The database -------------------------------------------------------------------------


async def _seed(settings: Settings, params: dict[str, Any]) -> tuple[int, list[int], list[int]]:
    """Migrate; one embassy, two events (Engage's, the baseline's), invitations to each.
    Returns Engage's event id and both sides' invitation ids."""
    count = params["invitations"]
    async with db.database(settings) as ctx:
        await db.apply_migrations(ctx)
        await seed_countries()
        embassy = await Embassy.create(
            code="RIX", name="Embassy in Riga", country_id="LV", city="Riga", timezone="Europe/Riga"
        )
        starts = utcnow().replace(microsecond=0) + timedelta(days=30)
        events = [
            await Event.create(
                embassy=embassy,
                kind="reception",
                title=f"Reception {side}",
                starts_at=starts,
                ends_at=starts + timedelta(hours=2),
                timezone="Europe/Riga",
                capacity=params["capacity"],
                status=EventStatus.PUBLISHED,
                uid=f"bench-{side}@engage.test",
            )
            for side in ("engage", "baseline")
        ]
        await Alumnus.bulk_create(
            [
                Alumnus(
                    given_name="Person",
                    family_name=f"Number {n}",
                    email=f"person{n}@example.org",
                    email_key=email_key(f"person{n}@example.org"),
                    country_id="LV",
                )
                for n in range(2 * count)
            ],
            batch_size=1000,
        )
        people = await Alumnus.all().order_by("id").values_list("id", flat=True)
        now = utcnow()
        await Invitation.bulk_create(
            [
                Invitation(event_id=events[n // count].id, alumnus_id=pk, invited_at=now)
                for n, pk in enumerate(people)
            ],
            batch_size=1000,
        )
        ids = [
            await Invitation.filter(event_id=e.id).order_by("id").values_list("id", flat=True)
            for e in events
        ]
    return events[0].id, ids[0], ids[1]


async def _check_seats(settings: Settings, event_id: int) -> list[str]:
    async with db.database(settings):
        event = await Event.get(id=event_id)
        yes = await Invitation.filter(event_id=event_id, status=InvitationStatus.YES).count()
    if event.seats_taken != yes or (event.capacity is not None and yes > event.capacity):
        return [
            f"engage: seats_taken {event.seats_taken} but {yes} yes (capacity {event.capacity})"
        ]
    return []


# --- The load -----------------------------------------------------------------------------


@dataclass
class _Tally:
    latencies_ns: list[int] = field(default_factory=list)
    errors: int = 0


def _request(host: str, path: str, body: str, cookie: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: engage-bench\r\n"
        f"Cookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


async def _connection(
    port: int,
    make: Callable[[int], bytes],
    counter: itertools.count[int],
    *,
    warmup_end: int,
    end: int,
    tally: _Tally,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while (start := time.perf_counter_ns()) < end:
            writer.write(make(next(counter)))
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            if start < warmup_end:
                continue
            if head[9:12] == b"200":
                tally.latencies_ns.append(time.perf_counter_ns() - start)
            else:
                tally.errors += 1
    except (OSError, asyncio.IncompleteReadError):
        tally.errors += 1
    finally:
        writer.close()


def _percentile(values: list[int], fraction: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, round(fraction * (len(values) - 1)))] / 1e6


async def _load(
    port: int, make: Callable[[int], bytes], counter: itertools.count[int], params: dict[str, Any]
) -> dict[str, float]:
    tally = _Tally()
    now = time.perf_counter_ns()
    warmup_end = now + int(params["warmup_seconds"] * 1e9)
    end = warmup_end + int(params["seconds"] * 1e9)
    await asyncio.gather(
        *(
            _connection(port, make, counter, warmup_end=warmup_end, end=end, tally=tally)
            for _ in range(params["connections"])
        )
    )
    latencies = sorted(tally.latencies_ns)
    return {
        "requests/s": round(len(latencies) / params["seconds"], 1),
        "p50_ms": round(_percentile(latencies, 0.50), 3),
        "p99_ms": round(_percentile(latencies, 0.99), 3),
        "requests": len(latencies),
        "errors": tally.errors,
    }


def _answers(paths: list[str], host: str, cookie: str, *, csrf: bool) -> Callable[[int], bytes]:
    """The k-th request: invitation k mod n, yes on even passes, no on odd ones."""
    prepared = {
        status: [
            _request(
                host,
                path,
                urlencode({"csrf_token": CSRF, "status": status} if csrf else {"status": status}),
                cookie,
            )
            for path in paths
        ]
        for status in ("yes", "no")
    }

    def make(k: int) -> bytes:
        status = "yes" if (k // len(paths)) % 2 == 0 else "no"
        return prepared[status][k % len(paths)]

    return make


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
    """Measure requests/s, p50 and p99 of RSVP answers against the lookup-and-update baseline.

    ``params``: connections, seconds (measured per round), warmup_seconds, rounds,
    invitations (per side), capacity, database ("sqlite" or "postgres").
    """
    with (
        tempfile.TemporaryDirectory(prefix="engage-bench-") as tmp,
        scratch_database(params["database"], Path(tmp)) as db_url,
    ):
        workdir = Path(tmp)
        settings = _settings(db_url, workdir)
        event_id, engage_ids, base_ids = asyncio.run(_seed(settings, params))
        engage_port, base_port = free_port(), free_port()
        engage_host, base_host = f"127.0.0.1:{engage_port}", f"127.0.0.1:{base_port}"
        engage_answers = _answers(
            [f"/rsvp/{make_token(BENCH_SECRET, PURPOSE, pk, 1)}" for pk in engage_ids],
            engage_host,
            f"engage_csrf={CSRF}",
            csrf=True,
        )
        base_answers = _answers([f"/answer/{pk}" for pk in base_ids], base_host, "x=1", csrf=False)
        logs = {"engage": workdir / "engage.log", "baseline": workdir / "baseline.log"}
        counters = {"engage": itertools.count(), "baseline": itertools.count()}
        rounds: dict[str, list[dict[str, float]]] = {"engage": [], "baseline": []}
        with (
            http_server(
                [*_engage_command(), "serve", "--port", str(engage_port), "--no-worker"],
                url=f"http://{engage_host}/healthz",
                env=_environ(workdir, db_url, engage_port),
                cwd=workdir,
                log=logs["engage"],
            ),
            http_server(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--app-dir",
                    str(BENCH_DIR),
                    "_rsvp_baseline_app:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(base_port),
                    "--no-access-log",
                    "--log-level",
                    "warning",
                ],
                url=f"http://{base_host}/healthz",
                env=_environ(workdir, db_url, base_port),
                cwd=workdir,
                log=logs["baseline"],
            ),
        ):
            sides = [
                ("baseline", base_port, base_answers),
                ("engage", engage_port, engage_answers),
            ]
            for index in range(params["rounds"]):
                for side, port, make in sides if index % 2 == 0 else reversed(sides):
                    rounds[side].append(asyncio.run(_load(port, make, counters[side], params)))
        notes = asyncio.run(_check_seats(settings, event_id))
        for side, path in logs.items():
            locked = path.read_text(errors="replace").count("database is locked")
            if locked:
                notes.append(f"{side}: 'database is locked' {locked} time(s) in its log")
    figures, baseline = _combine(rounds["engage"]), _combine(rounds["baseline"])
    notes += [
        f"{side}: {int(f['errors'])} failed request(s)"
        for side, f in (("engage", figures), ("baseline", baseline))
        if f["errors"]
    ]
    parameters = {**params, "answers_sent": next(counters["engage"])}
    return Result(NAME, MEASURE, figures, baseline, parameters, notes)
