"""``/api/v1/events``: events at embassies (engage.events.services).

::

    GET    /api/v1/events                  the events you may see: attachés their
                                           embassies', staff all, alumni the published
                                           ones open to them or they are invited to;
                                           ``when`` (upcoming, past, all), ``embassy``
                                           (a code), ``status``, ``page``, ``page_size``
                                           -> {"items", "total", "page", "page_size", "pages"}
    POST   /api/v1/events                  attachés (their embassies, else 403), staff -> 201
    GET    /api/v1/events/{id}             404 out of reach
    PATCH  /api/v1/events/{id}             only the fields sent change; 409 once cancelled
    POST   /api/v1/events/{id}/publish     a draft becomes visible
    POST   /api/v1/events/{id}/cancel      final; invitees are told

Times go in as the embassy's local wall time without an offset
(``"2026-03-27T18:00"``; a time with an offset is converted) and come out in ISO 8601
with the offset of the event's zone at that instant (``"2026-03-27T18:00:00+02:00"``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.requests import Request

from engage.api.endpoint import endpoint
from engage.api.paging import Paged, PageQuery, paged
from engage.events import services
from engage.events.models import Event, EventStatus, Visibility
from engage.events.timefmt import to_local
from engage.markdown import render_markdown
from engage.web.identity import client_ip
from engage.web.identity import current_actor as _actor
from engage.web.routing import Access

_LOCAL_TIME = "Local wall time in the embassy's zone, without an offset (an offset is converted)."


class QuestionData(BaseModel):
    """An RSVP question."""

    id: str = Field(examples=["dietary"])
    label: str = Field(examples=["Dietary requirements"])
    type: Literal["text", "choice", "yes_no"]
    required: bool = False
    choices: list[str] = Field(default_factory=list, description="For type choice.")


class EventOut(BaseModel):
    id: int
    embassy: str = Field(description="The embassy's code.", examples=["RIX"])
    kind: str = Field(description="The kind it was created as.", examples=["reception"])
    title: str
    description: str = Field(description="Markdown, as written.")
    description_html: str = Field(description="The description as safe HTML.")
    venue: str
    address: str
    online_url: str
    starts_at: datetime = Field(
        description="With the offset of the event's zone.", examples=["2026-03-27T18:00:00+02:00"]
    )
    ends_at: datetime
    timezone: str = Field(description="IANA zone of the embassy.", examples=["Europe/Riga"])
    capacity: int | None = Field(description="Seats for invitees and guests; null: no limit.")
    seats_taken: int
    guests_allowed: int
    guests_named: bool
    rsvp_deadline: datetime | None = Field(description="Null: answers until the start.")
    questions: list[QuestionData]
    dress_code: str
    visibility: Visibility
    status: EventStatus
    sequence: int = Field(description="Calendar SEQUENCE: raised on each change of time or place.")
    contact: str | None = Field(description="Email address replies to invitations go to.")
    published_at: datetime | None
    cancelled_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, event: Event) -> EventOut:
        tz = event.timezone
        return cls(
            id=event.id,
            embassy=event.embassy.code,
            kind=event.kind,
            title=event.title,
            description=event.description,
            description_html=render_markdown(event.description),
            venue=event.venue,
            address=event.address,
            online_url=event.online_url,
            starts_at=to_local(event.starts_at, tz),
            ends_at=to_local(event.ends_at, tz),
            timezone=tz,
            capacity=event.capacity,
            seats_taken=event.seats_taken,
            guests_allowed=event.guests_allowed,
            guests_named=event.guests_named,
            rsvp_deadline=to_local(event.rsvp_deadline, tz) if event.rsvp_deadline else None,
            questions=[QuestionData.model_validate(q) for q in event.questions or []],
            dress_code=event.dress_code,
            visibility=Visibility(event.visibility),
            status=EventStatus(event.status),
            sequence=event.sequence,
            contact=event.contact.email if event.contact_id else None,  # type: ignore[attr-defined]
            published_at=event.published_at,
            cancelled_at=event.cancelled_at,
            created_at=event.created_at,
            updated_at=event.updated_at,
        )


class EventPage(Paged):
    items: list[EventOut]


class EventsQuery(PageQuery):
    when: Literal["upcoming", "past", "all"] = Field(
        default="upcoming",
        description="upcoming (until they end, soonest first), past or all (latest first).",
    )
    embassy: str | None = Field(default=None, description="Only this embassy (code).")
    status: EventStatus | None = None


class _EventFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, description="Markdown.")
    venue: str | None = None
    address: str | None = None
    online_url: str | None = Field(default=None, description="https only; empty for none.")
    starts_at: datetime | None = Field(
        default=None, description=_LOCAL_TIME, examples=["2026-03-27T18:00"]
    )
    ends_at: datetime | None = Field(
        default=None, description=_LOCAL_TIME + " Default: the start plus the kind's duration."
    )
    capacity: int | None = Field(default=None, description="Null: no limit.")
    guests_allowed: int | None = Field(default=None, ge=0, le=10)
    guests_named: bool | None = None
    rsvp_deadline: datetime | None = Field(
        default=None, description=_LOCAL_TIME + " Null: answers until the start."
    )
    questions: list[QuestionData] | None = Field(
        default=None, description="The event's RSVP questions (at creation: the kind's)."
    )
    dress_code: str | None = None
    visibility: Visibility | None = None
    contact: str | None = Field(
        default=None,
        description="Email of an attaché of the embassy or a staff member who gets the "
        "replies; null: the creator.",
    )


class EventIn(_EventFields):
    """A new event. What is left out comes from the kind (``events/<kind>.toml``)."""

    embassy: str | None = Field(
        default=None, description="The embassy's code (an attaché of one embassy may omit it)."
    )
    kind: str = Field(examples=["reception"])
    title: str = Field(max_length=200)
    starts_at: datetime = Field(description=_LOCAL_TIME, examples=["2026-03-27T18:00"])
    status: Literal["draft", "published"] = "draft"


class EventChanges(_EventFields):
    """Only the fields sent change. A new start without an end keeps the length."""


class PublishIn(BaseModel):
    """Nothing to give (an empty object, or no body)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_body(cls, value: Any) -> Any:
        return {} if value is None else value


