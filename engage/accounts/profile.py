"""What a signed-in person changes on their own account.

Changing the password or the address asks for the current password first. A new
password ends every other session and gives this browser a new session id; a new
address takes effect only when the link sent to it is followed (the old address
is told at once). "Sign out everywhere" ends every session, this one included.

Usage::

    opened = await change_password(user, current, new, session=s, ip=ip, now=now,
                                   settings=settings)     # set opened.key as the cookie
    await request_email_change(user, "new@x.org", current, ip=ip, now=now, settings=settings)
    await update_preferences(user, timezone="Africa/Nairobi", language="fr")
"""

from __future__ import annotations

import functools
import zoneinfo
from dataclasses import dataclass
from datetime import datetime

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from engage.accounts import throttle
from engage.accounts.audit import record
from engage.accounts.login import throttle_attempt
from engage.accounts.models import EmbassyAssignment, Session, User
from engage.accounts.passwords import hash_password, password_problem, verify_password
from engage.accounts.recovery import notify_password_changed
from engage.accounts.registration import NOTICE_WINDOW_SECONDS
from engage.accounts.sessions import OpenSession, create_session
from engage.accounts.users import check_email, email_key
from engage.errors import InvalidInput, NotFound
from engage.i18n import _
from engage.mail.models import Category
from engage.mail.outbox import enqueue
from engage.settings import Settings

#: Languages people may choose (their own names). Pages fall back to English where
#: a catalogue is missing.
LANGUAGES: dict[str, str] = {
    "en": "English",
    "fr": "Français",
    "es": "Español",
    "pt": "Português",
    "ar": "العربية",
    "ru": "Русский",
    "zh": "中文",
}
_REGIONS = (
    "Africa/",
    "America/",
    "Antarctica/",
    "Asia/",
    "Atlantic/",
    "Australia/",
    "Europe/",
    "Indian/",
    "Pacific/",
)


@functools.cache
def timezone_choices() -> tuple[str, ...]:
    """Canonical IANA zones by region, and UTC (legacy aliases stay accepted)."""
    zones = sorted(z for z in zoneinfo.available_timezones() if z.startswith(_REGIONS))
    return ("UTC", *zones)


def check_timezone(name: str) -> str:
    if name not in zoneinfo.available_timezones():
        raise InvalidInput(
            _("Choose a time zone from the list."), fields={"timezone": _("Unknown time zone.")}
        )
    return name


@dataclass(frozen=True)
class AccountSummary:
    """What ``GET /api/v1/me`` and the account page show about a person."""

    user: User
    embassies: list[str]

    @property
    def email_verified(self) -> bool:
        return self.user.email_verified_at is not None

    @property
    def two_factor_enabled(self) -> bool:
        return self.user.totp_enabled_at is not None


async def account_summary(user: User) -> AccountSummary:
    codes = await EmbassyAssignment.filter(user_id=user.id).values_list("embassy__code", flat=True)
    return AccountSummary(user=user, embassies=sorted(str(c) for c in codes))


async def _check_current_password(
    user: User, password: str, *, ip: str, now: datetime, settings: Settings
) -> None:
    """Re-authentication before a sensitive change, throttled like a sign-in."""
    await throttle_attempt("reauth", email=user.email, ip=ip, now=now, settings=settings)
    ok, _rehash = await verify_password(user.password_hash, password, settings.security)
    if not ok:
        raise InvalidInput(
            _("Your current password is not right."),
            fields={"current_password": _("Not right.")},
        )
    await throttle.reset(f"reauth:account:{email_key(user.email)}")


async def change_password(
    user: User,
    current_password: str,
    new_password: str,
    *,
    session: Session | None,
    ip: str,
    user_agent: str,
    now: datetime,
    settings: Settings,
) -> OpenSession:
    """Set a new password; every session ends and this browser gets a fresh one."""
    fields: dict[str, str] = {}
    if not current_password:
        fields["current_password"] = _("Enter your current password.")
    if problem := password_problem(new_password, user_inputs=[user.email]):
        fields["new_password"] = problem
    if fields:
        raise InvalidInput(_("Please correct the marked fields."), fields=fields)
    await _check_current_password(user, current_password, ip=ip, now=now, settings=settings)
    if new_password == current_password:
        raise InvalidInput(
            _("Choose a password different from the current one."),
            fields={"new_password": _("Same as the current password.")},
        )
    password_hash = await hash_password(new_password, settings.security)
    async with in_transaction() as conn:
        await User.filter(id=user.id).update(
            password_hash=password_hash, session_version=F("session_version") + 1
        )
        await Session.filter(user_id=user.id).delete()
        await record("user.password_changed", actor=user, target=("user", user.id), ip=ip)
        await notify_password_changed(
            user, session_version=user.session_version + 1, now=now, using_db=conn
        )
    await user.refresh_from_db()
    return await create_session(
        user,
        mfa_passed=session.mfa_passed if session is not None else True,
        ip=ip,
        user_agent=user_agent,
        now=now,
        security=settings.security,
    )


