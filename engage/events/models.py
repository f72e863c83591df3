"""Events at embassies: what, where, when (stored in UTC, shown in the embassy's zone).

The event kind (``events/<kind>.toml``) supplies defaults when an event is created;
the event keeps its own copy of every value, so editing a kind file never changes an
event that already exists.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Visibility(StrEnum):
    #: Only invited alumni see and answer it.
    INVITATION = "invitation"
    #: Alumni of the embassy's accredited countries see it and may answer.
    OPEN = "open"


class EventStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CANCELLED = "cancelled"


class Event(Model):
    id = fields.BigIntField(primary_key=True)
    embassy = fields.ForeignKeyField(
        "engage.Embassy", related_name="events", on_delete=fields.RESTRICT
    )
    #: Slug of the kind file it was created from, e.g. "reception".
    kind = fields.CharField(max_length=64)
    title = fields.CharField(max_length=200)
    #: Markdown source, rendered in the safe preset and sanitised when shown.
    description = fields.TextField(default="")
    venue = fields.CharField(max_length=200, default="")
    address = fields.TextField(default="")
    #: For webinars and hybrid events: the meeting link (https only).
    online_url = fields.CharField(max_length=500, default="")
    #: UTC instants. Entered and shown in ``timezone``.
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    #: IANA zone, copied from the embassy when the event is created.
    timezone = fields.CharField(max_length=64)
    #: Seats for invitees and their guests together, null means no limit.
    capacity = fields.IntField(null=True)
    #: Guests each invitee may bring, and whether they must be named (security list).
    guests_allowed = fields.SmallIntField(default=0)
    guests_named = fields.BooleanField(default=False)
    #: Answers are accepted until then (UTC), null means until the start.
    rsvp_deadline = fields.DatetimeField(null=True)
    #: RSVP questions: [{"id", "label", "type": "text|choice|yes_no", "required", "choices"}].
    questions = fields.JSONField(default=list)
    #: Reminder offsets copied from the kind: [{"before_minutes", "to": "unanswered|coming"}].
    reminders = fields.JSONField(default=list)
    dress_code = fields.CharField(max_length=200, default="")
    visibility = fields.CharEnumField(Visibility, max_length=16, default=Visibility.INVITATION)
    status = fields.CharEnumField(EventStatus, max_length=16, default=EventStatus.DRAFT)
    #: iCalendar UID (stable for the event's life) and SEQUENCE (raised on each
    #: change of time or place, and on cancellation).
    uid = fields.CharField(max_length=100, unique=True)
    sequence = fields.IntField(default=0)
    #: Seats taken by yes answers (invitees plus guests), kept under the event's row
    #: lock by the invitations service: the capacity rule reads this, not a count.
    seats_taken = fields.IntField(default=0)
    #: The attaché replies go to (Reply-To of invitations), or null for the creator.
    contact = fields.ForeignKeyField(
        "engage.User", related_name="contact_events", null=True, on_delete=fields.SET_NULL
    )
    created_by = fields.ForeignKeyField(
        "engage.User", related_name="created_events", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    published_at = fields.DatetimeField(null=True)
    cancelled_at = fields.DatetimeField(null=True)

    class Meta:
        table = "events_event"
        indexes = (("embassy_id", "starts_at"), ("status", "starts_at"))

    def __str__(self) -> str:
        return f"{self.title} ({self.id})"
