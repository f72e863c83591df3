"""``GET /api/v1/me``: who the caller is (a personal API token or a session)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from starlette.requests import Request

from engage.accounts.profile import account_summary
from engage.api.endpoint import endpoint
from engage.web.identity import identify
from engage.web.routing import Access


class MeOut(BaseModel):
    id: int
    email: str = Field(description="The account's address, as typed.")
    role: str = Field(description="alumnus, attache, staff or admin.")
    email_verified: bool
    timezone: str = Field(description="IANA time zone, e.g. Africa/Nairobi.")
    language: str = Field(description="Preferred language code, e.g. en.")
    embassies: list[str] = Field(description="Codes of the embassies an attaché works for.")
    two_factor_enabled: bool


@endpoint("GET", "/me", response=MeOut, tag="accounts", access=Access.TOKEN)
async def get_me(request: Request) -> MeOut:
    """The caller's own account."""
    identity = await identify(request)
    assert identity.actor is not None  # the TOKEN class admits only signed-in callers
    summary = await account_summary(identity.actor.user)
    user = summary.user
    return MeOut(
        id=user.id,
        email=user.email,
        role=str(user.role),
        email_verified=summary.email_verified,
        timezone=user.timezone,
        language=user.language,
        embassies=summary.embassies,
        two_factor_enabled=summary.two_factor_enabled,
    )
