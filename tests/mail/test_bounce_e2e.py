"""Bounces end to end over real SMTP: the worker sends to the scripted test server
(tests/smtp_server.py) with the message's own envelope sender; reports in real
servers' formats, built from what the server received, go back to the bounce
receiver with aiosmtplib; then the next messages are sent, skipped or redirected."""

from __future__ import annotations

import socket

import aiosmtplib
import pytest

from engage.accounts.actor import load_actor
from engage.accounts.models import Role
from engage.alumni.models import Alumnus
from engage.clock import utcnow
from engage.invitations.services import invite
from engage.mail import outbox
from engage.mail.bounce_server import start_bounce_server
from engage.mail.models import (
    Bounce,
    BounceKind,
    Category,
    OutboxMessage,
    Status,
    Suppression,
    Topic,
)
from engage.mail.verp import read_envelope_token
from engage.settings import Settings
from engage.worker.service import mail_service
from tests.events.conftest import make_event  # noqa: F401  (used via getfixturevalue)
from tests.factories import ensure_country
from tests.mail.fixtures.bounces import load
from tests.mail.processes import wait_for
from tests.smtp_server import Received


@pytest.fixture(autouse=True)
def _worker_clock_ahead(clock):
    """Rows are queued at the real time (as the services do); the worker's clock runs
    a little ahead so they are due."""
    clock.advance(minutes=10)


@pytest.fixture
async def receiver(relay_settings, db):
    server = await start_bounce_server(relay_settings, host="127.0.0.1", port=0)
    yield server
    await server.stop()


async def _person(email: str, **fields) -> Alumnus:
    await ensure_country("KE")
    return await Alumnus.create(
        given_name="Amani",
        family_name="Wanjiru",
        email=email,
        email_key=email.lower(),
        country_id="KE",
        **fields,
    )


async def _queue(to: str, key: str, *, person: Alumnus | None = None, **kwargs) -> OutboxMessage:
    kwargs.setdefault("category", Category.BULK)
    if kwargs["category"] is Category.BULK:
        kwargs.setdefault("topic", Topic.INVITATIONS)
    if person is not None:
        kwargs["recipient"] = ("alumnus", person.id)
    return (await outbox.enqueue("test_message", to=to, dedupe_key=key, **kwargs)).message


def _report(settings: Settings, name: str, received: Received) -> bytes:
    """The report a server in ``name``'s format sends back about ``received``."""
    return load(
        name,
        envelope=received.mail_from,
        recipient=received.rcpt_tos[0],
        message_id=str(received.message["Message-ID"]),
        domain=settings.mail.domain,
    )


async def _return(port: int, raw: bytes, to: str) -> None:
    """Deliver ``raw`` to the bounce receiver as a mail server does (null sender)."""
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10) as smtp:
        await smtp.mail("")
        await smtp.rcpt(to)
        await smtp.data(raw)


async def _entries(address: str) -> set[tuple[str, str]]:
    rows = await Suppression.filter(address_key=address.lower()).values_list("scope", "reason")
    return {(str(scope), str(reason)) for scope, reason in rows}


async def test_hard_bounce_round_trip(relay_settings, worker, smtp_server, receiver):
    person = await _person("amani@example.org")
    first = await _queue("amani@example.org", "first", person=person)
    await worker.run_until_empty()
    (received,) = smtp_server.received
    # The envelope sender names the message; the From header stays the desk's.
    assert received.mail_from.startswith("bounces+")
    assert received.mail_from.endswith(f"@{relay_settings.mail.domain}")
    assert read_envelope_token(relay_settings, received.mail_from) == first.id
    assert "bounces+" not in str(received.message["From"])

    await _return(
        receiver.port, _report(relay_settings, "postfix_hard", received), received.mail_from
    )

    assert await _entries("amani@example.org") == {("all", "hard_bounce")}
    bounce = await Bounce.get(message_id=first.id)
    assert (bounce.kind, bounce.status_code, bounce.reporter) == (
        BounceKind.HARD,
        "5.1.1",
        "mail.relay.example",
    )
    await person.refresh_from_db()
    assert person.email_failing_at is not None
    # Nothing more goes to the address: neither bulk nor transactional mail.
    bulk = await _queue("amani@example.org", "bulk-after", person=person)
    reset = await _queue("amani@example.org", "reset-after", category=Category.TRANSACTIONAL)
    await worker.run_until_empty()
    assert len(smtp_server.received) == 1
    for row, reason in ((bulk, "suppressed"), (reset, "hard_bounce")):
        await row.refresh_from_db()
        assert (row.status, row.skip_reason) == (Status.SKIPPED, reason)


