"""The send-time check: the worker asks again before rendering, and a row that may
no longer go is marked skipped with its reason, never sent (against a real SMTP
server and a real database)."""

from __future__ import annotations

from engage.alumni.models import Alumnus
from engage.mail.models import (
    Category,
    OutboxMessage,
    Status,
    SuppressionReason,
    SuppressionScope,
    Topic,
)
from engage.mail.outbox import enqueue
from engage.mail.suppression import suppress
from engage.places.models import Country, ProgrammeStatus
from tests.alumni import conftest as _alumni

BULK, TX = Category.BULK, Category.TRANSACTIONAL
#: The alumni factory fixture, for this module's tests.
make_alumnus = _alumni.make_alumnus


async def _row(key, *, to, category=BULK, topic=None, recipient=None, context=None, now=None):
    queued = await enqueue(
        "test_message",
        to=to,
        category=category,
        topic=topic,
        dedupe_key=key,
        recipient=recipient,
        context=context,
        now=now,
    )
    return queued.message


async def _outcome(row: OutboxMessage) -> tuple[Status, str | None]:
    await row.refresh_from_db()
    return row.status, row.skip_reason


async def test_suppressed_bulk_is_skipped_and_recorded(worker, smtp_server, clock):
    await suppress("Amani@example.org", SuppressionScope.NEWSLETTER, SuppressionReason.UNSUBSCRIBED)
    news = await _row("n1", to="amani@example.org", topic=Topic.NEWSLETTER, now=clock())
    invite = await _row("i1", to="amani@example.org", topic=Topic.INVITATIONS, now=clock())
    assert await worker.run_until_empty() == 2
    assert await _outcome(news) == (Status.SKIPPED, "suppressed")
    assert news.sent_at is None and news.lease_owner is None
    # A newsletter unsubscribe does not stop invitations.
    assert await _outcome(invite) == (Status.SENT, None)
    assert [r.rcpt_tos for r in smtp_server.received] == [["amani@example.org"]]
    assert smtp_server.messages()[0]["List-Unsubscribe"]


async def test_transactional_mail_stops_only_for_a_hard_bounce(worker, smtp_server, clock):
    await suppress("unsub@example.org", SuppressionScope.ALL, SuppressionReason.UNSUBSCRIBED)
    await suppress("spam@example.org", SuppressionScope.ALL, SuppressionReason.COMPLAINT)
    await suppress("gone@example.org", SuppressionScope.ALL, SuppressionReason.HARD_BOUNCE)
    rows = {
        to: await _row(f"t-{to}", to=to, category=TX, now=clock())
        for to in ("unsub@example.org", "spam@example.org", "gone@example.org")
    }
    bulk = await _row("b-spam", to="spam@example.org", topic=Topic.INVITATIONS, now=clock())
    await worker.run_until_empty()
    assert await _outcome(rows["unsub@example.org"]) == (Status.SENT, None)
    assert await _outcome(rows["spam@example.org"]) == (Status.SENT, None)
    assert await _outcome(rows["gone@example.org"]) == (Status.SKIPPED, "hard_bounce")
    assert await _outcome(bulk) == (Status.SKIPPED, "suppressed")
    received = sorted(r.rcpt_tos[0] for r in smtp_server.received)
    assert received == ["spam@example.org", "unsub@example.org"]
    # Transactional mail never carries the unsubscribe headers.
    for message in smtp_server.messages():
        assert message["List-Unsubscribe"] is None
        assert message["List-Unsubscribe-Post"] is None


async def test_an_alumnus_no_longer_eligible_is_skipped(worker, smtp_server, clock, make_alumnus):
    keen = await make_alumnus(email="keen@example.org")
    withdrew = await make_alumnus(email="withdrew@example.org")
    flagged = await make_alumnus(email="flagged@example.org")
    news_only = await make_alumnus(email="news-only@example.org")
    rows = {}
    for person in (keen, withdrew, flagged, news_only):
        rows[person.id] = await _row(
            f"a{person.id}",
            to=person.email,
            topic=Topic.INVITATIONS,
            recipient=("alumnus", person.id),
            now=clock(),
        )
    # After the rows were queued:
    await Alumnus.filter(id=withdrew.id).update(accepts_invitations=False)
    await Alumnus.filter(id=flagged.id).update(do_not_engage=True)
    await Alumnus.filter(id=news_only.id).update(accepts_newsletter=False)
    await worker.run_until_empty()
    assert await _outcome(rows[keen.id]) == (Status.SENT, None)
    assert await _outcome(rows[withdrew.id]) == (Status.SKIPPED, "no_consent")
    assert await _outcome(rows[flagged.id]) == (Status.SKIPPED, "do_not_engage")
    # No newsletters is not "no invitations".
    assert await _outcome(rows[news_only.id]) == (Status.SENT, None)
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == [
        "keen@example.org",
        "news-only@example.org",
    ]


