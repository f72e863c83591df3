"""Verifying a secondary email address: it is used only once its owner confirms it.

Setting or changing the secondary address bumps ``secondary_version`` and queues a
link (derived, DESIGN.md) to that address; following it confirms the address, once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F

from engage.accounts.audit import record
from engage.accounts.models import User
from engage.alumni.models import Alumnus
from engage.errors import NotFound
from engage.i18n import _
from engage.mail.models import Category, OutboxMessage
from engage.mail.outbox import enqueue
from engage.mail.render import RenderError, register_context
from engage.settings import Settings
from engage.tokens import make_token, read_token

PURPOSE = "verify-secondary"
PATH = "/profile/secondary-email/"


class InvalidSecondaryLink(NotFound):
    """Forged, used, or for an address that changed since: one answer for all."""


async def queue_secondary_verification(
    alumnus: Alumnus, *, now: datetime, using_db: BaseDBAsyncClient | None = None
) -> None:
    """Send the confirmation link for the alumnus's (new) secondary address."""
    if not alumnus.secondary_email:
        return
    await enqueue(
        "verify_secondary_email",
        to=alumnus.secondary_email,
        to_name=alumnus.preferred_name or alumnus.given_name,
        category=Category.TRANSACTIONAL,
        dedupe_key=f"secondary:{alumnus.id}:{alumnus.secondary_version}",
        context={"alumnus": alumnus.id, "version": alumnus.secondary_version},
        recipient=("alumnus", alumnus.id),
        now=now,
        using_db=using_db,
    )


@register_context("verify_secondary_email")
async def _link(row: OutboxMessage, settings: Settings) -> dict[str, Any]:
    if "alumnus" not in row.context:
        return {"link": f"{settings.app.base_url}{PATH}sample"}
    alumnus = await Alumnus.get_or_none(id=int(row.context["alumnus"]))
    if alumnus is None:
        raise RenderError(f"verify_secondary_email: alumnus {row.context['alumnus']} is gone")
    token = make_token(settings.app.secret_key, PURPOSE, alumnus.id, int(row.context["version"]))
    return {"link": f"{settings.app.base_url}{PATH}{token}"}


async def check_secondary_link(token: str, *, settings: Settings) -> Alumnus:
    claim = read_token(settings.app.secret_key, PURPOSE, token)
    alumnus = await Alumnus.get_or_none(id=claim.id) if claim else None
    if (
        claim is None
        or alumnus is None
        or alumnus.secondary_version != claim.version
        or not alumnus.secondary_email
        or alumnus.secondary_verified_at is not None
        or alumnus.erased_at is not None
    ):
        raise InvalidSecondaryLink(_("This link is not valid."))
    return alumnus


async def confirm_secondary_email(token: str, *, settings: Settings, now: datetime) -> Alumnus:
    """Mark the secondary address verified; the link works once."""
    alumnus = await check_secondary_link(token, settings=settings)
    updated = await Alumnus.filter(
        id=alumnus.id, secondary_version=alumnus.secondary_version
    ).update(secondary_verified_at=now, secondary_version=F("secondary_version") + 1)
    if not updated:
        raise InvalidSecondaryLink(_("This link is not valid."))
    owner_id = alumnus.user_id  # type: ignore[attr-defined]
    owner = await User.get_or_none(id=owner_id) if owner_id else None
    await record("alumnus.secondary_verified", actor=owner, target=("alumnus", alumnus.id))
    await alumnus.refresh_from_db()
    return alumnus