@pytest.mark.parametrize("name", ["exim_hard", "exchange_hard", "exchange_legacy", "gmail_hard"])
async def test_hard_bounces_of_other_servers(relay_settings, worker, smtp_server, receiver, name):
    await _queue(f"{name}@example.org", name)
    await worker.run_until_empty()
    (received,) = smtp_server.received
    await _return(receiver.port, _report(relay_settings, name, received), received.mail_from)
    assert await _entries(f"{name}@example.org") == {("all", "hard_bounce")}


async def test_refusal_at_send_time_counts_as_a_hard_bounce(worker, smtp_server):
    person = await _person("gone@example.org")
    smtp_server.script = ["550 5.1.1 <gone@example.org>: Recipient address rejected: User unknown"]
    row = await _queue("gone@example.org", "refused", person=person)
    await worker.run_until_empty()
    await row.refresh_from_db()
    assert row.status == Status.FAILED
    assert "5.1.1" in row.last_error
    bounce = await Bounce.get(message_id=row.id)
    assert (bounce.kind, bounce.reporter, bounce.status_code) == (BounceKind.HARD, "smtp", "5.1.1")
    assert await _entries("gone@example.org") == {("all", "hard_bounce")}
    await person.refresh_from_db()
    assert person.email_failing_at is not None


async def test_mailbox_full_at_send_time_is_counted_soft(worker, smtp_server):
    smtp_server.script = ["552 5.2.2 Mailbox full", "552 5.2.2 Mailbox full"]
    rows = [await _queue("full@example.org", f"full{i}") for i in range(2)]
    await worker.run_until_empty()
    for row in rows:
        await row.refresh_from_db()
        assert row.status == Status.FAILED
    kinds = await Bounce.filter(address_key="full@example.org").values_list("kind", flat=True)
    assert sorted(kinds) == [BounceKind.SOFT, BounceKind.SOFT]
    assert await _entries("full@example.org") == set()  # two of three


async def test_soft_bounces_over_smtp_become_a_hard_bounce(
    relay_settings, worker, smtp_server, receiver
):
    assert relay_settings.mail.soft_bounce_limit == 3
    for i in range(3):
        await _queue("quota@example.org", f"quota{i}")
    await worker.run_until_empty()
    assert len(smtp_server.received) == 3
    formats = ["gmail_soft", "postfix_mailbox_full", "exim_soft"]
    for n, (received, name) in enumerate(zip(smtp_server.received, formats, strict=True)):
        await _return(receiver.port, _report(relay_settings, name, received), received.mail_from)
        expected = {("all", "hard_bounce")} if n == 2 else set()
        assert await _entries("quota@example.org") == expected, name
    entry = await Suppression.get(address_key="quota@example.org")
    assert entry.detail.startswith("3 soft bounces in 7 days")


