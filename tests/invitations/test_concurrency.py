"""200 simultaneous yes answers on an event of capacity 50, against real uvicorn
processes: two workers on PostgreSQL, one on SQLite. Exactly 50 seats are taken and
150 people wait, numbered 1..150 in the order their answers were recorded; nothing
fails and SQLite never reports "database is locked". The guarantee is the event row's
lock in the database: two processes share no memory.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from engage.clock import utcnow
from engage.events.models import Event
from engage.invitations.links import rsvp_token
from engage.invitations.models import Invitation, InvitationStatus
from engage.invitations.rsvp import waitlist_positions
from engage.mail.models import OutboxMessage
from engage.web.identity import csrf_cookie_name
from tests.conftest import TEST_SECRET
from tests.test_demo_pages import engage_env, free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PEOPLE = 200
CAPACITY = 50
POSITION = re.compile(r"number (\d+) on the waiting list")


def app_from_environment():  # pragma: no cover - runs in the uvicorn workers
    """The app as ``engage serve`` builds it, for ``uvicorn --factory --workers N``."""
    from engage.app import create_app
    from engage.settings import load_settings, with_secret_key

    return create_app(with_secret_key(load_settings()))


def _start(workdir: Path, url: str, workers: int) -> tuple[subprocess.Popen[bytes], str, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = engage_env(
        ENGAGE_APP__VAR_DIR=str(workdir / "var"),
        ENGAGE_APP__BASE_URL=f"http://127.0.0.1:{port}",
        ENGAGE_APP__SECRET_KEY=TEST_SECRET,
        ENGAGE_APP__LOG_FORMAT="text",
        ENGAGE_DATABASE__URL=url,
        ENGAGE_MAIL__POLL_SECONDS="0.2",
    )
    log = workdir / "uvicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "tests.invitations.test_concurrency:app_from_environment",
                "--app-dir",
                str(ROOT),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--no-access-log",
            ],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"uvicorn exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return process, base, log
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.terminate()
    pytest.fail(f"uvicorn did not answer within 60 s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


async def _seed(settings, make_embassy, make_event, make_alumnus) -> tuple[Event, list[str]]:
    embassy = await make_embassy(code="RIX", country="LV", timezone="Europe/Riga")
    event = await make_event(embassy, title="Crowded reception", capacity=CAPACITY)
    tokens = []
    for _ in range(PEOPLE):
        person = await make_alumnus(country="LV")
        invitation = await Invitation.create(event=event, alumnus=person, invited_at=utcnow())
        tokens.append(rsvp_token(settings, invitation))
    return event, tokens


async def _answer_all(base: str, tokens: list[str], cookie: str) -> list[httpx.Response]:
    csrf = "k" * 43
    limits = httpx.Limits(max_connections=PEOPLE, max_keepalive_connections=PEOPLE)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as http:
        start = asyncio.Event()

        async def one(token: str) -> httpx.Response:
            await start.wait()
            return await http.post(
                f"/rsvp/{token}",
                data={"csrf_token": csrf, "status": "yes", "guests": "0"},
                headers={"Cookie": f"{cookie}={csrf}"},
            )

        tasks = [asyncio.create_task(one(t)) for t in tokens]
        await asyncio.sleep(0.05)
        start.set()
        return await asyncio.gather(*tasks)


async def test_two_hundred_simultaneous_yes_answers(
    db, db_url, settings, tmp_path, make_embassy, make_event, make_alumnus
):
    event, tokens = await _seed(settings, make_embassy, make_event, make_alumnus)
    workers = 1 if db_url.startswith("sqlite") else 2
    process, base, log = _start(tmp_path / "server", db_url, workers)
    try:
        responses = await _answer_all(base, tokens, csrf_cookie_name(settings))
    finally:
        _stop(process)
    server_log = log.read_text(errors="replace")

    statuses = [r.status_code for r in responses]
    assert statuses == [200] * PEOPLE, sorted(set(statuses))
    assert "database is locked" not in server_log
    assert "Traceback" not in server_log, server_log[-3000:]
    shown = sorted(int(m.group(1)) for r in responses if (m := POSITION.search(r.text)))
    assert shown == list(range(1, PEOPLE - CAPACITY + 1))
    assert sum("You are coming." in r.text for r in responses) == CAPACITY

    assert (await Event.get(id=event.id)).seats_taken == CAPACITY
    rows = await Invitation.filter(event_id=event.id).order_by("responded_at", "id")
    assert [r.status for r in rows] == (
        [InvitationStatus.YES] * CAPACITY + [InvitationStatus.WAITLISTED] * (PEOPLE - CAPACITY)
    )
    times = [r.responded_at for r in rows]
    assert times == sorted(times) and len(set(times)) == PEOPLE  # one answer at a time
    positions = await waitlist_positions(event.id)
    waiting = [r.id for r in rows if r.status == InvitationStatus.WAITLISTED]
    assert [positions[i] for i in waiting] == list(range(1, PEOPLE - CAPACITY + 1))
    assert await OutboxMessage.filter(template="rsvp_confirmation").count() == PEOPLE
