"""Personal API tokens: shown once, stored as a SHA-256, revocable.

Usage::

    raw, token = await create_api_token(user, name="reporting script")
    user = await authenticate_token(raw)      # None when unknown or revoked
"""

from __future__ import annotations

import secrets
from datetime import datetime

from engage.accounts.audit import record
from engage.accounts.models import ApiToken, User
from engage.clock import utcnow
from engage.errors import InvalidInput, NotFound
from engage.i18n import _
from engage.tokens import hash_secret

PREFIX = "eng_"


async def create_api_token(
    user: User, *, name: str, now: datetime | None = None
) -> tuple[str, ApiToken]:
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput(
            _("Give the token a name (up to 100 characters)."), fields={"name": _("Required.")}
        )
    raw = PREFIX + secrets.token_urlsafe(32)
    token = await ApiToken.create(
        user=user,
        name=name,
        token_hash=hash_secret(raw),
        prefix=raw[:12],
        created_at=now or utcnow(),
    )
    await record("token.create", actor=user, target=("api_token", token.id))
    return raw, token


async def authenticate_token(raw: str, *, now: datetime | None = None) -> User | None:
    if not raw.startswith(PREFIX) or len(raw) > 100:
        return None
    token = (
        await ApiToken.filter(token_hash=hash_secret(raw), revoked_at__isnull=True)
        .select_related("user")
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = now or utcnow()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        await ApiToken.filter(id=token.id).update(last_used_at=now)
    return token.user


async def list_api_tokens(user: User) -> list[ApiToken]:
    return await ApiToken.filter(user_id=user.id, revoked_at__isnull=True).order_by("-created_at")


async def revoke_api_token(user: User, token_id: int, *, now: datetime | None = None) -> None:
    updated = await ApiToken.filter(id=token_id, user_id=user.id, revoked_at__isnull=True).update(
        revoked_at=now or utcnow()
    )
    if not updated:
        raise NotFound(_("No such token."))
    await record("token.revoke", actor=user, target=("api_token", token_id))
