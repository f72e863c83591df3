"""Two-factor authentication: TOTP (RFC 6238) and single-use recovery codes.

Required for attachés, staff and admins (``login.MFA_REQUIRED``), optional for
alumni. After the password such a person holds a *partial* session; this module
turns it into a full one (always with a new session key).

Enrolment, then signing in::

    enrolment = await start_enrolment(user, settings=settings)   # secret + otpauth URI
    done = await confirm_enrolment(session, code, ip=ip, user_agent=ua, now=now,
                                   settings=settings)   # done.opened.key, done.recovery_codes
    passed = await verify_second_factor(session, code, ip=ip, user_agent=ua, now=now,
                                        settings=settings)   # passed.opened.key

Rules:

- the TOTP secret is stored sealed (``secretbox``, AES-GCM with a key derived from
  the app secret and bound to the user's row), never in plain text;
- a TOTP code is accepted once: the accepted time step is kept
  (``User.totp_last_step``) and only ever moved forward, by a conditional update, so
  two processes cannot both accept the same code;
- ten recovery codes of 120 random bits each, shown once and stored as SHA-256
  hashes (ASVS 5.0 6.5.2 allows a plain hash from 112 bits up); each works once;
- wrong codes are throttled per account and per IP (``throttle_attempt("mfa")``);
- enabling, disabling, resetting, regenerating codes, a recovery code's use and
  each failure are in the audit log;
- alumni may turn the second factor off (password confirmation); privileged roles
  may not, but may move it to a new authenticator app.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from engage.accounts import recovery_codes, throttle, totp
from engage.accounts.audit import record
from engage.accounts.login import MFA_REQUIRED, promote_session, throttle_attempt
from engage.accounts.models import Role, Session, User
from engage.accounts.passwords import verify_password
from engage.accounts.sessions import OpenSession, create_session, end_other_sessions
from engage.accounts.users import email_key
from engage.errors import Conflict, InvalidInput, PermissionDenied, Unauthenticated
from engage.i18n import _
from engage.settings import Settings

#: The second factor must follow the password within this time.
SECOND_FACTOR_MINUTES = 15


class Step(StrEnum):
    """Where a signed-in session stands with its second factor."""

    DONE = "done"
    #: A privileged account without an authenticator yet: enrol first.
    ENROL = "enrol"
    VERIFY = "verify"


class SignInExpired(Unauthenticated):
    """The password was typed too long ago: sign in again."""


@dataclass(frozen=True)
class Enrolment:
    #: Base32, for typing into an app by hand.
    secret: str
    #: ``otpauth://totp/...``, for the QR code.
    uri: str


@dataclass(frozen=True)
class EnrolmentDone:
    opened: OpenSession
    #: Shown once, never stored in plain text.
    recovery_codes: list[str]


@dataclass(frozen=True)
class SecondFactorPassed:
    opened: OpenSession
    used_recovery_code: bool
    recovery_codes_left: int


@dataclass(frozen=True)
class Status:
    enabled_at: datetime | None
    #: May turn it off (alumni only).
    can_disable: bool
    recovery_codes_left: int

    @property
    def enabled(self) -> bool:
        return self.enabled_at is not None


def required_for(user: User) -> bool:
    return Role(user.role) in MFA_REQUIRED


def pending_step(session: Session) -> Step:
    """What ``session`` (with its user loaded) still needs before full access."""
    if session.mfa_passed:
        return Step.DONE
    return Step.VERIFY if session.user.totp_enabled_at is not None else Step.ENROL


async def two_factor_status(user: User) -> Status:
    left = 0
    if user.totp_enabled_at is not None:
        left = await recovery_codes.unused_count(user)
    return Status(
        enabled_at=user.totp_enabled_at,
        can_disable=not required_for(user),
        recovery_codes_left=left,
    )


# --- Enrolment ----------------------------------------------------------------------


async def start_enrolment(user: User, *, settings: Settings) -> Enrolment:
    """A secret for a new authenticator (kept until confirmed, so a reload shows the same)."""
    user = await User.get(id=user.id)
    if user.totp_enabled_at is not None:
        raise Conflict(_("Two-factor authentication is already on for your account."))
    secret = _pending_secret(user, settings)
    if secret is None:
        secret = totp.new_secret()
        user.totp_secret = totp.seal_secret(user, secret, settings=settings)
        user.totp_last_step = None
        await user.save(update_fields=["totp_secret", "totp_last_step"])
    uri = totp.provisioning_uri(secret, account=user.email, issuer=settings.app.site_name)
    return Enrolment(secret=secret, uri=uri)


async def confirm_enrolment(
    session: Session, code: str, *, ip: str, user_agent: str, now: datetime, settings: Settings
) -> EnrolmentDone:
    """Turn TOTP on once ``code`` proves the app holds the secret; a new session key."""
    user = await User.get(id=session.user_id)
    await throttle_attempt("mfa_setup", email=user.email, ip=ip, now=now, settings=settings)
    if user.totp_enabled_at is not None:
        raise Conflict(_("Two-factor authentication is already on for your account."))
    secret = _pending_secret(user, settings)
    if secret is None:
        raise InvalidInput(
            _("Your setup has expired. Scan the new code below and try again."),
            fields={"code": _("Scan the new code first.")},
        )
    step = totp.matching_step(secret, _digits(code), now)
    if step is None:
        raise InvalidInput(
            _(
                "That code is not right. Check that the time on your phone is correct and enter "
                "the code your app shows now."
            ),
            fields={"code": _("Not the current code.")},
        )
    async with in_transaction() as conn:
        enabled = (
            await User.filter(id=user.id, totp_enabled_at__isnull=True)
            .using_db(conn)
            .update(totp_enabled_at=now, totp_last_step=step)
        )
        if not enabled:
            raise Conflict(_("Two-factor authentication is already on for your account."))
        codes = await recovery_codes.replace_recovery_codes(user, conn)
        await record("mfa.enable", actor=user, target=("user", user.id), ip=ip, using_db=conn)
    opened = await _rotate(session, ip=ip, user_agent=user_agent, now=now, settings=settings)
    return EnrolmentDone(opened=opened, recovery_codes=codes)


async def enrol_with_secret(user: User, secret: str, *, settings: Settings, now: datetime) -> None:
    """Turn TOTP on with a known secret (the demo accounts); no recovery codes."""
    user.totp_secret = totp.seal_secret(user, totp.check_secret(secret), settings=settings)
    user.totp_enabled_at = now
    user.totp_last_step = None
    await user.save(update_fields=["totp_secret", "totp_enabled_at", "totp_last_step"])
    await record("mfa.enable", actor=None, target=("user", user.id), details={"by": "demo"})


# --- Signing in ---------------------------------------------------------------------


async def verify_second_factor(
    session: Session, code: str, *, ip: str, user_agent: str, now: datetime, settings: Settings
) -> SecondFactorPassed:
    """Check a TOTP code or a recovery code for a partial session and promote it."""
    user = await User.get(id=session.user_id)
    if now - session.created_at > timedelta(minutes=SECOND_FACTOR_MINUTES):
        await session.delete()
        raise SignInExpired(_("Your sign-in took too long. Please sign in again."))
    if user.totp_enabled_at is None:
        raise Conflict(_("Set up two-factor authentication first."))
    await throttle_attempt("mfa", email=user.email, ip=ip, now=now, settings=settings)
    used_recovery = False
    if totp.CODE_SHAPE.match(_digits(code)):
        secret = _enabled_secret(user, settings)
        step = totp.matching_step(secret, _digits(code), now) if secret else None
        accepted = step is not None and await totp.claim_step(user, step)
    else:
        typed = recovery_codes.normalise(code)
        accepted = used_recovery = await recovery_codes.use_recovery_code(user, typed, now=now)
    if not accepted:
        await record("mfa.failed", actor=None, target=("user", user.id), ip=ip)
        raise InvalidInput(
            _(
                "That code is not right, or it has been used already. Enter the code your "
                "authenticator app shows now, or one of your recovery codes."
            ),
            fields={"code": _("Not accepted.")},
        )
    await throttle.reset(f"mfa:account:{email_key(user.email)}")
    left = await recovery_codes.unused_count(user)
    if used_recovery:
        await record(
            "mfa.recovery_code_used",
            actor=user,
            target=("user", user.id),
            details={"left": left},
            ip=ip,
        )
    opened = await promote_session(
        session, ip=ip, user_agent=user_agent, now=now, settings=settings
    )
    return SecondFactorPassed(
        opened=opened, used_recovery_code=used_recovery, recovery_codes_left=left
    )


# --- Managing -----------------------------------------------------------------------


async def regenerate_recovery_codes(
    user: User, password: str, *, ip: str, now: datetime, settings: Settings
) -> list[str]:
    """Ten new recovery codes (the old ones stop working), after the password."""
    user = await User.get(id=user.id)
    if user.totp_enabled_at is None:
        raise Conflict(_("Turn on two-factor authentication first."))
    await _confirm_password(user, password, ip=ip, now=now, settings=settings)
    async with in_transaction() as conn:
        codes = await recovery_codes.replace_recovery_codes(user, conn)
        await record(
            "mfa.recovery_codes_regenerated",
            actor=user,
            target=("user", user.id),
            ip=ip,
            using_db=conn,
        )
    return codes


async def disable_two_factor(
    session: Session,
    password: str,
    *,
    ip: str,
    user_agent: str,
    now: datetime,
    settings: Settings,
) -> OpenSession:
    """Turn the second factor off (alumni only), after the password; a new session key
    and every other session ended."""
    user = await User.get(id=session.user_id)
    if required_for(user):
        raise PermissionDenied(
            _("Your role requires two-factor authentication: it cannot be turned off.")
        )
    if user.totp_enabled_at is None:
        raise Conflict(_("Two-factor authentication is already off."))
    await _confirm_password(user, password, ip=ip, now=now, settings=settings)
    async with in_transaction() as conn:
        await _clear(user, conn)
        await record("mfa.disable", actor=user, target=("user", user.id), ip=ip, using_db=conn)
    return await _rotate(session, ip=ip, user_agent=user_agent, now=now, settings=settings)


async def reset_authenticator(
    session: Session,
    password: str,
    *,
    ip: str,
    user_agent: str,
    now: datetime,
    settings: Settings,
) -> OpenSession:
    """Forget the current authenticator so a new one can be set up (a lost phone).

    Every other session ends. A privileged person's own session drops back to
    partial, so the new enrolment comes before anything else.
    """
    user = await User.get(id=session.user_id)
    if user.totp_enabled_at is None:
        raise Conflict(_("Two-factor authentication is off: set it up instead."))
    await _confirm_password(user, password, ip=ip, now=now, settings=settings)
    async with in_transaction() as conn:
        await _clear(user, conn)
        await record("mfa.reset", actor=user, target=("user", user.id), ip=ip, using_db=conn)
    opened = await create_session(
        user,
        mfa_passed=not required_for(user),
        ip=ip,
        user_agent=user_agent,
        now=now,
        security=settings.security,
    )
    await session.delete()
    await end_other_sessions(user, keep=opened.session)
    return opened


# --- Helpers ------------------------------------------------------------------------


def _pending_secret(user: User, settings: Settings) -> str | None:
    return totp.read_secret(user, settings=settings) if user.totp_enabled_at is None else None


def _enabled_secret(user: User, settings: Settings) -> str | None:
    return totp.read_secret(user, settings=settings) if user.totp_enabled_at is not None else None


def _digits(code: str) -> str:
    return "".join((code or "").split()).replace("-", "")


async def _clear(user: User, conn: BaseDBAsyncClient) -> None:
    await (
        User.filter(id=user.id)
        .using_db(conn)
        .update(totp_secret=None, totp_enabled_at=None, totp_last_step=None)
    )
    await recovery_codes.delete_recovery_codes(user, conn)


async def _confirm_password(
    user: User, password: str, *, ip: str, now: datetime, settings: Settings
) -> None:
    await throttle_attempt("reauth", email=user.email, ip=ip, now=now, settings=settings)
    ok, _rehash = await verify_password(user.password_hash, password, settings.security)
    if not ok:
        await record("user.reauth_failed", actor=user, target=("user", user.id), ip=ip)
        raise InvalidInput(
            _("That password is not right."), fields={"password": _("Not your current password.")}
        )


async def _rotate(
    session: Session, *, ip: str, user_agent: str, now: datetime, settings: Settings
) -> OpenSession:
    """A new key for a full session (the factors changed); every other session ends."""
    user = await User.get(id=session.user_id)
    if session.mfa_passed:
        opened = await create_session(
            user, mfa_passed=True, ip=ip, user_agent=user_agent, now=now, security=settings.security
        )
        await session.delete()
    else:
        opened = await promote_session(
            session, ip=ip, user_agent=user_agent, now=now, settings=settings
        )
    await end_other_sessions(user, keep=opened.session)
    return opened
