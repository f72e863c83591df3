"""The bounce rules (engage.mail.bounces) on a real database: hard, soft counted,
complaint, 5xx at send time, duplicates and unknown messages, the alumni flag and
the fallback to a verified secondary address."""

from __future__ import annotations

from datetime import timedelta

from engage.alumni.addresses import address_fields, deliverable_address
from engage.alumni.eligibility import BulkKind, bulk_eligible, ineligibility
from engage.alumni.models import Alumnus
from engage.clock import utcnow
from engage.mail import outbox
from engage.mail.bounces import BounceReport, record_bounce, record_rejection
from engage.mail.models import (
    Bounce,
    BounceKind,
    Category,
    OutboxMessage,
    Suppression,
    Topic,
)
from engage.mail.suppression import suppression_for
from tests.factories import ensure_country


async def make_alumnus(*, email: str, **fields) -> Alumnus:
    await ensure_country("KE")
    return await Alumnus.create(
        given_name="Amani",
        family_name="Wanjiru",
        email=email,
        email_key=email.lower(),
        country_id="KE",
        **fields,
    )


async def _row(to: str, key: str, **kwargs) -> OutboxMessage:
    kwargs.setdefault("category", Category.BULK)
    return (await outbox.enqueue("test_message", to=to, dedupe_key=key, **kwargs)).message


def _report(row: OutboxMessage, kind: BounceKind, status: str = "5.1.1", **kwargs) -> BounceReport:
    kwargs.setdefault("diagnostic", f"550 {status} User unknown")
    kwargs.setdefault("reporter", "mx.example.org")
    return BounceReport(kind=kind, message_id=row.id, status=status, **kwargs)


async def _entries(address: str) -> set[tuple[str, str]]:
    rows = await Suppression.filter(address_key=address.lower()).values_list("scope", "reason")
    return {(str(scope), str(reason)) for scope, reason in rows}


async def test_hard_bounce_suppresses_everything_and_keeps_the_reason(db):
    row = await _row("Amani@Example.org", "h1")
    bounce = await record_bounce(_report(row, BounceKind.HARD))
    assert bounce is not None
    assert await _entries("amani@example.org") == {("all", "hard_bounce")}
    stored = await Bounce.get(id=bounce.id)
    assert stored.address_key == "amani@example.org"
    assert stored.kind == BounceKind.HARD
    assert stored.status_code == "5.1.1"
    assert "User unknown" in stored.diagnostic
    assert stored.reporter == "mx.example.org"
    assert stored.message_id == row.id  # type: ignore[attr-defined]
    entry = await Suppression.get(address_key="amani@example.org")
    assert entry.message_id == row.id  # type: ignore[attr-defined]
    assert "User unknown" in entry.detail
    # A hard bounce stops transactional mail too.
    for category, topic in ((Category.TRANSACTIONAL, None), (Category.BULK, Topic.NEWSLETTER)):
        assert await suppression_for("amani@example.org", category=category, topic=topic)


async def test_complaint_stops_bulk_mail_but_not_transactional(db):
    row = await _row("kofi@example.org", "c1", topic=Topic.INVITATIONS)
    await record_bounce(_report(row, BounceKind.COMPLAINT, status="", diagnostic="abuse"))
    assert await _entries("kofi@example.org") == {("all", "complaint")}
    for topic in (Topic.INVITATIONS, Topic.NEWSLETTER):
        assert await suppression_for("kofi@example.org", category=Category.BULK, topic=topic)
    assert (
        await suppression_for("kofi@example.org", category=Category.TRANSACTIONAL, topic=None)
        is None
    )


async def test_soft_bounces_count_until_the_limit_within_the_window(db, settings):
    assert settings.mail.soft_bounce_limit == 3
    assert settings.mail.soft_bounce_days == 7
    now = utcnow()
    rows = [await _row("lina@example.org", f"s{i}") for i in range(4)]
    # One 10 days ago falls outside the window and does not count.
    await record_bounce(_report(rows[0], BounceKind.SOFT, "5.2.2"), now=now - timedelta(days=10))
    await record_bounce(_report(rows[1], BounceKind.SOFT, "5.2.2"), now=now - timedelta(days=6))
    await record_bounce(_report(rows[2], BounceKind.SOFT, "4.2.2"), now=now)
    assert await _entries("lina@example.org") == set()
    await record_bounce(_report(rows[3], BounceKind.SOFT, "5.2.2"), now=now)
    assert await _entries("lina@example.org") == {("all", "hard_bounce")}
    entry = await Suppression.get(address_key="lina@example.org")
    assert entry.detail.startswith("3 soft bounces in 7 days")
    assert await Bounce.filter(address_key="lina@example.org", kind=BounceKind.SOFT).count() == 4


async def test_soft_limit_comes_from_settings(db, settings):
    mail = settings.mail.model_copy(update={"soft_bounce_limit": 1})
    row = await _row("one@example.org", "s-one")
    await record_bounce(_report(row, BounceKind.SOFT, "5.2.2"), mail=mail)
    assert await _entries("one@example.org") == {("all", "hard_bounce")}


