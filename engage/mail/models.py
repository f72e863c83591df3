"""The outbox: one row per email to send, written in the transaction that causes it.

A row holds what is needed to render the message at send time (template name,
recipient, context ids), never a body or a link token.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Category(StrEnum):
    """DESIGN.md's two kinds of mail: what the person asked for, and bulk mail."""

    TRANSACTIONAL = "transactional"
    BULK = "bulk"


class Status(StrEnum):
    """queued -> sending -> sent | deferred (-> sending ...) | failed | dead."""

    QUEUED = "queued"
    #: Claimed by a worker; the lease says until when.
    SENDING = "sending"
    SENT = "sent"
    #: A temporary failure; tried again at ``next_attempt_at``.
    DEFERRED = "deferred"
    #: A permanent failure (5xx): not retried unless someone asks.
    FAILED = "failed"
    #: Temporary failures went on past the maximum age.
    DEAD = "dead"
    #: Not sent: the eligibility rule said no at send time (``skip_reason`` says why).
    SKIPPED = "skipped"


class Topic(StrEnum):
    """What a bulk message is about: the unit people unsubscribe from."""

    INVITATIONS = "invitations"
    NEWSLETTER = "newsletter"


class OutboxMessage(Model):
    id = fields.BigIntField(primary_key=True)
    created_at = fields.DatetimeField()
    #: When the message (re)entered the queue. The retry limit (mail.max_age_hours)
    #: counts from here, so a retry by hand gets a full new window.
    queued_at = fields.DatetimeField()
    #: Folder under ``emails/`` holding subject.txt, body.txt and body.html.
    template = fields.CharField(max_length=100)
    category = fields.CharEnumField(Category, max_length=16)
    #: Bulk mail only: what it is about (invitations or newsletter), which the
    #: unsubscribe link and the suppression list act on.
    topic = fields.CharEnumField(Topic, max_length=16, null=True)
    #: The run that wrote it ("invite:12", "newsletter:5"), for progress and stats.
    campaign = fields.CharField(max_length=64, null=True)
    #: Unique per intended message: a retried request or a double click enqueues once.
    dedupe_key = fields.CharField(max_length=255, unique=True)
    to_address = fields.CharField(max_length=320)
    to_name = fields.CharField(max_length=200, default="")
    #: What kind of record the recipient is ("user", "alumnus", ...) and its id, so
    #: the renderer can load the current name and language at send time.
    recipient_type = fields.CharField(max_length=32, null=True)
    recipient_id = fields.BigIntField(null=True)
    #: Ids of the records the template needs ({"event": 12}) and small scalars. Never
    #: a body, never a token: links are derived at send time.
    context = fields.JSONField(default=dict)
    #: The Message-ID is ``<message_key@mail.domain>``: stable for the row, so a
    #: resend after a crash carries the same Message-ID.
    message_key = fields.CharField(max_length=64, unique=True)
    #: Automatic mail carries ``Auto-Submitted: auto-generated``.
    auto_submitted = fields.BooleanField(default=True)
    #: Higher goes first: a password reset never waits behind a newsletter.
    priority = fields.SmallIntField(default=0)
    status = fields.CharEnumField(Status, max_length=16, default=Status.QUEUED)
    #: Due time of the next attempt.
    next_attempt_at = fields.DatetimeField()
    attempts = fields.IntField(default=0)
    #: Which worker holds the row while it is being sent, and until when.
    lease_owner = fields.CharField(max_length=100, null=True)
    lease_expires_at = fields.DatetimeField(null=True)
    last_attempt_at = fields.DatetimeField(null=True)
    #: The server's reply (or the connection error) of the last failed attempt.
    last_error = fields.TextField(null=True)
    sent_at = fields.DatetimeField(null=True)
    #: Why a row was skipped at send time (suppressed, no consent, ...).
    skip_reason = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "mail_outbox"
        indexes = (
            ("status", "next_attempt_at"),
            ("status", "lease_expires_at"),
            ("campaign", "status"),
        )

    def __str__(self) -> str:
        return f"OutboxMessage({self.id}, {self.template} -> {self.to_address}, {self.status})"


class SuppressionScope(StrEnum):
    INVITATIONS = "invitations"
    NEWSLETTER = "newsletter"
    #: Every bulk message (a complaint, a hard bounce).
    ALL = "all"


class SuppressionReason(StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    HARD_BOUNCE = "hard_bounce"
    COMPLAINT = "complaint"
    MANUAL = "manual"


class Suppression(Model):
    """An address that must not receive some mail. A hard bounce also stops
    transactional mail to the address (DESIGN.md)."""

    id = fields.BigIntField(primary_key=True)
    #: Lower-cased address.
    address_key = fields.CharField(max_length=320)
    scope = fields.CharEnumField(SuppressionScope, max_length=16)
    reason = fields.CharEnumField(SuppressionReason, max_length=16)
    #: The server's words, the report's summary, or a note by staff.
    detail = fields.TextField(default="")
    created_at = fields.DatetimeField()
    #: The message that caused it (bounce, complaint, unsubscribe link), if any.
    message = fields.ForeignKeyField(
        "engage.OutboxMessage", related_name="suppressions", null=True, on_delete=fields.SET_NULL
    )

    class Meta:
        table = "mail_suppression"
        unique_together = (("address_key", "scope"),)


class BounceKind(StrEnum):
    HARD = "hard"
    SOFT = "soft"
    COMPLAINT = "complaint"


class Bounce(Model):
    """A delivery status notification, complaint report or 5xx reply, as received."""

    id = fields.BigIntField(primary_key=True)
    received_at = fields.DatetimeField()
    kind = fields.CharEnumField(BounceKind, max_length=16)
    address_key = fields.CharField(max_length=320)
    message = fields.ForeignKeyField(
        "engage.OutboxMessage", related_name="bounces", null=True, on_delete=fields.SET_NULL
    )
    #: RFC 3463 status ("5.1.1") and the remote server's diagnostic, as reported.
    status_code = fields.CharField(max_length=16, default="")
    diagnostic = fields.TextField(default="")
    #: Who reported it (the reporting MTA, or "smtp" for a reply at send time).
    reporter = fields.CharField(max_length=200, default="")

    class Meta:
        table = "mail_bounce"
        indexes = (("address_key", "received_at"), ("received_at",))


class RelayBudget(Model):
    """The send rate of one relay, shared by every worker process: each send takes
    the next free slot (``next_slot_at``), and the hour's count is capped."""

    relay = fields.CharField(max_length=200, primary_key=True)
    next_slot_at = fields.DatetimeField()
    hour_started_at = fields.DatetimeField()
    hour_count = fields.IntField(default=0)

    class Meta:
        table = "mail_relay_budget"


class RelayConnection(Model):
    """A numbered connection slot to a relay, leased by one worker at a time: the
    number of slots is the relay's connection limit across all processes."""

    id = fields.BigIntField(primary_key=True)
    relay = fields.CharField(max_length=200)
    slot = fields.SmallIntField()
    holder = fields.CharField(max_length=100, null=True)
    expires_at = fields.DatetimeField(null=True)

    class Meta:
        table = "mail_relay_connection"
        unique_together = (("relay", "slot"),)
