"""``/api/v1/countries`` and ``/api/v1/embassies``: the places of the programme.

::

    GET   /api/v1/countries                 anyone signed in (or a token)
    GET   /api/v1/embassies                 staff, admins; attachés get their own
    POST  /api/v1/embassies                 staff, admins  -> 201
    GET   /api/v1/embassies/{code}          attachés only their own (404 otherwise)
    PATCH /api/v1/embassies/{code}          staff, admins; only the fields sent change
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, RootModel
from starlette.requests import Request

from engage.api.endpoint import endpoint
from engage.places import services
from engage.places.models import Country, ProgrammeStatus
from engage.web.identity import client_ip
from engage.web.identity import current_actor as _actor
from engage.web.routing import Access


class CountryOut(BaseModel):
    code: str = Field(description="ISO 3166-1 alpha-2 code.", examples=["KE"])
    alpha3: str = Field(description="ISO 3166-1 alpha-3 code.", examples=["KEN"])
    name: str = Field(examples=["Kenya"])
    region: str = Field(description="UN M49 sub-region.", examples=["Eastern Africa"])
    continent: str = Field(description="UN M49 region.", examples=["Africa"])
    programme_status: ProgrammeStatus
    status_changed_at: datetime | None = Field(
        default=None, description="When the programme status last changed."
    )

    @classmethod
    def of(cls, country: Country) -> CountryOut:
        return cls(
            code=country.code,
            alpha3=country.alpha3,
            name=country.name,
            region=country.region,
            continent=country.continent,
            programme_status=ProgrammeStatus(country.programme_status),
            status_changed_at=country.status_changed_at,
        )


class CountryList(RootModel[list[CountryOut]]):
    """Countries, by name."""


class CountryQuery(BaseModel):
    region: str | None = Field(default=None, description='Only this sub-region ("Eastern Africa").')
    programme_status: ProgrammeStatus | None = Field(
        default=None, description="Only countries with this programme status."
    )


class EmbassyOut(BaseModel):
    code: str = Field(examples=["NBO"])
    name: str = Field(examples=["Embassy in Nairobi"])
    country: str = Field(description="Home country (ISO alpha-2).", examples=["KE"])
    city: str = Field(examples=["Nairobi"])
    timezone: str = Field(description="IANA time zone.", examples=["Africa/Nairobi"])
    accredited: list[str] = Field(
        description="Countries the embassy covers (ISO alpha-2), the home country included.",
        examples=[["KE", "SO"]],
    )

    @classmethod
    def of(cls, view: services.EmbassyView) -> EmbassyOut:
        return cls(
            code=view.code,
            name=view.name,
            country=view.country.code,
            city=view.city,
            timezone=view.timezone,
            accredited=view.accredited_codes,
        )


class EmbassyList(RootModel[list[EmbassyOut]]):
    """Embassies, by code."""


_CODE = "2 to 16 capital letters, digits or hyphens."


class EmbassyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description=_CODE, examples=["NBO"])
    name: str = Field(examples=["Embassy in Nairobi"])
    country: str = Field(description="Home country (ISO alpha-2).", examples=["KE"])
    city: str = Field(examples=["Nairobi"])
    timezone: str = Field(description="IANA time zone.", examples=["Africa/Nairobi"])
    accredited: list[str] | None = Field(
        default=None,
        description="Countries covered (ISO alpha-2); defaults to the home country, "
        "which is always included.",
        examples=[["KE", "SO"]],
    )


class EmbassyChanges(BaseModel):
    """Only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    code: str | None = Field(default=None, description=_CODE)
    name: str | None = None
    country: str | None = None
    city: str | None = None
    timezone: str | None = None
    accredited: list[str] | None = Field(
        default=None, description="Replaces the list; the home country is always included."
    )


@endpoint(
    "GET", "/countries", response=CountryList, query=CountryQuery, tag="places", access=Access.TOKEN
)
async def list_countries(request: Request, query: CountryQuery) -> CountryList:
    """List countries with their region and programme status."""
    countries = await services.list_countries(
        actor=await _actor(request), region=query.region, status=query.programme_status
    )
    return CountryList([CountryOut.of(c) for c in countries])


@endpoint("GET", "/embassies", response=EmbassyList, tag="places", access=Access.ATTACHE)
async def list_embassies(request: Request) -> EmbassyList:
    """List the embassies the caller may see."""
    embassies = await services.list_embassies(actor=await _actor(request))
    return EmbassyList([EmbassyOut.of(e) for e in embassies])


@endpoint(
    "POST",
    "/embassies",
    response=EmbassyOut,
    body=EmbassyIn,
    status=201,
    tag="places",
    access=Access.STAFF,
    errors=(409,),
)
async def create_embassy(request: Request, body: EmbassyIn) -> EmbassyOut:
    """Create an embassy."""
    view = await services.create_embassy(
        body.model_dump(), actor=await _actor(request), ip=client_ip(request)
    )
    return EmbassyOut.of(view)


@endpoint("GET", "/embassies/{code}", response=EmbassyOut, tag="places", access=Access.ATTACHE)
async def get_embassy(request: Request) -> EmbassyOut:
    """One embassy."""
    view = await services.get_embassy(request.path_params["code"], actor=await _actor(request))
    return EmbassyOut.of(view)


@endpoint(
    "PATCH",
    "/embassies/{code}",
    response=EmbassyOut,
    body=EmbassyChanges,
    tag="places",
    access=Access.STAFF,
    errors=(409,),
)
async def update_embassy(request: Request, body: EmbassyChanges) -> EmbassyOut:
    """Change some fields of an embassy."""
    view = await services.update_embassy(
        request.path_params["code"],
        body.model_dump(exclude_unset=True),
        actor=await _actor(request),
        ip=client_ip(request),
    )
    return EmbassyOut.of(view)
