"""Invitations to events, the answers given through personal links, and attendance.

One invitation per alumnus per event (a unique constraint). The RSVP link carries a
token derived from the invitation id and ``token_version`` (DESIGN.md); revoking
bumps the version so the link stops working at once.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class InvitationStatus(StrEnum):
    INVITED = "invited"
    YES = "yes"
    NO = "no"
    MAYBE = "maybe"
    #: Said yes when the event was full: waits for a seat, in answer order.
    WAITLISTED = "waitlisted"
    REVOKED = "revoked"


class InvitationSource(StrEnum):
    #: Invited by an attaché or staff member.
    INVITED = "invited"
    #: Answered an open event without an invitation.
    OPEN = "open"
    #: Added at the door.
    WALK_IN = "walk_in"


class JobStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Invitation(Model):
    id = fields.BigIntField(primary_key=True)
    event = fields.ForeignKeyField(
        "engage.Event", related_name="invitations", on_delete=fields.CASCADE
    )
    alumnus = fields.ForeignKeyField(
        "engage.Alumnus", related_name="invitations", on_delete=fields.CASCADE
    )
    status = fields.CharEnumField(InvitationStatus, max_length=16, default=InvitationStatus.INVITED)
    source = fields.CharEnumField(InvitationSource, max_length=16, default=InvitationSource.INVITED)
    #: Guests the invitee brings (counted in the capacity), and their names when the
    #: event's kind requires named guests.
    guests = fields.SmallIntField(default=0)
    guest_names = fields.JSONField(default=list)
    #: Answers to the event's questions, by question id.
    answers = fields.JSONField(default=dict)
    #: When the current answer was given (the waitlist is ordered by it, then id).
    responded_at = fields.DatetimeField(null=True)
    #: When a yes joined the waitlist, and when a seat was given to it.
    waitlisted_at = fields.DatetimeField(null=True)
    promoted_at = fields.DatetimeField(null=True)
    #: Link-token version for the RSVP link: bumping it revokes the link.
    token_version = fields.IntField(default=1)
    invited_by = fields.ForeignKeyField(
        "engage.User", related_name="sent_invitations", null=True, on_delete=fields.SET_NULL
    )
    invited_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)
    #: Attendance: when the person arrived and who marked it.
    arrived_at = fields.DatetimeField(null=True)
    arrived_by = fields.ForeignKeyField(
        "engage.User", related_name="checked_in", null=True, on_delete=fields.SET_NULL
    )

    class Meta:
        table = "invitations_invitation"
        unique_together = (("event", "alumnus"),)
        indexes = (
            ("event_id", "status", "waitlisted_at", "id"),
            ("alumnus_id", "event_id"),
        )

    def __str__(self) -> str:
        return f"Invitation({self.id}, event {self.event_id}, {self.status})"  # type: ignore[attr-defined]


class InviteJob(Model):
    """A bulk invitation run: the audience is walked in id order, in chunks, with a
    checkpoint, so a run interrupted by a restart resumes where it stopped."""

    id = fields.BigIntField(primary_key=True)
    event = fields.ForeignKeyField(
        "engage.Event", related_name="invite_jobs", on_delete=fields.CASCADE
    )
    created_by = fields.ForeignKeyField(
        "engage.User", related_name="invite_jobs", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    #: {"alumni_ids": [...]} or {"segment_id": N} or {"filter": {...}}.
    audience = fields.JSONField()
    #: Staff chose to invite alumni of suspended programmes for this run (audit-logged).
    override_suspension = fields.BooleanField(default=False)
    status = fields.CharEnumField(JobStatus, max_length=16, default=JobStatus.RUNNING)
    #: Audience size when the run started, and the last alumnus id handled.
    total = fields.IntField(default=0)
    checkpoint = fields.BigIntField(default=0)
    invited = fields.IntField(default=0)
    #: {"reason": count}
    skipped = fields.JSONField(default=dict)
    error = fields.TextField(default="")
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "invitations_invitejob"
        indexes = (("event_id", "created_at"),)


class InviteeMessage(Model):
    """A message an attaché writes to some of an event's invitees (chosen by status),
    e.g. a thank-you or a survey afterwards. Sent through the outbox as bulk mail,
    rendered at send time from this row."""

    id = fields.BigIntField(primary_key=True)
    event = fields.ForeignKeyField(
        "engage.Event", related_name="messages", on_delete=fields.CASCADE
    )
    subject = fields.CharField(max_length=200)
    #: Markdown, rendered safe at send time.
    body = fields.TextField()
    #: Who it goes to: ["not_answered", "coming", "maybe", "waitlisted", "declined",
    #: "attended", "no_show"].
    statuses = fields.JSONField(default=list)
    created_by = fields.ForeignKeyField(
        "engage.User", related_name="invitee_messages", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    #: How many outbox rows were written, and who was left out and why ({"reason": n}).
    recipients = fields.IntField(default=0)
    skipped = fields.JSONField(default=dict)

    class Meta:
        table = "invitations_message"
        indexes = (("event_id", "created_at"),)
