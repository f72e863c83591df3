"""The bounce receiver over real SMTP (aiosmtplib -> aiosmtpd): reports in each
server's format, forged and unknown tokens, addresses not ours, garbage, the
mailto unsubscribe, complaints to the bare address, and a database failure."""

from __future__ import annotations

import random

import aiosmtplib
import pytest

from engage.mail import outbox
from engage.mail.bounce_server import Outcome, handle_message, start_bounce_server
from engage.mail.models import Bounce, BounceKind, Category, OutboxMessage, Suppression, Topic
from engage.mail.suppression import mailto_token
from engage.mail.verp import envelope_sender
from tests.mail.fixtures.bounces import NAMES, load

#: What each fixture does when it comes back for a message (None: nothing).
KINDS = {
    "postfix_hard": BounceKind.HARD,
    "postfix_mailbox_full": BounceKind.SOFT,
    "postfix_delayed": None,
    "exim_hard": BounceKind.HARD,
    "exim_soft": BounceKind.SOFT,
    "exchange_hard": BounceKind.HARD,
    "exchange_legacy": BounceKind.HARD,
    "gmail_hard": BounceKind.HARD,
    "gmail_soft": BounceKind.SOFT,
    "arf_complaint": BounceKind.COMPLAINT,
    "autoreply": None,
}


@pytest.fixture
async def receiver(settings, db):
    server = await start_bounce_server(settings, host="127.0.0.1", port=0)
    yield server
    await server.stop()


async def _row(to: str, key: str, **kwargs) -> OutboxMessage:
    kwargs.setdefault("category", Category.BULK)
    kwargs.setdefault("topic", Topic.INVITATIONS)
    return (await outbox.enqueue("test_message", to=to, dedupe_key=key, **kwargs)).message


def _report_for(settings, name: str, row: OutboxMessage, *, envelope: str | None = None) -> bytes:
    return load(
        name,
        envelope=envelope if envelope is not None else envelope_sender(settings, row),
        recipient=row.to_address,
        message_id=f"<{row.message_key}@{settings.mail.domain}>",
        domain=settings.mail.domain,
    )


async def _deliver(server, raw: bytes, to: str) -> None:
    """As a mail server returning a bounce: the null sender, one recipient."""
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port, timeout=10) as smtp:
        await smtp.mail("")
        await smtp.rcpt(to)
        await smtp.data(raw)


async def _entries(address: str) -> set[tuple[str, str]]:
    rows = await Suppression.filter(address_key=address.lower()).values_list("scope", "reason")
    return {(str(scope), str(reason)) for scope, reason in rows}


def test_every_fixture_is_covered():
    assert set(KINDS) == set(NAMES)


@pytest.mark.parametrize("name", sorted(KINDS))
async def test_each_format_over_smtp(settings, receiver, name):
    row = await _row(f"{name}@example.org", name)
    await _deliver(receiver, _report_for(settings, name, row), envelope_sender(settings, row))
    kinds = await Bounce.filter(message_id=row.id).values_list("kind", flat=True)
    expected = KINDS[name]
    assert list(kinds) == ([expected] if expected else [])
    entries = await _entries(row.to_address)
    if expected is BounceKind.HARD:
        assert entries == {("all", "hard_bounce")}
    elif expected is BounceKind.COMPLAINT:
        assert entries == {("all", "complaint")}
    else:  # one soft bounce, a warning or an auto-reply: the address stays
        assert entries == set()
    outcome = Outcome.RECORDED if expected else Outcome.NOT_A_REPORT
    assert receiver.handler.outcomes == {outcome: 1}


async def test_bounce_details_are_kept(settings, receiver):
    row = await _row("amani@example.org", "details")
    await _deliver(
        receiver, _report_for(settings, "gmail_hard", row), envelope_sender(settings, row)
    )
    bounce = await Bounce.get(message_id=row.id)
    assert bounce.status_code == "5.1.1"
    assert bounce.reporter == "googlemail.com"
    assert "The email account that you tried to reach does not exist" in bounce.diagnostic


async def test_token_survives_a_server_that_folds_case(settings, receiver):
    row = await _row("folded@example.org", "folded")
    to = envelope_sender(settings, row).upper()
    await _deliver(receiver, _report_for(settings, "postfix_hard", row), to)
    assert await _entries("folded@example.org") == {("all", "hard_bounce")}


async def test_forged_token_is_ignored(settings, receiver):
    row = await _row("victim@example.org", "victim")
    real = envelope_sender(settings, row)
    local, _, domain = real.partition("@")
    forged = f"{local[:-3]}{'aaa' if not local.endswith('aaa') else 'bbb'}@{domain}"
    # The report itself names the real message: the forged token still decides.
    await _deliver(receiver, _report_for(settings, "postfix_hard", row), forged)
    made_up = f"bounces+{'a' * 29}@{domain}"
    await _deliver(receiver, _report_for(settings, "postfix_hard", row), made_up)
    assert await Bounce.all().count() == 0
    assert await _entries("victim@example.org") == set()
    assert receiver.handler.outcomes == {Outcome.FORGED: 2}


async def test_token_of_a_message_that_is_gone_is_ignored(settings, receiver):
    row = await _row("gone@example.org", "gone")
    raw, to = _report_for(settings, "postfix_hard", row), envelope_sender(settings, row)
    await OutboxMessage.filter(id=row.id).delete()
    await _deliver(receiver, raw, to)
    assert await Bounce.all().count() == 0
    assert receiver.handler.outcomes == {Outcome.UNKNOWN: 1}


