"""End to end: invitations go out through the worker to a real SMTP server
(aiosmtpd) with their List-Unsubscribe headers; a mail program's one-click POST to
the link, from a raw HTTP client without cookies, reaches a real uvicorn; the
mailto form reaches the bounce receiver over SMTP. Then what was queued before is
skipped at send time, what is queued after leaves the person out at enqueue time,
and transactional mail still arrives. A newsletter unsubscribe stops newsletters
only."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import httpx
import pytest

from engage.accounts.actor import load_actor
from engage.accounts.models import Role
from engage.alumni.models import Alumnus
from engage.mail.bounce_server import start_bounce_server
from engage.mail.models import (
    Category,
    OutboxMessage,
    Status,
    Suppression,
    SuppressionReason,
    SuppressionScope,
    Topic,
)
from engage.mail.outbox import enqueue
from engage.mail.suppression import suppress
from tests.conftest import TEST_SECRET
from tests.events import conftest as _events
from tests.test_demo_pages import engage_env, free_port

#: The alumni and event factory fixtures, for this module's tests.
make_alumnus = _events.make_alumnus
make_event = _events.make_event
ROOT = Path(__file__).resolve().parents[2]
_LINKS = re.compile(r"<(https?://[^>]+)>,\s*<mailto:([^>]+)>")


def app_from_environment():  # pragma: no cover - runs in the uvicorn process
    """The app as ``engage serve`` builds it, for ``uvicorn --factory``."""
    from engage.app import create_app
    from engage.settings import load_settings, with_secret_key

    return create_app(with_secret_key(load_settings()), run_worker=False)


@pytest.fixture
def web(db_url: str, tmp_path: Path):
    """A real uvicorn serving the app on the test's database; yields its base URL."""
    port = free_port()
    env = engage_env(
        ENGAGE_APP__VAR_DIR=str(tmp_path / "web-var"),
        ENGAGE_APP__BASE_URL=f"http://127.0.0.1:{port}",
        ENGAGE_APP__SECRET_KEY=TEST_SECRET,
        ENGAGE_APP__LOG_FORMAT="text",
        ENGAGE_DATABASE__URL=db_url,
    )
    log = tmp_path / "uvicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "tests.mail.test_unsubscribe_e2e:app_from_environment",
                "--app-dir",
                str(ROOT),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
            ],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"uvicorn exited:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"uvicorn did not answer:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    assert "Traceback" not in log.read_text(errors="replace")