async def test_the_same_report_twice_counts_once(db):
    rows = [await _row("twice@example.org", f"t{i}") for i in range(2)]
    for _ in range(3):  # the same DSN delivered three times
        await record_bounce(_report(rows[0], BounceKind.SOFT, "5.2.2"))
    assert await Bounce.filter(address_key="twice@example.org").count() == 1
    await record_bounce(_report(rows[1], BounceKind.SOFT, "5.2.2"))
    assert await _entries("twice@example.org") == set()  # 2 of 3


async def test_unknown_message_is_ignored(db):
    gone = await _row("ghost@example.org", "g1")
    ghost_id = gone.id
    await gone.delete()
    assert await record_bounce(BounceReport(kind=BounceKind.HARD, message_id=ghost_id)) is None
    assert await record_bounce(BounceReport(kind=BounceKind.HARD, message_id=None)) is None
    assert await Bounce.all().count() == 0
    assert await Suppression.all().count() == 0


async def test_the_address_sent_to_counts_not_the_one_reported(db):
    # A forwarding address bounced at its final destination: the address we sent
    # to is the one that stops working for us.
    row = await _row("old@alumni.example", "f1")
    await record_bounce(_report(row, BounceKind.HARD, address="new@elsewhere.example"))
    assert await _entries("old@alumni.example") == {("all", "hard_bounce")}
    assert await _entries("new@elsewhere.example") == set()


async def test_rejection_at_send_time(db):
    cases = [
        ("550 5.1.1 <x@example.org>: No such user", 550, {("all", "hard_bounce")}, "hard"),
        ("550 No such user here", 550, {("all", "hard_bounce")}, "hard"),
        ("552 5.2.2 Mailbox full", 552, set(), "soft"),
        ("554 5.7.1 Message refused as spam", 554, set(), "soft"),
        ("535 5.7.8 Authentication credentials invalid", 535, set(), None),
        ("503 5.5.1 Bad sequence of commands", 503, set(), None),
        ("553 5.1.8 Sender address rejected: domain not found", 553, set(), None),
    ]
    for n, (text, code, entries, kind) in enumerate(cases):
        address = f"r{n}@example.org"
        row = await _row(address, f"r{n}", category=Category.TRANSACTIONAL)
        bounce = await record_rejection(row, code, text)
        assert await _entries(address) == entries, text
        if kind is None:
            assert bounce is None, text
        else:
            assert bounce is not None and bounce.kind == kind, text
            assert bounce.reporter == "smtp"
            assert bounce.diagnostic == text


async def test_hard_bounce_flags_the_profile_and_mail_goes_to_the_verified_secondary(db):
    now = utcnow()
    person = await make_alumnus(
        email="Primary@Example.org",
        secondary_email="second@example.net",
        secondary_verified_at=now,
    )
    other = await make_alumnus(email="other@example.org")
    assert deliverable_address(person) == "Primary@Example.org"
    row = await _row("Primary@Example.org", "p1", recipient=("alumnus", person.id))
    await record_bounce(_report(row, BounceKind.HARD), now=now)
    await person.refresh_from_db()
    await other.refresh_from_db()
    assert person.email_failing_at == now
    assert other.email_failing_at is None
    assert deliverable_address(person) == "second@example.net"
    values = await Alumnus.filter(id=person.id).values("id", *address_fields())
    assert deliverable_address(values[0]) == "second@example.net"
    # Still invited (the eligibility rule knows of the fallback) ...
    assert await ineligibility(person, BulkKind.INVITATIONS) == []
    assert await Alumnus.filter(bulk_eligible(BulkKind.INVITATIONS), id=person.id).exists()
    # ... and a second bounce keeps the first time.
    again = await _row("Primary@Example.org", "p2", recipient=("alumnus", person.id))
    await record_bounce(_report(again, BounceKind.HARD), now=now + timedelta(days=1))
    await person.refresh_from_db()
    assert person.email_failing_at == now


async def test_without_a_verified_secondary_the_person_is_left_out(db):
    person = await make_alumnus(email="only@example.org", secondary_email="unverified@example.net")
    row = await _row("only@example.org", "o1", recipient=("alumnus", person.id))
    await record_bounce(_report(row, BounceKind.HARD))
    await person.refresh_from_db()
    assert person.email_failing_at is not None
    assert deliverable_address(person) == "only@example.org"  # no other: the send is skipped
    assert "suppressed" in await ineligibility(person, BulkKind.INVITATIONS)


async def test_soft_bounces_do_not_flag_the_profile(db):
    person = await make_alumnus(email="soft@example.org")
    row = await _row("soft@example.org", "sf1", recipient=("alumnus", person.id))
    await record_bounce(_report(row, BounceKind.SOFT, "5.2.2"))
    await person.refresh_from_db()
    assert person.email_failing_at is None


async def test_a_secondary_address_bouncing_does_not_flag_the_primary(db):
    person = await make_alumnus(
        email="prim@example.org", secondary_email="sec@example.net", secondary_verified_at=utcnow()
    )
    row = await _row("sec@example.net", "sec1", recipient=("alumnus", person.id))
    await record_bounce(_report(row, BounceKind.HARD))
    await person.refresh_from_db()
    assert person.email_failing_at is None
    assert await _entries("sec@example.net") == {("all", "hard_bounce")}