async def test_addresses_not_ours_are_refused_at_rcpt(settings, receiver):
    raw = load("postfix_hard")
    for to in (
        f"postmaster@{settings.mail.domain}",
        f"alumni@{settings.mail.domain}",
        f"unsubscribe@{settings.mail.domain}",
        "bounces+abc@elsewhere.example",
    ):
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
            await _deliver(receiver, raw, to)
        assert refused.value.code == 550
    assert receiver.handler.outcomes == {}


async def test_garbage_is_accepted_and_dropped_and_the_server_goes_on(settings, receiver):
    rng = random.Random(3)
    row = await _row("after@example.org", "after")
    to = envelope_sender(settings, row)
    samples = [rng.randbytes(rng.randint(1, 3000)).replace(b"\r", b"") for _ in range(15)]
    samples += [load(name)[:cut] for name in NAMES for cut in (1, 200, 900)]
    samples.append(b"Subject: Undeliverable\n\n" + b"550 5.1.1 x\n" * 10_000)
    for raw in samples:
        try:
            await _deliver(receiver, raw or b"x", to)
        except aiosmtplib.SMTPDataError as refused:
            # The SMTP layer's own limit (RFC 5321 lines of at most 1000 bytes).
            assert refused.code == 500 and "Line too long" in refused.message
    assert await Bounce.all().count() <= 1  # a truncated report may still say enough
    await Bounce.all().delete()
    await Suppression.all().delete()
    await _deliver(receiver, _report_for(settings, "postfix_hard", row), to)
    assert await _entries("after@example.org") == {("all", "hard_bounce")}


async def test_garbage_straight_into_the_handler(settings, db):
    rng = random.Random(4)
    row = await _row("direct@example.org", "direct")
    to = envelope_sender(settings, row)
    for _ in range(200):
        raw = rng.randbytes(rng.randint(0, 2000))
        assert await handle_message(settings, to, raw) in set(Outcome)
    assert await handle_message(settings, "nonsense", b"") is Outcome.UNKNOWN
    assert await handle_message(settings, "", b"") is Outcome.UNKNOWN


async def test_complaint_to_the_bare_address_finds_the_message_by_its_id(settings, receiver):
    # Feedback loops send to a registered address, and may strip the envelope sender:
    # the copy's Message-ID names the message.
    row = await _row("kofi@example.org", "fbl")
    raw = _report_for(settings, "arf_complaint", row, envelope="someone@elsewhere.example")
    assert b"bounces+" not in raw
    await _deliver(receiver, raw, f"bounces@{settings.mail.domain}")
    assert await _entries("kofi@example.org") == {("all", "complaint")}


async def test_bounce_to_the_bare_address_finds_its_envelope_sender(settings, receiver):
    row = await _row("bare@example.org", "bare")
    await _deliver(
        receiver, _report_for(settings, "exim_hard", row), f"bounces@{settings.mail.domain}"
    )
    assert await _entries("bare@example.org") == {("all", "hard_bounce")}


async def test_bare_address_with_nothing_of_ours_is_ignored(settings, receiver):
    row = await _row("nobody@example.org", "nobody")
    raw = load("postfix_hard", recipient=row.to_address)  # another domain's ids and tokens
    await _deliver(receiver, raw, f"bounces@{settings.mail.domain}")
    assert await Bounce.all().count() == 0
    assert receiver.handler.outcomes == {Outcome.UNKNOWN: 1}


async def test_mailto_unsubscribe(settings, receiver):
    row = await _row("reader@example.org", "news", topic=Topic.NEWSLETTER)
    to = f"unsubscribe+{mailto_token(settings, row)}@{settings.mail.domain}"
    raw = b"From: reader@example.org\nSubject: unsubscribe\n\nPlease stop.\n"
    await _deliver(receiver, raw, to)
    assert await _entries("reader@example.org") == {("newsletter", "unsubscribed")}
    await _deliver(receiver, raw, to.upper())  # again, case folded: changes nothing
    assert await _entries("reader@example.org") == {("newsletter", "unsubscribed")}
    forged = f"unsubscribe+{row.id}-{'a' * 16}@{settings.mail.domain}"
    other = await _row("other@example.org", "news2", topic=Topic.NEWSLETTER)
    await _deliver(receiver, raw, forged.replace(str(row.id), str(other.id), 1))
    assert await _entries("other@example.org") == set()
    assert receiver.handler.outcomes == {Outcome.UNSUBSCRIBED: 2, Outcome.FORGED: 1}


async def test_a_database_failure_answers_451(settings, receiver, monkeypatch):
    from engage.mail import bounce_server

    async def broken(*args, **kwargs):
        raise ConnectionError("database went away")

    monkeypatch.setattr(bounce_server, "record_bounce", broken)
    row = await _row("later@example.org", "later")
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await _deliver(
            receiver, _report_for(settings, "postfix_hard", row), envelope_sender(settings, row)
        )
    assert refused.value.code == 451
    monkeypatch.undo()
    await _deliver(
        receiver, _report_for(settings, "postfix_hard", row), envelope_sender(settings, row)
    )
    assert await _entries("later@example.org") == {("all", "hard_bounce")}