class CancelIn(PublishIn):
    """Why, optionally (an empty object, or no body)."""

    reason: str = Field(default="", max_length=1000, description="Kept in the audit log.")


def _input(body: BaseModel) -> dict[str, Any]:
    data = body.model_dump(exclude_unset=True)
    if "questions" in data and data["questions"] is not None:
        data["questions"] = [dict(q) for q in data["questions"]]
    return data


@endpoint(
    "GET", "/events", response=EventPage, query=EventsQuery, tag="events", access=Access.TOKEN
)
async def list_events(request: Request, query: EventsQuery) -> EventPage:
    """The events you may see, a page at a time."""
    actor = await _actor(request)
    options: dict[str, Any] = {"when": query.when, "embassy": query.embassy, "status": query.status}
    total = await services.count_events(actor, **options)
    found = await services.list_events(actor, **options, limit=query.page_size, offset=query.offset)
    return EventPage(
        items=[EventOut.of(event) for event in found],
        **paged(total, query),
    )


@endpoint(
    "POST",
    "/events",
    response=EventOut,
    body=EventIn,
    status=201,
    tag="events",
    access=Access.ATTACHE,
)
async def create_event(request: Request, body: EventIn) -> EventOut:
    """Create an event at one of your embassies."""
    event = await services.create_event(
        await _actor(request),
        _input(body),
        settings=request.app.state.settings,
        ip=client_ip(request),
    )
    return EventOut.of(event)


@endpoint("GET", "/events/{id}", response=EventOut, tag="events", access=Access.TOKEN)
async def get_event(request: Request) -> EventOut:
    """One event."""
    return EventOut.of(await services.get_event(await _actor(request), request.path_params["id"]))


@endpoint(
    "PATCH",
    "/events/{id}",
    response=EventOut,
    body=EventChanges,
    tag="events",
    access=Access.ATTACHE,
    errors=(409,),
)
async def update_event(request: Request, body: EventChanges) -> EventOut:
    """Change some fields of an event."""
    event = await services.update_event(
        await _actor(request), request.path_params["id"], _input(body), ip=client_ip(request)
    )
    return EventOut.of(event)


@endpoint(
    "POST",
    "/events/{id}/publish",
    response=EventOut,
    body=PublishIn,
    tag="events",
    access=Access.ATTACHE,
    errors=(409,),
)
async def publish_event(request: Request, body: PublishIn) -> EventOut:
    """Publish a draft event."""
    event = await services.publish_event(
        await _actor(request), request.path_params["id"], ip=client_ip(request)
    )
    return EventOut.of(event)


@endpoint(
    "POST",
    "/events/{id}/cancel",
    response=EventOut,
    body=CancelIn,
    tag="events",
    access=Access.ATTACHE,
    errors=(409,),
)
async def cancel_event(request: Request, body: CancelIn) -> EventOut:
    """Cancel an event (final)."""
    event = await services.cancel_event(
        await _actor(request), request.path_params["id"], reason=body.reason, ip=client_ip(request)
    )
    return EventOut.of(event)
