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


class OutboxMessage(Model):
    id = fields.BigIntField(primary_key=True)
    created_at = fields.DatetimeField()
    #: When the message (re)entered the queue. The retry limit (mail.max_age_hours)
    #: counts from here, so a retry by hand gets a full new window.
    queued_at = fields.DatetimeField()
    #: Folder under ``emails/`` holding subject.txt, body.txt and body.html.
    template = fields.CharField(max_length=100)
    category = fields.CharEnumField(Category, max_length=16)
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

    class Meta:
        table = "mail_outbox"
        indexes = (("status", "next_attempt_at"), ("status", "lease_expires_at"))

    def __str__(self) -> str:
        return f"OutboxMessage({self.id}, {self.template} -> {self.to_address}, {self.status})"
