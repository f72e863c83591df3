"""A newsletter issue from "send" to every copy delivered, against a raw aiosmtplib loop.

newsletter_send_rate: N recipients (100,000; quick 2,000), throughput and the
worker's peak memory.

Engage: a fresh, migrated database with the countries, an embassy accredited to
Kenya, a staff member, an open event in two weeks, three alumni news items and N
eligible Kenyan alumni; an issue (placeholders in the subject and the Markdown body,
the events and news sections) is created as staff. The clock starts at
``send_newsletter`` (the issue becomes ``sending``), then an ``engage worker``
process starts: its scheduler's first tick finds the issue and runs it
(``due_newsletters`` -> ``run_send``: the fixed audience in id order, chunks of
1,000 rows, each one transaction with the eligibility rule and the checkpoint),
while its mail lanes claim, check, render (the campaign's frame filled in: each
person's name, their events section, their unsubscribe links) and send to the sink
(``_smtp_sink.py``, its own process). The clock stops when the database says every
message is sent. ``worker_peak_rss_mb`` is the worker process's VmHWM.

Baseline, in the same run: a raw loop building each message with the standard
library (``EmailMessage``, the rendered sample with the person's values put in) and
sending it with aiosmtplib's ``send_message`` over the same number of connections to
the same sink, for ``baseline_messages`` people read beforehand. The ratio is
Engage's messages/s (writing the rows included) over the raw loop's.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiosmtplib
from _database import BENCH_SECRET, scratch_database
from _processes import clean_environ, smtp_sink
from _result import Result
from tortoise.transactions import in_transaction

from engage import db
from engage.accounts.actor import load_actor
from engage.accounts.models import Role, User
from engage.alumni.models import Alumnus, CareerEntry, CareerSource
from engage.events.models import Event, EventStatus, Visibility
from engage.mail.models import OutboxMessage
from engage.mail.render import Renderer
from engage.mail.suppression import ONE_CLICK, unsubscribe_mailto, unsubscribe_url
from engage.mail.verp import envelope_sender
from engage.newsletters import services
from engage.newsletters.models import Newsletter
from engage.places.models import Accreditation, Embassy
from engage.places.seed import seed_countries
from engage.settings import Settings, load_settings

NAME = "newsletter_send_rate"
#: Parameters by mode; the runner adds ``database``.
PARAMETERS: dict[str, dict[str, Any]] = {
    "quick": {"recipients": 2000, "baseline_messages": 1000, "concurrency": 8, "rounds": 1},
    "full": {"recipients": 100_000, "baseline_messages": 20_000, "concurrency": 8, "rounds": 1},
}
MEASURE = "messages/s"
_CHUNK = 5_000
_BATCH_SIZE = 100
_SUBJECT = "Alumni news for {{ preferred_name }}"
_BODY = """Dear {{ rank | "colleague" }} {{ preferred_name }},

## From {{ embassy | "the programme" }}

The **alumni association** met in March. A few things before the next issue:

