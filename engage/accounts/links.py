"""Links in account emails (verify, reset, invite): derived at send time, used once.

A link carries ``engage.tokens.make_token(secret, purpose, user.id, version)``; the
user row keeps only the version (``verify_version`` or ``reset_version``) and, for
reset and invitation links, ``reset_expires_at``. Following a link checks the MAC,
the version and the expiry, and the action bumps the version in the same
conditional update, so a link works once even when two tabs race::

    user = await user_from_link("reset", token, settings=settings, now=now)
    ...  # then: consume(user, "reset_version", claim_version, ...)

Every failure (forged, unknown, used, expired, deactivated) is one error,
:class:`InvalidLink`, and one page: a stranger learns nothing from the difference.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from tortoise.expressions import F

from engage.accounts.models import User
from engage.errors import NotFound
from engage.i18n import _
from engage.settings import Settings
from engage.tokens import make_token, read_token

Purpose = Literal["verify", "reset", "invite"]

#: The user field holding each purpose's version.
VERSION_FIELD: dict[str, str] = {
    "verify": "verify_version",
    "reset": "reset_version",
    "invite": "reset_version",
}
#: The page each purpose's link opens.
PATHS: dict[str, str] = {
    "verify": "/verify/",
    "reset": "/password/reset/",
    "invite": "/invite/",
}


class InvalidLink(NotFound):
    """The link is forged, unknown, already used, expired or its account is closed."""

    def __init__(self) -> None:
        super().__init__(_("This link is not valid."))


def link_url(settings: Settings, purpose: Purpose, user_id: int, version: int) -> str:
    """The absolute address a ``purpose`` email links to."""
    token = make_token(settings.app.secret_key, purpose, user_id, version)
    return f"{settings.app.base_url}{PATHS[purpose]}{token}"


async def user_from_link(
    purpose: Purpose, token: str, *, settings: Settings, now: datetime
) -> tuple[User, int]:
    """The account a live link names, and the version it carries (raises InvalidLink)."""
    claim = read_token(settings.app.secret_key, purpose, token)
    if claim is None:
        raise InvalidLink()
    user = await User.get_or_none(id=claim.id)
    if user is None or not user.is_active:
        raise InvalidLink()
    if getattr(user, VERSION_FIELD[purpose]) != claim.version:
        raise InvalidLink()
    if purpose in ("reset", "invite") and (
        user.reset_expires_at is None or now >= user.reset_expires_at
    ):
        raise InvalidLink()
    if purpose == "invite" and user.password_hash is not None:
        raise InvalidLink()
    return user, claim.version


async def consume(purpose: Purpose, user: User, version: int, **changes: Any) -> None:
    """Apply ``changes`` and bump the version, only if the link is still unused.

    One conditional UPDATE: of two concurrent uses, exactly one wins; the loser gets
    :class:`InvalidLink`.
    """
    field = VERSION_FIELD[purpose]
    updated = await User.filter(id=user.id, **{field: version}, is_active=True).update(
        **{field: F(field) + 1}, **changes
    )
    if not updated:
        raise InvalidLink()
