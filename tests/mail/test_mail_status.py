"""The mail figures (engage.mail.stats) and ``engage mail status``, with outbox,
suppression and bounce rows written directly."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engage.cli.mail_status import report
from engage.mail.models import (
    Bounce,
    BounceKind,
    Category,
    OutboxMessage,
    Status,
    Suppression,
    SuppressionReason,
    SuppressionScope,
)
from engage.mail.outbox import outbox_values
from engage.mail.stats import list_bounces, list_campaigns, list_failures, mail_overview
from tests.conftest import TEST_SECRET
from tests.test_demo_pages import engage_env, run_engage

NOW = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
_seq = itertools.count(1)


async def put(status: Status = Status.QUEUED, **fields: Any) -> OutboxMessage:
    """An outbox row in ``status`` (``sent_at``, ``campaign``, ... as given)."""
    n = next(_seq)
    values = outbox_values(
        fields.pop("template", "invitation"),
        to=fields.pop("to", f"person{n}@example.org"),
        category=fields.pop("category", Category.BULK),
        dedupe_key=f"stats:{n}",
        now=fields.pop("created_at", NOW - timedelta(hours=1)),
    )
    return await OutboxMessage.create(**{**values, "status": status, **fields})


async def suppress(address: str, reason: SuppressionReason, scope=SuppressionScope.ALL):
    return await Suppression.create(
        address_key=address, scope=scope, reason=reason, created_at=NOW, detail="test"
    )


async def test_counts_by_status_and_suppressed_addresses(db):
    for status, n in {
        Status.QUEUED: 3,
        Status.SENDING: 1,
        Status.SENT: 5,
        Status.DEFERRED: 2,
        Status.FAILED: 1,
        Status.DEAD: 1,
        Status.SKIPPED: 4,
    }.items():
        for _ in range(n):
            await put(status)
    await suppress("a@example.org", SuppressionReason.UNSUBSCRIBED, SuppressionScope.NEWSLETTER)
    await suppress("a@example.org", SuppressionReason.UNSUBSCRIBED, SuppressionScope.INVITATIONS)
    await suppress("b@example.org", SuppressionReason.HARD_BOUNCE)
    await suppress("c@example.org", SuppressionReason.COMPLAINT)

    overview = await mail_overview(now=NOW)
    assert overview.counts == {
        Status.QUEUED: 3,
        Status.SENDING: 1,
        Status.SENT: 5,
        Status.DEFERRED: 2,
        Status.FAILED: 1,
        Status.DEAD: 1,
        Status.SKIPPED: 4,
    }
    assert overview.total == 17
    # Addresses, not rows: a@ is suppressed for two topics and counts once.
    assert overview.suppressed == 3
    assert overview.suppressed_by_reason == {
        SuppressionReason.UNSUBSCRIBED: 1,
        SuppressionReason.HARD_BOUNCE: 1,
        SuppressionReason.COMPLAINT: 1,
        SuppressionReason.MANUAL: 0,
    }
    assert overview.in_flight


async def test_in_flight_means_held_by_a_worker_or_due(db):
    assert not (await mail_overview(now=NOW)).in_flight  # empty queue
    await put(Status.SENT, sent_at=NOW)
    await put(Status.FAILED)
    # Deferred until later, and queued for later: waiting, not in flight.
    await put(Status.DEFERRED, next_attempt_at=NOW + timedelta(minutes=30))
    await put(Status.QUEUED, next_attempt_at=NOW + timedelta(hours=2))
    overview = await mail_overview(now=NOW)
    assert overview.due == 0 and not overview.in_flight
    assert (await mail_overview(now=NOW + timedelta(minutes=31))).due == 1
    await put(Status.SENDING)
    assert (await mail_overview(now=NOW)).in_flight


async def test_an_empty_queue(db):
    overview = await mail_overview(now=NOW)
    assert overview.total == 0 and overview.suppressed == 0
    assert set(overview.counts.values()) == {0}
    campaigns = await list_campaigns(now=NOW)
    assert campaigns.rows == [] and campaigns.total == 0 and campaigns.pages == 1
    assert (await list_failures()).rows == []
    assert (await list_bounces()).rows == []


async def test_campaign_progress_and_rate(db):
    # message:2, written first: only a deferred message left, which waits for its retry.
    await put(Status.SENT, campaign="message:2", sent_at=NOW - timedelta(minutes=1))
    await put(Status.DEFERRED, campaign="message:2")
    # invite:1: 10 messages, 6 sent of which 4 in the last five minutes, 2 queued,
    # 1 deferred, 1 skipped.
    for minutes_ago in (1, 2, 3, 4, 20, 40):
        await put(Status.SENT, campaign="invite:1", sent_at=NOW - timedelta(minutes=minutes_ago))
    for status in (Status.QUEUED, Status.QUEUED, Status.DEFERRED, Status.SKIPPED):
        await put(status, campaign="invite:1")
    # reminder:7, written later: 3 sent long ago, all done.
    for _ in range(3):
        await put(
            Status.SENT,
            campaign="reminder:7",
            template="event_reminder",
            sent_at=NOW - timedelta(days=1),
        )
    # Transactional mail belongs to no campaign.
    await put(Status.SENT, category=Category.TRANSACTIONAL, sent_at=NOW)

    page = await list_campaigns(now=NOW)
    assert page.total == 3 and page.pages == 1
    # The most recently written campaign first.
    assert [c.campaign for c in page.rows] == ["reminder:7", "invite:1", "message:2"]
    reminder, invite, message = page.rows
    assert invite.total == 10 and invite.sent == 6 and invite.pending == 3
    assert invite.counts[Status.QUEUED] == 2
    assert invite.counts[Status.DEFERRED] == 1
    assert invite.counts[Status.SKIPPED] == 1
    assert invite.sent_recently == 4
    assert invite.rate_per_minute == 0.8  # 4 in 5 minutes
    assert invite.minutes_left == 3  # 2 queued at 0.8 a minute (the deferred one waits)
    assert not invite.done
    assert invite.template == "invitation"
    assert invite.last_sent_at == NOW - timedelta(minutes=1)
    assert invite.started_at == NOW - timedelta(hours=1)
    assert reminder.total == 3 and reminder.sent == 3 and reminder.done
    assert reminder.rate_per_minute == 0.0 and reminder.minutes_left is None
    assert reminder.template == "event_reminder"
    assert not message.done and message.rate_per_minute == 0.2
    assert message.minutes_left is None and message.retrying
    assert not invite.retrying and not reminder.retrying


async def test_campaigns_are_paginated(db):
    for n in range(5):
        await put(Status.QUEUED, campaign=f"message:{n}")
    first = await list_campaigns(page=1, size=2, now=NOW)
    assert first.total == 5 and first.pages == 3
    assert [c.campaign for c in first.rows] == ["message:4", "message:3"]
    last = await list_campaigns(page=3, size=2, now=NOW)
    assert [c.campaign for c in last.rows] == ["message:0"]
    # A page past the end shows the last one.
    assert (await list_campaigns(page=99, size=2, now=NOW)).page == 3


async def test_failures_with_the_reply_newest_first(db):
    await put(Status.SENT, sent_at=NOW)
    await put(Status.SKIPPED, skip_reason="suppressed")
    failed = await put(Status.FAILED, last_error="550 5.1.1 <x@example.org>: user unknown")
    dead = await put(Status.DEAD, last_error="421 4.7.0 try again later")
    deferred = await put(Status.DEFERRED, last_error="451 4.7.1 greylisted")
    page = await list_failures(size=2)
    assert page.total == 3 and page.pages == 2
    assert [r.id for r in page.rows] == [deferred.id, dead.id]
    second = await list_failures(page=2, size=2)
    assert [r.last_error for r in second.rows] == [failed.last_error]


async def test_bounces_with_the_suppressions_they_caused(db):
    await suppress("gone@example.org", SuppressionReason.HARD_BOUNCE)
    # An unsubscribe is the person's choice, not a bounce's: not offered to lift.
    await suppress("gone@example.org", SuppressionReason.UNSUBSCRIBED, SuppressionScope.NEWSLETTER)
    old = await Bounce.create(
        received_at=NOW - timedelta(days=2),
        kind=BounceKind.SOFT,
        address_key="full@example.org",
        status_code="4.2.2",
        diagnostic="smtp; 452 4.2.2 mailbox full",
        reporter="mx.example.org",
    )
    new = await Bounce.create(
        received_at=NOW,
        kind=BounceKind.HARD,
        address_key="gone@example.org",
        status_code="5.1.1",
        diagnostic="smtp; 550 5.1.1 <gone@example.org>: Recipient address rejected",
        reporter="mx.example.org",
    )
    page = await list_bounces()
    assert [row.bounce.id for row in page.rows] == [new.id, old.id]
    assert page.rows[0].bounce.diagnostic.startswith("smtp; 550 5.1.1")
    assert [s.reason for s in page.rows[0].suppressions] == [SuppressionReason.HARD_BOUNCE]
    assert page.rows[1].suppressions == []


async def test_report_lines(db):
    await put(Status.SENT, campaign="invite:3", sent_at=NOW - timedelta(minutes=1))
    await put(Status.QUEUED, campaign="invite:3")
    await put(Status.FAILED, last_error="550 no")
    await suppress("b@example.org", SuppressionReason.HARD_BOUNCE)
    lines = await report(now=NOW)
    text = "\n".join(lines)
    assert "  queued            1" in lines
    assert "  sent              1" in lines
    assert "  failed            1" in lines
    assert "Suppressed addresses: 1 (unsubscribed 0, hard bounce 1, complaint 0, manual 0)" in text
    assert "Mail is going out now." in text
    header = next(line for line in lines if line.lstrip().startswith("campaign"))
    row = next(line for line in lines if line.lstrip().startswith("invite:3"))
    # Aligned: each figure ends under the end of its column's name.
    for column, value in (("total", "2"), ("sent", "1"), ("queued", "1"), ("rate/min", "0.2")):
        end = header.index(column) + len(column)
        assert row[:end].endswith(value), (column, row)
    assert row.endswith("~5 min")


@pytest.mark.slow
async def test_engage_mail_status_command(db, db_url, tmp_path):
    await put(Status.SENT, campaign="invite:9", sent_at=NOW)
    await put(Status.DEFERRED, campaign="invite:9", last_error="421 busy")
    env = engage_env(
        ENGAGE_DATABASE__URL=db_url,
        ENGAGE_APP__SECRET_KEY=TEST_SECRET,
        ENGAGE_APP__VAR_DIR=str(tmp_path / "var"),
        ENGAGE_APP__LOG_FORMAT="text",
    )
    result = run_engage("mail", "status", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Messages by status\n")
    assert "  deferred          1\n" in result.stdout
    assert "  total             2\n" in result.stdout
    assert "invite:9" in result.stdout