- the photographs are [in the album](https://example.org/album);
- tell us [what you thought](https://example.org/survey) (two minutes);
- the next course reunion is in *October*.

> "The best reunion in years." — the Ambassador
"""


def _overrides(url: str, smtp_port: int, var_dir: Path, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "app": {"var_dir": str(var_dir), "secret_key": BENCH_SECRET, "log_level": "warning"},
        "database": {"url": url},
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "concurrency": params["concurrency"]},
        "mail": {"batch_size": _BATCH_SIZE, "poll_seconds": 0.05},
    }


def _settings(overrides: dict[str, Any]) -> Settings:
    return load_settings(environ={}, read_file=False, overrides=overrides)


# --- The data --------------------------------------------------------------------------


async def _world(count: int) -> tuple[int, int]:
    """The embassy, event, news and ``count`` alumni; (staff user id, issue id)."""
    await seed_countries()
    embassy = await Embassy.create(
        code="NBO", name="Embassy in Nairobi", country_id="KE", city="Nairobi",
        timezone="Africa/Nairobi",
    )  # fmt: skip
    await Accreditation.create(embassy=embassy, country_id="KE")
    staff = await User.create(
        email="staff@bench.example", email_key="staff@bench.example", role=Role.STAFF
    )
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=14)
    await Event.create(
        embassy=embassy, kind="reception", title="Alumni reception", starts_at=starts,
        ends_at=starts + timedelta(hours=2), timezone="Africa/Nairobi", venue="The Residence",
        visibility=Visibility.OPEN, status=EventStatus.PUBLISHED,
        uid=f"{uuid.uuid4().hex}@bench.example",
    )  # fmt: skip
    for start in range(1, count + 1, _CHUNK):
        ids = range(start, min(start + _CHUNK, count + 1))
        async with in_transaction():
            await Alumnus.bulk_create(
                [
                    Alumnus(
                        id=n,
                        given_name="Amani",
                        family_name=f"Wanjiru{n}",
                        preferred_name="Amani" if n % 3 else "",
                        rank="Colonel" if n % 2 else "",
                        search_key=f"amani wanjiru{n}",
                        email=f"amani.{n}@example.ke",
                        email_key=f"amani.{n}@example.ke",
                        country_id="KE",
                        shares_news=n <= 3,
                    )
                    for n in ids
                ]
            )
    for n in (1, 2, 3):
        await CareerEntry.create(
            alumnus_id=n, rank="Brigadier General", position="Commandant",
            effective_date=date(2026, 3, 1), source=CareerSource.STAFF_VERIFIED,
        )  # fmt: skip
    actor = await load_actor(staff)
    issue = await services.create_newsletter(
        actor,
        {
            "subject": _SUBJECT,
            "body": _BODY,
            "filter": {"country": ["KE"]},
            "sections": ["events", "news"],
        },
    )
    return staff.id, issue.id


async def _fill(settings: Settings, count: int) -> tuple[int, int]:
    async with db.database(settings) as ctx:
        await db.apply_migrations(ctx)
        return await _world(count)


async def _send(settings: Settings, staff_id: int, issue_id: int) -> None:
    async with db.database(settings):
        actor = await load_actor(await User.get(id=staff_id))
        await services.send_newsletter(actor, issue_id)


async def _written(settings: Settings, issue_id: int) -> tuple[int, float]:
    """Rows the run wrote, and the seconds it took to write them."""
    async with db.database(settings):
        issue = await Newsletter.get(id=issue_id)
        seconds = (
            (issue.finished_at - issue.started_at).total_seconds()
            if issue.finished_at and issue.started_at
            else 0.0
        )
        return issue.written, seconds


# --- The worker process ------------------------------------------------------------


def _engage_command() -> list[str]:
    beside = Path(sys.executable).parent / "engage"
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "engage"]


def _toml(overrides: dict[str, dict[str, Any]]) -> str:
    def value(v: Any) -> str:
        return f'"{v}"' if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)

    return "".join(
        f"[{section}]\n" + "".join(f"{k} = {value(v)}\n" for k, v in values.items())
        for section, values in overrides.items()
    )


def _sent(url: str) -> int:
    query = "SELECT count(*) FROM mail_outbox WHERE status = 'sent'"
    if url.startswith("sqlite://"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite://"))) as conn:
            return int(conn.execute(query).fetchone()[0])
    return asyncio.run(_sent_pg(url, query))


async def _sent_pg(url: str, query: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        return int(await conn.fetchval(query))
    finally:
        await conn.close()


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _engage_side(url: str, folder: Path, overrides: dict[str, Any], count: int) -> dict[str, Any]:
    """Send the issue and run a worker until every message is sent."""
    settings = _settings(overrides)
    staff_id, issue_id = asyncio.run(_fill(settings, count))
    config = folder / "worker.toml"
    config.write_text(_toml(overrides))
    log = folder / "worker.log"
    start = time.perf_counter()
    asyncio.run(_send(settings, staff_id, issue_id))
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*_engage_command(), "worker", "--config", str(config)],
            env=clean_environ(),
            cwd=folder,
            stdout=out,
            stderr=out,
        )
    try:
        sent = 0
        deadline = start + 3600
        while sent < count and time.perf_counter() < deadline and proc.poll() is None:
            time.sleep(0.25)
            sent = _sent(url)
        seconds = time.perf_counter() - start
        peak = _vm_hwm_mb(proc.pid) if proc.poll() is None else 0.0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    written, write_seconds = asyncio.run(_written(settings, issue_id))
    return {
        "seconds": seconds,
        "sent": sent,
        "written": written,
        "write_seconds": write_seconds,
        "peak": peak,
        "log": log.read_text(errors="replace")[-2000:] if sent < count else "",
    }


# --- The baseline ------------------------------------------------------------------


async def _baseline_inputs(
    settings: Settings, count: int
) -> tuple[EmailMessage, list[tuple[OutboxMessage, tuple[str, ...], str]], Settings]:
    """A rendered sample and, for ``count`` rows, the values to put in its place."""
    renderer = Renderer(settings)
    rows = await OutboxMessage.all().order_by("id").limit(count)
    people = {a.id: a for a in await Alumnus.filter(id__in=[r.recipient_id for r in rows])}
    sample = await renderer.render(rows[0], now=datetime.now(UTC))
    out = []
    for row in rows:
        person = people[int(row.recipient_id or 0)]
        values = (
            person.preferred_name or person.given_name,
            unsubscribe_url(settings, row),
            unsubscribe_mailto(settings, row),
        )
        out.append((row, values, envelope_sender(settings, row)))
    return sample, out, settings


def _build(sample: EmailMessage, first: tuple[str, ...], row: OutboxMessage, values: Any) -> Any:
    text = sample.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = sample.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for old, new in zip(first, values, strict=True):
        text, html = text.replace(old, new), html.replace(old, new)
    msg = EmailMessage(policy=SMTP)
    msg["From"] = str(sample["From"])
    msg["To"] = Address(display_name=row.to_name, addr_spec=row.to_address)
    msg["Subject"] = str(sample["Subject"]).replace(first[0], values[0])
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = f"<{row.message_key}@bench.example>"
    msg["Auto-Submitted"] = "auto-generated"
    msg["List-Unsubscribe"] = f"<{values[1]}>, <{values[2]}>"
    msg["List-Unsubscribe-Post"] = ONE_CLICK
    msg.set_content(text, charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    return msg


async def _raw(settings: Settings, count: int, *, port: int, concurrency: int) -> float:
    async with db.database(settings):
        sample, people, _settings_used = await _baseline_inputs(settings, count)
    first = people[0][1]
    numbers: Iterator[int] = iter(range(len(people)))
    sent = itertools.count()

    async def lane() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30, start_tls=False)
        await client.connect()
        try:
            for n in numbers:
                row, values, sender = people[n]
                msg = _build(sample, first, row, values)
                await client.send_message(msg, sender=sender, recipients=[row.to_address])
                next(sent)
        finally:
            await client.quit()

    start = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    seconds = time.perf_counter() - start
    return next(sent) / seconds


def run(params: dict[str, Any]) -> Result:
    """Measure messages/s of a newsletter from send to delivered (the rows written by
    the run inside a worker process, sent by that worker) against a raw stdlib +
    aiosmtplib loop, and the worker's peak RSS.

    ``params``: recipients (the issue's audience), baseline_messages (people the raw
    loop sends to), concurrency (SMTP connections, both sides), rounds (1: a 100,000
    issue is long), database ("sqlite" or "postgres").
    """
    count = params["recipients"]
    notes: list[str] = []
    engage_rates, raw_rates, peaks, write_rates = [], [], [], []
    for _round in range(params["rounds"]):
        with (
            tempfile.TemporaryDirectory(prefix="engage-bench-") as tmp,
            scratch_database(params["database"], Path(tmp)) as url,
            smtp_sink(Path(tmp)) as sink,
        ):
            folder = Path(tmp)
            overrides = _overrides(url, sink.port, folder / "var", params)
            side = _engage_side(url, folder, overrides, count)
            if side["sent"] != count:
                notes.append(f"the worker sent {side['sent']} of {count}: {side['log']}")
            engage_rates.append(side["sent"] / side["seconds"])
            peaks.append(side["peak"])
            if side["write_seconds"]:
                write_rates.append(side["written"] / side["write_seconds"])
            raw_rates.append(
                asyncio.run(
                    _raw(
                        _settings(overrides),
                        params["baseline_messages"],
                        port=sink.port,
                        concurrency=params["concurrency"],
                    )
                )
            )
        expected = count + params["baseline_messages"]
        if sink.received != expected:
            notes.append(f"the SMTP server accepted {sink.received} messages, expected {expected}")
    figures = {
        MEASURE: round(min(engage_rates), 1),
        "rows_written/s": round(min(write_rates), 1) if write_rates else 0.0,
        "worker_peak_rss_mb": round(max(peaks), 1),
        "recipients": count,
    }
    baseline = {MEASURE: round(min(raw_rates), 1), "recipients": params["baseline_messages"]}
    parameters = {
        **params,
        "baseline": "stdlib EmailMessage built per message from a rendered sample with the "
        "person's values put in, + aiosmtplib send_message, over the same connections",
        "engage": "send_newsletter, then an `engage worker` process (its scheduler runs the "
        "issue, its lanes send); the clock includes the worker's start-up",
        "batch_size": _BATCH_SIZE,
    }
    return Result(NAME, MEASURE, figures, baseline, parameters, notes)


if __name__ == "__main__":  # a quick look without the runner
    print(run({**PARAMETERS["quick"], "database": "sqlite", "mode": "quick"}))
    os._exit(0)
