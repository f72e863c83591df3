"""Signing in and out.

Privileged roles (attaché, staff, admin) must pass a second factor: their session
is "partial" (``mfa_passed=False``) until they do, and can reach only the
second-factor pages. Failures say the same thing whether or not the account exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engage.accounts import throttle
from engage.accounts.audit import record
from engage.accounts.models import Role, Session, User
from engage.accounts.passwords import hash_password, verify_password
from engage.accounts.sessions import OpenSession, create_session, end_session
from engage.accounts.users import email_key
from engage.errors import InvalidInput
from engage.i18n import _
from engage.settings import Settings

#: Roles that must use two-factor authentication.
MFA_REQUIRED = frozenset({Role.ATTACHE, Role.STAFF, Role.ADMIN})


class InvalidCredentials(InvalidInput):
    pass


@dataclass(frozen=True)
class SignIn:
    user: User
    opened: OpenSession

    @property
    def complete(self) -> bool:
        return self.opened.session.mfa_passed

    @property
    def needs_enrolment(self) -> bool:
        """A privileged account without a second factor yet: set one up now."""
        return not self.complete and self.user.totp_enabled_at is None


def needs_second_factor(user: User) -> bool:
    return user.totp_enabled_at is not None or Role(user.role) in MFA_REQUIRED


async def throttle_attempt(
    kind: str, *, email: str, ip: str, now: datetime, settings: Settings
) -> None:
    """Count an attempt of ``kind`` per IP and per address (raises Throttled)."""
    sec = settings.security
    await throttle.check_and_count(
        f"{kind}:ip:{ip}",
        limit=sec.throttle_per_ip,
        window_seconds=sec.throttle_window_seconds,
        now=now,
    )
    if email:
        await throttle.check_and_count(
            f"{kind}:account:{email_key(email)}",
            limit=sec.throttle_per_account,
            window_seconds=sec.throttle_window_seconds,
            now=now,
        )


async def sign_in(
    email: str, password: str, *, ip: str, user_agent: str, now: datetime, settings: Settings
) -> SignIn:
    await throttle_attempt("login", email=email, ip=ip, now=now, settings=settings)
    user = await User.get_or_none(email_key=email_key(email))
    ok, rehash = await verify_password(
        user.password_hash if user else None, password, settings.security
    )
    if user is None or not ok or not user.is_active:
        await record(
            "user.login_failed",
            actor=None,
            target=("user", user.id) if user else None,
            details={"email": email_key(email)[:320]},
            ip=ip,
        )
        raise InvalidCredentials(_("The email address or the password is not right."))
    if user.email_verified_at is None:
        # Only someone who knows the password learns this.
        raise InvalidCredentials(
            _("Please confirm your email address first: follow the link we sent you.")
        )
    if rehash:
        user.password_hash = await hash_password(password, settings.security)
        await user.save(update_fields=["password_hash"])
    await throttle.reset(f"login:account:{email_key(email)}")
    second = needs_second_factor(user)
    opened = await create_session(
        user,
        mfa_passed=not second,
        ip=ip,
        user_agent=user_agent,
        now=now,
        security=settings.security,
    )
    if not second:
        await mark_signed_in(user, ip=ip, now=now)
    return SignIn(user=user, opened=opened)


async def mark_signed_in(user: User, *, ip: str, now: datetime) -> None:
    user.last_login_at = now
    await user.save(update_fields=["last_login_at"])
    await record("user.login", actor=user, target=("user", user.id), ip=ip)


async def promote_session(
    session: Session, *, ip: str, user_agent: str, now: datetime, settings: Settings
) -> OpenSession:
    """After the second factor: a new session key with full rights; the old one ends."""
    user = await User.get(id=session.user_id)
    await session.delete()
    opened = await create_session(
        user, mfa_passed=True, ip=ip, user_agent=user_agent, now=now, security=settings.security
    )
    await mark_signed_in(user, ip=ip, now=now)
    return opened


async def sign_out(key: str, *, user: User | None, ip: str) -> None:
    await end_session(key)
    if user is not None:
        await record("user.logout", actor=user, target=("user", user.id), ip=ip)