async def test_a_suspension_stops_queued_mail_unless_the_run_overrode_it(
    worker, smtp_server, clock, make_alumnus
):
    plain = await make_alumnus(country="ML", email="plain@example.org")
    overridden = await make_alumnus(country="ML", email="override@example.org")
    first = await _row(
        "s1",
        to=plain.email,
        topic=Topic.INVITATIONS,
        recipient=("alumnus", plain.id),
        now=clock(),
    )
    second = await _row(
        "s2",
        to=overridden.email,
        topic=Topic.INVITATIONS,
        recipient=("alumnus", overridden.id),
        context={"override_suspension": True},
        now=clock(),
    )
    await Country.filter(code="ML").update(programme_status=ProgrammeStatus.SUSPENDED)
    await worker.run_until_empty()
    assert await _outcome(first) == (Status.SKIPPED, "programme_suspended")
    assert await _outcome(second) == (Status.SENT, None)


async def test_transactional_mail_to_an_alumnus_ignores_consent(
    worker, smtp_server, clock, make_alumnus
):
    person = await make_alumnus(
        email="quiet@example.org", accepts_invitations=False, accepts_newsletter=False
    )
    row = await _row(
        "tx", to=person.email, category=TX, recipient=("alumnus", person.id), now=clock()
    )
    await worker.run_until_empty()
    assert await _outcome(row) == (Status.SENT, None)


async def test_a_hard_bounced_primary_with_a_verified_secondary_is_still_eligible(
    db, make_alumnus, clock
):
    from engage.alumni.eligibility import BulkKind, Reason, bulk_eligible, ineligibility

    bounced = await make_alumnus(email="old@example.org")
    moved = await make_alumnus(
        email="was@example.org",
        secondary_email="now@example.org",
        secondary_verified_at=clock(),
        email_failing_at=clock(),
    )
    for person in (bounced, moved):
        await suppress(person.email, SuppressionScope.ALL, SuppressionReason.HARD_BOUNCE)
    eligible = set(
        await Alumnus.filter(bulk_eligible(BulkKind.INVITATIONS)).values_list("id", flat=True)
    )
    assert bounced.id not in eligible and moved.id in eligible
    assert await ineligibility(bounced, BulkKind.INVITATIONS) == [Reason.SUPPRESSED]
    assert await ineligibility(moved, BulkKind.INVITATIONS) == []
    # An unsubscribe is the person's will: no fallback to the secondary address.
    await suppress(moved.email, SuppressionScope.INVITATIONS, SuppressionReason.UNSUBSCRIBED)
    assert await ineligibility(moved, BulkKind.INVITATIONS) == [Reason.SUPPRESSED]
    assert await ineligibility(moved, BulkKind.NEWSLETTER) == []


async def test_one_batch_is_checked_at_once(db, clock, make_alumnus):
    from engage.mail.gate import skip_reason, skip_reasons

    keen = await make_alumnus(email="keen@example.org")
    quiet = await make_alumnus(email="quiet@example.org", do_not_engage=True)
    await suppress("gone@example.org", SuppressionScope.ALL, SuppressionReason.HARD_BOUNCE)
    await suppress("NEWS@example.org", SuppressionScope.NEWSLETTER, SuppressionReason.UNSUBSCRIBED)
    rows = [
        await _row("k1", to=keen.email, topic=Topic.INVITATIONS, recipient=("alumnus", keen.id)),
        await _row("k2", to=keen.email, topic=Topic.NEWSLETTER, recipient=("alumnus", keen.id)),
        await _row("q1", to=quiet.email, topic=Topic.INVITATIONS, recipient=("alumnus", quiet.id)),
        await _row("q2", to=quiet.email, topic=Topic.NEWSLETTER, recipient=("alumnus", quiet.id)),
        await _row("q3", to=quiet.email, category=TX, recipient=("alumnus", quiet.id)),
        await _row("g1", to="gone@example.org", category=TX),
        await _row("g2", to="Gone@example.org", topic=Topic.INVITATIONS),
        await _row("n1", to="news@example.org", topic=Topic.NEWSLETTER),
        await _row("n2", to="news@example.org", topic=Topic.INVITATIONS),
        await _row("n3", to="news@example.org", category=TX),
    ]
    by_key = {row.dedupe_key: row.id for row in rows}
    found = await skip_reasons(rows)
    assert {key: found.get(row_id) for key, row_id in by_key.items()} == {
        "k1": None,
        "k2": None,
        "q1": "do_not_engage",
        "q2": "do_not_engage",
        "q3": None,  # transactional: consent and flags do not stop it
        "g1": "hard_bounce",
        "g2": "suppressed",
        "n1": "suppressed",
        "n2": None,
        "n3": None,
    }
    # One row alone gets the same answer as in its batch.
    for row in rows:
        assert await skip_reason(row) == found.get(row.id)


async def test_a_check_that_fails_sends_nothing(worker, smtp_server, clock, monkeypatch):
    from engage.mail import gate

    async def broken(rows):
        raise RuntimeError("database went away")

    monkeypatch.setattr(gate, "_CHECKS", [*gate._CHECKS, broken])
    row = await _row("x", to="someone@example.org", topic=Topic.NEWSLETTER, now=clock())
    await worker.run_until_empty()
    await row.refresh_from_db()
    assert row.status == Status.DEFERRED and row.last_error.startswith("check: RuntimeError")
    assert smtp_server.received == []
    # Once the check answers again, the row goes.
    monkeypatch.setattr(gate, "_CHECKS", [c for c in gate._CHECKS if c is not broken])
    clock.advance(hours=2)
    await worker.run_until_empty()
    assert await _outcome(row) == (Status.SENT, None)