def _links(message: EmailMessage) -> tuple[str, str]:
    """The (https path, mailto address) of a received message's List-Unsubscribe."""
    match = _LINKS.fullmatch(" ".join(str(message["List-Unsubscribe"]).split()))
    assert match, message["List-Unsubscribe"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    return httpx.URL(match.group(1)).path, match.group(2)


async def _deliver(worker, clock) -> int:
    """Run the worker with its clock at the present (rows are queued in real time)."""
    clock.now = datetime.now(UTC)
    return await worker.run_until_empty()


def _by_recipient(smtp_server) -> dict[str, list[EmailMessage]]:
    found: dict[str, list[EmailMessage]] = {}
    for received in smtp_server.received:
        found.setdefault(received.rcpt_tos[0], []).append(received.message)
    return found


@pytest.mark.slow
async def test_unsubscribe_from_the_email_itself(
    db,
    web,
    worker,
    smtp_server,
    clock,
    relay_settings,
    make_embassy,
    make_user,
    make_event,
    make_alumnus,
):
    from engage.invitations.messages import send_message
    from engage.invitations.models import Invitation
    from engage.invitations.rsvp import RsvpAnswer, answer
    from engage.invitations.services import invite

    embassy = await make_embassy(code="NBO", country="KE")
    actor = await load_actor(await make_user(role=Role.ATTACHE, embassies=["NBO"]))
    event = await make_event(embassy, title="Evening reception", capacity=50)
    amani = await make_alumnus(country="KE", given_name="Amani", email="amani@example.org")
    baraka = await make_alumnus(country="KE", given_name="Baraka", email="baraka@example.org")

    # The invitations go out, each with its own unsubscribe links.
    job = await invite(actor, event.id, {"alumni_ids": [amani.id, baraka.id]})
    assert job.invited == 2
    rows = await OutboxMessage.filter(template="invitation").order_by("id")
    assert {(r.topic, r.campaign) for r in rows} == {(Topic.INVITATIONS, f"invite:{job.id}")}
    assert await _deliver(worker, clock) == 2
    invitations = {to: messages[0] for to, messages in _by_recipient(smtp_server).items()}
    amani_link, _amani_mailto = _links(invitations["amani@example.org"])
    baraka_link, baraka_mailto = _links(invitations["baraka@example.org"])
    assert amani_link != baraka_link

    # A message to invitees is queued for both, then Amani clicks "Unsubscribe" in
    # her mail program: a POST without cookies, session or CSRF token.
    await send_message(actor, event.id, "Dress code", "Lounge suit.", ["not_answered"])
    async with httpx.AsyncClient(base_url=web) as mail_program:
        # A link checker opens the link first: nothing changes.
        opened = await mail_program.get(amani_link)
        assert opened.status_code == 200 and "Your email choices" in opened.text
        assert not await Suppression.exists(address_key="amani@example.org")
        clicked = await mail_program.post(
            amani_link,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert clicked.status_code == 200, clicked.text
        assert not clicked.is_redirect and "set-cookie" not in clicked.headers
        assert "You are unsubscribed" in clicked.text
        again = await mail_program.post(
            amani_link,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert again.status_code == 200
    entry = await Suppression.get(address_key="amani@example.org")
    assert (entry.scope, entry.reason) == (
        SuppressionScope.INVITATIONS,
        SuppressionReason.UNSUBSCRIBED,
    )
    await amani.refresh_from_db()
    assert amani.accepts_invitations is False
    assert amani.invitations_consent_source == "unsubscribe link"

    # What was queued before is skipped at send time, and says why.
    smtp_server.received.clear()
    await _deliver(worker, clock)
    skipped = await OutboxMessage.get(template="invitee_message", to_address="amani@example.org")
    assert (skipped.status, skipped.skip_reason) == (Status.SKIPPED, "suppressed")
    assert list(_by_recipient(smtp_server)) == ["baraka@example.org"]

    # Transactional mail still reaches her: the confirmation of her answer.
    smtp_server.received.clear()
    invitation = await Invitation.get(event_id=event.id, alumnus_id=amani.id)
    await answer(invitation.id, RsvpAnswer(status="yes", guests=0, guest_names=[], answers={}))
    await _deliver(worker, clock)
    (confirmation,) = _by_recipient(smtp_server)["amani@example.org"]
    assert confirmation["List-Unsubscribe"] is None

    # Baraka unsubscribes from a newsletter by mail (the mailto form), through the
    # bounce receiver over SMTP.
    smtp_server.received.clear()
    await enqueue(
        "test_message",
        to="baraka@example.org",
        category=Category.BULK,
        topic=Topic.NEWSLETTER,
        campaign="newsletter:1",
        dedupe_key="news:1:baraka",
        recipient=("alumnus", baraka.id),
    )
    await _deliver(worker, clock)
    (newsletter,) = _by_recipient(smtp_server)["baraka@example.org"]
    _path, mailto = _links(newsletter)
    receiver = await start_bounce_server(relay_settings, host="127.0.0.1", port=0)
    try:
        request = EmailMessage()
        request["From"] = "baraka@example.org"
        request["To"] = mailto
        request["Subject"] = "unsubscribe"
        request.set_content("unsubscribe")
        await aiosmtplib.send(
            request,
            hostname="127.0.0.1",
            port=receiver.port,
            sender="baraka@example.org",
            recipients=[mailto],
        )
    finally:
        await receiver.stop()
    assert mailto != baraka_mailto
    entry = await Suppression.get(address_key="baraka@example.org")
    assert entry.scope == SuppressionScope.NEWSLETTER
    baraka = await Alumnus.get(id=baraka.id)
    assert baraka.accepts_newsletter is False and baraka.accepts_invitations is True

    # A newsletter unsubscribe does not stop invitations: the next message to
    # invitees reaches Baraka, and leaves Amani out when it is queued.
    smtp_server.received.clear()
    second = await send_message(actor, event.id, "Parking", "Gate B.", ["not_answered", "coming"])
    assert second.recipients == 1 and second.skipped == {"no_consent": 1}
    await _deliver(worker, clock)
    assert list(_by_recipient(smtp_server)) == ["baraka@example.org"]


async def test_enqueue_time_counts_show_the_suppressed(
    db, make_embassy, make_user, make_event, make_alumnus
):
    from engage.invitations.jobs import InviteAudience
    from engage.invitations.messages import message_preview, send_message
    from engage.invitations.services import invite, preview_invitations

    embassy = await make_embassy(code="ACC", country="GH")
    actor = await load_actor(await make_user(role=Role.ATTACHE, embassies=["ACC"]))
    event = await make_event(embassy)
    fine = await make_alumnus(country="GH", email="fine@example.org")
    complained = await make_alumnus(country="GH", email="complained@example.org")
    newsless = await make_alumnus(country="GH", email="newsless@example.org")
    await suppress(complained.email, SuppressionScope.ALL, SuppressionReason.COMPLAINT)
    await suppress(newsless.email, SuppressionScope.NEWSLETTER, SuppressionReason.UNSUBSCRIBED)
    audience = InviteAudience(alumni_ids=[fine.id, complained.id, newsless.id])
    preview = await preview_invitations(actor, event.id, audience)
    assert preview.invite == 2 and preview.skipped["suppressed"] == 1
    job = await invite(actor, event.id, audience)
    assert job.invited == 2 and job.skipped.get("suppressed") == 1
    invited = await OutboxMessage.filter(template="invitation").values_list("to_address", flat=True)
    assert sorted(invited) == ["fine@example.org", "newsless@example.org"]
    # Complained after the invitation: left out of messages to invitees.
    await suppress(newsless.email, SuppressionScope.INVITATIONS, SuppressionReason.COMPLAINT)
    shown = await message_preview(actor, event.id, ["not_answered"])
    assert shown.recipients == 1 and shown.skipped == {"suppressed": 1}
    sent = await send_message(actor, event.id, "Hello", "Welcome.", ["not_answered"])
    assert sent.recipients == 1 and sent.skipped == {"suppressed": 1}
