"""Server-side sessions: a random key in the cookie, its SHA-256 in the database.

Idle and absolute timeouts; a new key at sign-in and on privilege change; a bump
of the user's ``session_version`` (password change, "sign out everywhere") ends all
sessions from before.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from engage.accounts.models import Session, User
from engage.settings import SecuritySettings
from engage.tokens import hash_secret

#: last_seen_at is written at most this often (not on every request).
_TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class OpenSession:
    key: str
    session: Session


async def create_session(
    user: User,
    *,
    mfa_passed: bool,
    ip: str,
    user_agent: str,
    now: datetime,
    security: SecuritySettings,
) -> OpenSession:
    key = secrets.token_urlsafe(32)
    session = await Session.create(
        key_hash=hash_secret(key),
        user=user,
        user_version=user.session_version,
        mfa_passed=mfa_passed,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=security.session_absolute_hours),
        ip=ip[:45],
        user_agent=user_agent[:300],
    )
    return OpenSession(key=key, session=session)


async def load_session(key: str, *, now: datetime, security: SecuritySettings) -> Session | None:
    """The live session for a cookie value (with its user), or None."""
    if not key or len(key) > 100:
        return None
    session = await Session.filter(key_hash=hash_secret(key)).select_related("user").first()
    if session is None:
        return None
    user = session.user
    idle_limit = session.last_seen_at + timedelta(minutes=security.session_idle_minutes)
    if (
        now >= session.expires_at
        or now >= idle_limit
        or not user.is_active
        or user.session_version != session.user_version
    ):
        await session.delete()
        return None
    if now - session.last_seen_at >= _TOUCH_EVERY:
        await Session.filter(id=session.id).update(last_seen_at=now)
        session.last_seen_at = now
    return session


async def end_session(key: str) -> None:
    await Session.filter(key_hash=hash_secret(key)).delete()


async def end_other_sessions(user: User, *, keep: Session | None = None) -> int:
    query = Session.filter(user_id=user.id)
    if keep is not None:
        query = query.exclude(id=keep.id)
    return await query.delete()


async def list_sessions(user: User) -> list[Session]:
    return await Session.filter(user_id=user.id).order_by("-last_seen_at")