async def test_complaint_stops_bulk_mail_not_transactional(
    relay_settings, worker, smtp_server, receiver
):
    await _queue("kofi@example.org", "news", topic=Topic.NEWSLETTER)
    await worker.run_until_empty()
    (received,) = smtp_server.received
    # The feedback loop's report goes to the bare address; the copy names the message.
    raw = _report(relay_settings, "arf_complaint", received)
    await _return(receiver.port, raw, f"bounces@{relay_settings.mail.domain}")
    assert await _entries("kofi@example.org") == {("all", "complaint")}
    invitation = await _queue("kofi@example.org", "invitation")
    confirmation = await _queue("kofi@example.org", "confirm", category=Category.TRANSACTIONAL)
    await worker.run_until_empty()
    await invitation.refresh_from_db()
    await confirmation.refresh_from_db()
    assert (invitation.status, invitation.skip_reason) == (Status.SKIPPED, "suppressed")
    assert confirmation.status == Status.SENT
    assert [r.rcpt_tos for r in smtp_server.received] == [["kofi@example.org"]] * 2


async def test_forged_report_changes_nothing(relay_settings, worker, smtp_server, receiver):
    await _queue("lina@example.org", "lina")
    await worker.run_until_empty()
    (received,) = smtp_server.received
    local, _, domain = received.mail_from.partition("@")
    forged = f"{local[:-2]}{'zz' if not local.endswith('zz') else 'yy'}@{domain}"
    await _return(receiver.port, _report(relay_settings, "postfix_hard", received), forged)
    assert await Bounce.all().count() == 0
    await _queue("lina@example.org", "lina-again")
    await worker.run_until_empty()
    assert len(smtp_server.received) == 2


async def test_after_a_hard_bounce_invitations_go_to_the_verified_secondary(
    relay_settings, worker, smtp_server, receiver, make_embassy, make_user, request
):
    new_event = request.getfixturevalue("make_event")
    embassy = await make_embassy(code="NBO", country="KE", accredited=["KE"])
    attache = await load_actor(await make_user(role=Role.ATTACHE, embassies=["NBO"]))
    person = await _person(
        "amani@army.example",
        secondary_email="amani.home@example.net",
        secondary_verified_at=utcnow(),
    )
    first = await new_event(embassy)
    await invite(attache, first.id, {"alumni_ids": [person.id]})
    await worker.run_until_empty()
    (received,) = smtp_server.received
    assert received.rcpt_tos == ["amani@army.example"]
    await _return(
        receiver.port, _report(relay_settings, "gmail_hard", received), received.mail_from
    )
    await person.refresh_from_db()
    assert person.email_failing_at is not None

    second = await new_event(embassy)
    job = await invite(attache, second.id, {"alumni_ids": [person.id]})
    assert job.invited == 1
    await worker.run_until_empty()
    assert len(smtp_server.received) == 2
    latest = smtp_server.received[-1]
    assert latest.rcpt_tos == ["amani.home@example.net"]
    assert "amani.home@example.net" in str(latest.message["To"])
    calendar = next(p for p in latest.message.iter_attachments() if p.get_filename())
    assert "mailto:amani.home@example.net" in calendar.get_content().replace("\r\n ", "")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_worker_service_runs_the_receiver(relay_settings, db, smtp_server):
    port = _free_port()
    mail = relay_settings.mail.model_copy(update={"bounce_port": port})
    settings = relay_settings.model_copy(update={"mail": mail})
    row = await _queue("svc@example.org", "svc")
    async with mail_service(settings, run_worker=True, hold_lock=False) as service:
        assert service.bounces is not None and service.bounces.port == port

        async def sent() -> bool:
            await row.refresh_from_db()
            return row.status == Status.SENT

        await wait_for(sent, within=20, what="the worker to send")
        (received,) = smtp_server.received
        await _return(port, _report(settings, "postfix_hard", received), received.mail_from)
        assert await _entries("svc@example.org") == {("all", "hard_bounce")}
    # Stopped with the worker.
    with pytest.raises((OSError, aiosmtplib.SMTPConnectError)):
        await _return(port, b"x", received.mail_from)


async def test_no_receiver_without_a_port(relay_settings, db, smtp_server):
    assert relay_settings.mail.bounce_port == 0
    async with mail_service(relay_settings, run_worker=True, hold_lock=False) as service:
        assert service.bounces is None
