"""``/api/v1/segments``: saved audience filters (engage.alumni.segments).

::

    GET    /api/v1/segments                 the segments you may use (attachés: their
                                            embassies'; staff: all)
    POST   /api/v1/segments                 save a filter -> 201 (staff: global; an
                                            attaché: their embassy's)
    GET    /api/v1/segments/{id}            one segment (404 out of reach)
    PATCH  /api/v1/segments/{id}            rename it or change its filter
    DELETE /api/v1/segments/{id}            delete it
    GET    /api/v1/segments/{id}/count      how many people it holds for you now
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, RootModel
from starlette.requests import Request

from engage.alumni import segments
from engage.alumni.audience import AudienceFilter
from engage.alumni.models import Segment
from engage.api.endpoint import endpoint
from engage.web.identity import client_ip
from engage.web.identity import current_actor as _actor
from engage.web.routing import Access


class SegmentOut(BaseModel):
    id: int
    name: str = Field(examples=["Air force, OF-4 and above"])
    filters: AudienceFilter = Field(description="The audience filter, as GET /api/v1/alumni.")
    embassy: str | None = Field(
        description="The embassy whose attachés share it (code); null for a staff segment.",
        examples=["NBO"],
    )
    owner: str | None = Field(description="Email of the account that saved it.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, segment: Segment) -> SegmentOut:
        return cls(
            id=segment.id,
            name=segment.name,
            filters=AudienceFilter.model_validate(segment.filters or {}),
            embassy=segment.embassy.code if segment.embassy_id else None,  # type: ignore[attr-defined]
            owner=segment.owner.email if segment.owner_id else None,  # type: ignore[attr-defined]
            created_at=segment.created_at,
            updated_at=segment.updated_at,
        )


class SegmentList(RootModel[list[SegmentOut]]):
    """Segments, by name."""


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=120, examples=["Air force, OF-4 and above"])
    filters: AudienceFilter = Field(default_factory=AudienceFilter)
    embassy: str | None = Field(
        default=None,
        description="An attaché with several embassies says whose segment it is (code); "
        "otherwise the filter's embassy or their only one. Ignored for staff.",
    )


class SegmentChanges(BaseModel):
    """Only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=120)
    filters: AudienceFilter | None = None


class SegmentCount(BaseModel):
    id: int
    count: int = Field(description="People in the segment, within your scope, now.")


@endpoint("GET", "/segments", response=SegmentList, tag="segments", access=Access.ATTACHE)
async def list_segments(request: Request) -> SegmentList:
    """The saved segments you may use."""
    found = await segments.list_segments(actor=await _actor(request))
    return SegmentList([SegmentOut.of(s) for s in found])


@endpoint(
    "POST",
    "/segments",
    response=SegmentOut,
    body=SegmentIn,
    status=201,
    tag="segments",
    access=Access.ATTACHE,
    errors=(404, 409),
)
async def create_segment(request: Request, body: SegmentIn) -> SegmentOut:
    """Save an audience filter as a named segment."""
    segment = await segments.create_segment(
        body.name,
        body.filters,
        actor=await _actor(request),
        embassy=body.embassy or "",
        ip=client_ip(request),
    )
    return SegmentOut.of(segment)


@endpoint("GET", "/segments/{id}", response=SegmentOut, tag="segments", access=Access.ATTACHE)
async def get_segment(request: Request) -> SegmentOut:
    """One saved segment."""
    return SegmentOut.of(
        await segments.get_segment(request.path_params["id"], actor=await _actor(request))
    )


@endpoint(
    "PATCH",
    "/segments/{id}",
    response=SegmentOut,
    body=SegmentChanges,
    tag="segments",
    access=Access.ATTACHE,
    errors=(409,),
)
async def update_segment(request: Request, body: SegmentChanges) -> SegmentOut:
    """Rename a segment or change its filter."""
    segment = await segments.update_segment(
        request.path_params["id"],
        name=body.name,
        flt=body.filters,
        actor=await _actor(request),
        ip=client_ip(request),
    )
    return SegmentOut.of(segment)


@endpoint("DELETE", "/segments/{id}", response=None, tag="segments", access=Access.ATTACHE)
async def delete_segment(request: Request) -> None:
    """Delete a segment (nobody's data changes)."""
    await segments.delete_segment(
        request.path_params["id"], actor=await _actor(request), ip=client_ip(request)
    )


@endpoint(
    "GET", "/segments/{id}/count", response=SegmentCount, tag="segments", access=Access.ATTACHE
)
async def count_segment(request: Request) -> SegmentCount:
    """How many people the segment holds for you now (a SQL COUNT)."""
    actor = await _actor(request)
    segment = await segments.get_segment(request.path_params["id"], actor=actor)
    return SegmentCount(id=segment.id, count=await segments.segment_count(segment.id, actor=actor))
