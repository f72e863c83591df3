"""``GET /api/v1/meta``: what this installation is (name, programme, funding types)."""

from __future__ import annotations

from importlib.metadata import version

from pydantic import BaseModel, Field
from starlette.requests import Request

from engage.api.endpoint import endpoint
from engage.web.routing import Access


class MetaOut(BaseModel):
    name: str = Field(description="The site's name.")
    version: str = Field(description="Engage's version.")
    programme: str = Field(description="The training programme the association serves.")
    funding_types: list[str] = Field(description="How a training place may be funded.")
    api_version: str = "v1"


@endpoint("GET", "/meta", response=MetaOut, tag="meta", access=Access.PUBLIC)
async def get_meta(request: Request) -> MetaOut:
    """About this installation."""
    settings = request.app.state.settings
    return MetaOut(
        name=settings.app.site_name,
        version=version("engage"),
        programme=settings.programme.name,
        funding_types=list(settings.programme.funding_types),
    )