async def request_email_change(
    user: User, new_email: str, current_password: str, *, ip: str, now: datetime, settings: Settings
) -> None:
    """Send a confirmation link to ``new_email``; a notice to the current address.

    If another account already uses ``new_email``, its owner is told instead of
    receiving a link, and this person sees the same answer as always.
    """
    try:
        new_email = check_email(new_email)
    except InvalidInput:
        raise InvalidInput(
            _("Enter a valid email address."), fields={"new_email": _("Not valid.")}
        ) from None
    if email_key(new_email) == user.email_key:
        raise InvalidInput(
            _("This is already your address."), fields={"new_email": _("Same as now.")}
        )
    if not current_password:
        raise InvalidInput(
            _("Enter your current password."),
            fields={"current_password": _("Enter your current password.")},
        )
    await _check_current_password(user, current_password, ip=ip, now=now, settings=settings)
    owner = await User.get_or_none(email_key=email_key(new_email))
    window = int(now.timestamp()) // NOTICE_WINDOW_SECONDS
    async with in_transaction() as conn:
        await User.filter(id=user.id).update(
            pending_email=new_email, verify_version=F("verify_version") + 1
        )
        version = user.verify_version + 1
        if owner is None:
            await enqueue(
                "verify_email",
                to=new_email,
                category=Category.TRANSACTIONAL,
                dedupe_key=f"verify:{user.id}:{version}:{window}",
                context={"user": user.id, "version": version, "change": True},
                recipient=("user", user.id),
                now=now,
                using_db=conn,
            )
        else:
            await enqueue(
                "account_exists",
                to=owner.email,
                category=Category.TRANSACTIONAL,
                dedupe_key=f"account-exists:{owner.id}:{window}",
                context={"user": owner.id},
                recipient=("user", owner.id),
                now=now,
                using_db=conn,
            )
        await enqueue(
            "email_change_notice",
            to=user.email,
            category=Category.TRANSACTIONAL,
            dedupe_key=f"email-change-notice:{user.id}:{version}",
            context={"user": user.id, "new_email": new_email},
            recipient=("user", user.id),
            now=now,
            using_db=conn,
        )
        await record(
            "user.email_change_requested",
            actor=user,
            target=("user", user.id),
            details={"new": email_key(new_email)},
            ip=ip,
        )
    await user.refresh_from_db()


async def cancel_email_change(user: User) -> None:
    """Forget the pending address; its link stops working."""
    await User.filter(id=user.id).update(pending_email=None, verify_version=F("verify_version") + 1)
    await user.refresh_from_db()


async def update_preferences(user: User, *, timezone: str, language: str) -> None:
    fields: dict[str, str] = {}
    try:
        check_timezone(timezone)
    except InvalidInput as exc:
        fields.update(exc.fields)
    if language not in LANGUAGES:
        fields["language"] = _("Choose a language from the list.")
    if fields:
        raise InvalidInput(_("Please correct the marked fields."), fields=fields)
    user.timezone = timezone
    user.language = language
    await user.save(update_fields=["timezone", "language"])


async def end_own_session(user: User, session_id: int, *, ip: str) -> None:
    """Sign one of the person's own sessions (another device) out."""
    deleted = await Session.filter(id=session_id, user_id=user.id).delete()
    if not deleted:
        raise NotFound(_("No such session."))
    await record("session.end", actor=user, target=("session", session_id), ip=ip)


async def sign_out_everywhere(user: User, *, ip: str) -> None:
    """End every session of the person, this one included."""
    async with in_transaction():
        await User.filter(id=user.id).update(session_version=F("session_version") + 1)
        await Session.filter(user_id=user.id).delete()
        await record("user.sign_out_everywhere", actor=user, target=("user", user.id), ip=ip)
