"""Newsletter issues, the series that create them on a schedule, and (when enabled)
open and click records.

An issue keeps its Markdown and its audience (a saved segment or an audience filter).
Sending fixes the audience: a resumable run walks it in id order, with a checkpoint,
writing one outbox row per recipient (campaign ``newsletter:<id>``).
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class IssueStatus(StrEnum):
    DRAFT = "draft"
    #: Waiting for ``send_at``.
    SCHEDULED = "scheduled"
    #: The run is writing outbox rows (the worker sends them as they come).
    SENDING = "sending"
    PAUSED = "paused"
    #: Every recipient has an outbox row.
    SENT = "sent"


class Series(Model):
    """A recurring newsletter, e.g. "Monthly alumni bulletin"."""

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=200)
    #: RFC 5545 recurrence rule (an RRULE value: monthly on the 1st at 09:00, quarterly...).
    rrule = fields.CharField(max_length=500)
    #: First occurrence (UTC) and the zone the rule is read in (wall-clock times).
    starts_at = fields.DatetimeField()
    timezone = fields.CharField(max_length=64)
    #: {"segment_id": N} or {"filter": {...}}.
    audience = fields.JSONField()
    #: Subject and Markdown introduction of each issue (placeholders allowed).
    subject = fields.CharField(max_length=200)
    body = fields.TextField(default="")
    #: Generated sections: ["events", "news"].
    sections = fields.JSONField(default=list)
    #: How far ahead the events section looks.
    events_weeks = fields.SmallIntField(default=6)
    #: True: issues are sent at each date. False: created as drafts for staff to approve.
    automatic = fields.BooleanField(default=False)
    active = fields.BooleanField(default=True)
    #: The next occurrence not yet made into an issue (UTC).
    next_run_at = fields.DatetimeField(null=True)
    created_by = fields.ForeignKeyField(
        "engage.User", related_name="newsletter_series", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "newsletters_series"
        indexes = (("active", "next_run_at"),)


class Newsletter(Model):
    """One issue."""

    id = fields.BigIntField(primary_key=True)
    subject = fields.CharField(max_length=200)
    #: Markdown, with placeholders such as {{ preferred_name | "colleague" }}.
    body = fields.TextField(default="")
    #: {"segment_id": N} or {"filter": {...}}.
    audience = fields.JSONField()
    #: Generated sections for each recipient: ["events", "news"].
    sections = fields.JSONField(default=list)
    events_weeks = fields.SmallIntField(default=6)
    series = fields.ForeignKeyField(
        "engage.Series", related_name="issues", null=True, on_delete=fields.SET_NULL
    )
    #: The series occurrence this issue is for (one issue per occurrence).
    occurrence = fields.DatetimeField(null=True)
    status = fields.CharEnumField(IssueStatus, max_length=16, default=IssueStatus.DRAFT)
    #: When to send (UTC), and the zone the author typed it in.
    send_at = fields.DatetimeField(null=True)
    send_timezone = fields.CharField(max_length=64, default="UTC")
    #: The alumni news section covers career changes recorded since then.
    news_since = fields.DatetimeField(null=True)
    created_by = fields.ForeignKeyField(
        "engage.User", related_name="newsletters", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    #: The send run: audience size when it started, last alumnus id written, rows written.
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    paused_at = fields.DatetimeField(null=True)
    total = fields.IntField(default=0)
    checkpoint = fields.BigIntField(default=0)
    written = fields.IntField(default=0)
    #: {"reason": count} of those left out by the eligibility rule.
    skipped = fields.JSONField(default=dict)
    #: A worker holds the run while it writes (lease), so two workers never both do.
    lease_owner = fields.CharField(max_length=100, null=True)
    lease_expires_at = fields.DatetimeField(null=True)

    class Meta:
        table = "newsletters_newsletter"
        unique_together = (("series", "occurrence"),)
        indexes = (("status", "send_at"), ("created_at",))


class TrackingKind(StrEnum):
    OPEN = "open"
    CLICK = "click"


class Tracking(Model):
    """An open (pixel) or a click (signed redirect), recorded only when tracking is on."""

    id = fields.BigIntField(primary_key=True)
    newsletter = fields.ForeignKeyField(
        "engage.Newsletter", related_name="tracking", on_delete=fields.CASCADE
    )
    message = fields.ForeignKeyField(
        "engage.OutboxMessage", related_name="tracking", null=True, on_delete=fields.SET_NULL
    )
    kind = fields.CharEnumField(TrackingKind, max_length=8)
    url = fields.TextField(default="")
    at = fields.DatetimeField()

    class Meta:
        table = "newsletters_tracking"
        indexes = (("newsletter_id", "kind"),)
