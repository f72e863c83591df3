"""``/api/v1/events/{id}/invitations`` and ``/api/v1/invitations``: inviting alumni to
an event and following their answers (engage.invitations.services).

::

    POST /api/v1/events/{id}/invitations     {"alumni_ids": [...]} | {"segment_id": N} |
                                             {"filter": {...}}, and optionally
                                             "override_suspension" (staff), "dry_run"
                                             -> {"invited": n, "skipped": {"reason": n},
                                             "total": n, "job": id}; the run goes to its
                                             end before the answer (in chunks)
    GET  /api/v1/events/{id}/invitations     ``status``, ``page``, ``page_size`` ->
                                             {"items", "total", "page", "page_size",
                                             "pages", "counts"}
    POST /api/v1/invitations/{id}/revoke     its link stops working; seats it held go to
                                             the waitlist

Attachés for their embassies' events (another embassy's is 404), staff for any. The
reasons in ``skipped`` are ``outside_scope``, ``already_invited`` and those of the
eligibility rule (``pending_identity``, ``merged_or_erased``, ``no_email``,
``no_consent``, ``do_not_engage``, ``deceased_or_left_service``,
``programme_suspended``, ``suppressed``); each is always present.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.requests import Request

from engage.alumni.audience import AudienceFilter
from engage.api.endpoint import endpoint
from engage.api.paging import Paged, PageQuery, paged
from engage.events.timefmt import to_local
from engage.invitations import services
from engage.invitations.jobs import MAX_PICKED
from engage.invitations.models import Invitation, InvitationStatus
from engage.web.identity import client_ip
from engage.web.identity import current_actor as _actor
from engage.web.routing import Access


class InviteIn(BaseModel):
    """Who to invite: exactly one of ``alumni_ids``, ``segment_id`` or ``filter``."""

    model_config = ConfigDict(extra="forbid")

    alumni_ids: list[int] | None = Field(
        default=None,
        max_length=MAX_PICKED,
        description="People picked by id (ids out of your scope are skipped).",
        examples=[[12, 57]],
    )
    segment_id: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="A saved segment (GET /api/v1/segments)."
    )
    filter: AudienceFilter | None = Field(
        default=None, description="The audience filter, as the parameters of GET /api/v1/alumni."
    )
    override_suspension: bool = Field(
        default=False,
        description="Staff only: invite alumni of suspended programmes too, this once "
        "(audit-logged).",
    )
    dry_run: bool = Field(default=False, description="Only count who would be invited and skipped.")

    def audience(self) -> dict[str, Any]:
        return {
            key: value
            for key, value in (
                ("alumni_ids", self.alumni_ids),
                ("segment_id", self.segment_id),
                ("filter", self.filter.to_json() if self.filter is not None else None),
            )
            if value is not None
        }


class RevokeIn(BaseModel):
    """Nothing to give (an empty object, or no body)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_body(cls, value: Any) -> Any:
        return {} if value is None else value


class InviteResult(BaseModel):
    invited: int = Field(description="Invitations made (with a dry run: that would be).")
    skipped: dict[str, int] = Field(
        description="People left out, by reason.", examples=[{"already_invited": 3}]
    )
    total: int = Field(description="Everyone the audience held.")
    job: int | None = Field(description="The run's id (null for a dry run).")


class InvitationOut(BaseModel):
    id: int
    alumnus_id: int
    name: str = Field(description="As the person writes it.", examples=["Amani Wanjiru"])
    status: InvitationStatus
    guests: int
    guest_names: list[str]
    answers: dict[str, Any] = Field(description="Answers to the event's questions, by id.")
    waitlist_position: int | None = Field(description="1 for the first in line; else null.")
    invited_at: datetime
    responded_at: datetime | None = Field(description="With the offset of the event's zone.")
    arrived_at: datetime | None

    @classmethod
    def of(cls, invitation: Invitation, tz: str) -> InvitationOut:
        person = invitation.alumnus
        return cls(
            id=invitation.id,
            alumnus_id=person.id,
            name=f"{person.given_name} {person.family_name}".strip(),
            status=InvitationStatus(invitation.status),
            guests=invitation.guests,
            guest_names=[str(n) for n in invitation.guest_names or []],
            answers=dict(invitation.answers or {}),
            waitlist_position=getattr(invitation, "waitlist_position", None),
            invited_at=_local(invitation.invited_at, tz),
            responded_at=_local(invitation.responded_at, tz),
            arrived_at=_local(invitation.arrived_at, tz),
        )


def _local(instant: datetime | None, tz: str) -> Any:
    return None if instant is None else to_local(instant, tz)


class InvitationCounts(BaseModel):
    invited: int = Field(description="Every invitation not revoked.")
    yes: int
    no: int
    maybe: int
    waitlisted: int
    not_answered: int
    revoked: int
    guests: int = Field(description="Guests of those coming.")
    seats_taken: int = Field(description="People coming and their guests.")
    attended: int = Field(default=0, description="Marked arrived at the door.")
    no_show: int = Field(default=0, description="Said yes, not arrived (once it started).")


class InvitationPage(Paged):
    items: list[InvitationOut]
    counts: InvitationCounts


class InvitationsQuery(PageQuery):
    status: InvitationStatus | None = None


@endpoint(
    "POST",
    "/events/{id}/invitations",
    response=InviteResult,
    body=InviteIn,
    tag="invitations",
    access=Access.ATTACHE,
    errors=(409,),
)
async def invite_alumni(request: Request, body: InviteIn) -> InviteResult:
    """Invite alumni to an event (a dry run only counts)."""
    actor = await _actor(request)
    event_id = request.path_params["id"]
    if body.dry_run:
        preview = await services.preview_invitations(
            actor, event_id, body.audience(), override_suspension=body.override_suspension
        )
        return InviteResult(
            invited=preview.invite, skipped=preview.skipped, total=preview.total, job=None
        )
    job = await services.invite(
        actor,
        event_id,
        body.audience(),
        override_suspension=body.override_suspension,
        ip=client_ip(request),
    )
    return InviteResult(
        invited=job.invited, skipped=services.job_skipped(job), total=job.total, job=job.id
    )


@endpoint(
    "GET",
    "/events/{id}/invitations",
    response=InvitationPage,
    query=InvitationsQuery,
    tag="invitations",
    access=Access.ATTACHE,
)
async def list_invitations(request: Request, query: InvitationsQuery) -> InvitationPage:
    """An event's invitations with their answers, a page at a time, and the counts."""
    actor = await _actor(request)
    event_id = request.path_params["id"]
    counts = await services.invitation_counts(actor, event_id)
    total = await services.count_invitations(actor, event_id, status=query.status)
    found = await services.list_invitations(
        actor,
        event_id,
        status=query.status,
        limit=query.page_size,
        offset=query.offset,
    )
    return InvitationPage(
        items=[InvitationOut.of(i, i.event.timezone) for i in found],
        **paged(total, query),
        counts=InvitationCounts(**counts),
    )


@endpoint(
    "POST",
    "/invitations/{id}/revoke",
    response=InvitationOut,
    body=RevokeIn,
    tag="invitations",
    access=Access.ATTACHE,
)
async def revoke_invitation(request: Request, body: RevokeIn) -> InvitationOut:
    """Revoke an invitation: its link stops working at once."""
    invitation = await services.revoke_invitation(
        await _actor(request), request.path_params["id"], ip=client_ip(request)
    )
    await invitation.fetch_related("alumnus")
    return InvitationOut.of(invitation, invitation.event.timezone)
