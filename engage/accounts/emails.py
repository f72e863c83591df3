"""What account emails need at send time: their links, derived from the pinned version.

The outbox row holds the user id and the link's version, never the token. The
token is derived here; if the version moved on since (a newer link was asked
for, or this one was used) the email still goes out, and its link is simply dead.

A row without a user id (a preview, the template check) renders with a sample
link that works nowhere.
"""

from __future__ import annotations

from typing import Any

from engage.accounts.links import PATHS, Purpose, link_url
from engage.accounts.models import User
from engage.mail.models import OutboxMessage
from engage.mail.render import RenderError, register_context
from engage.settings import Settings


def _sample(row: OutboxMessage) -> bool:
    return "user" not in row.context


def _link(row: OutboxMessage, settings: Settings, purpose: Purpose) -> str:
    if _sample(row):
        return f"{settings.app.base_url}{PATHS[purpose]}sample"
    return link_url(settings, purpose, int(row.context["user"]), int(row.context["version"]))


async def _user(row: OutboxMessage) -> User:
    user = await User.get_or_none(id=int(row.context["user"]))
    if user is None:
        raise RenderError(f"{row.template}: user {row.context['user']} no longer exists")
    return user


@register_context("verify_email")
async def _verify(row: OutboxMessage, settings: Settings) -> dict[str, Any]:
    return {"link": _link(row, settings, "verify"), "change": bool(row.context.get("change"))}


@register_context("password_reset")
async def _reset(row: OutboxMessage, settings: Settings) -> dict[str, Any]:
    return {"link": _link(row, settings, "reset"), "hours": settings.security.reset_link_hours}


@register_context("account_invite")
async def _invite(row: OutboxMessage, settings: Settings) -> dict[str, Any]:
    return {
        "link": _link(row, settings, "invite"),
        "hours": settings.security.invite_link_hours,
        "role": str(row.context.get("role", "")),
    }


@register_context("account_exists")
async def _exists(row: OutboxMessage, settings: Settings) -> dict[str, Any]:
    if _sample(row):
        return {"verified": True}
    user = await _user(row)
    return {"verified": user.email_verified_at is not None}


@register_context("email_change_notice")
async def _change_notice(row: OutboxMessage, settings: Settings) -> dict[str, Any]:
    return {"new_email": str(row.context.get("new_email", "new.address@example.org"))}
