"""Alumni register themselves and confirm their address by email.

No account enumeration: :func:`register_alumnus` and :func:`resend_verification`
return nothing and behave alike for known and unknown addresses. Registration
always hashes the password (the slow part), whether or not an account is created;
a known address receives a "you already have an account" email instead of a link.
Both are throttled per address and per IP before anything else happens.

Registration also asks who the person is (names, country, service, optionally a
programme ID and class year): their pending profile is created with the account,
without an email address, and only verifying the address links it to the roster or
gives it the address (``engage.alumni.identity``): an unverified registration never
claims a profile.

Usage::

    await register_alumnus(email, password, profile={"given_name": "Amani", ...},
                           ip=ip, now=now, settings=settings)
    user = await confirm_email(token, now=now, settings=settings)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from engage.accounts.audit import record
from engage.accounts.links import InvalidLink, consume, user_from_link
from engage.accounts.login import throttle_attempt
from engage.accounts.models import Role, User
from engage.accounts.passwords import hash_password, password_problem
from engage.accounts.users import check_email, email_key, find_user
from engage.alumni.identity import address_verified, check_registration, start_registration
from engage.errors import InvalidInput
from engage.i18n import _
from engage.mail.models import Category
from engage.mail.outbox import enqueue
from engage.settings import Settings

#: Repeated notices to one address are sent at most once per this many seconds
#: (a double click, or someone registering a known address again and again).
NOTICE_WINDOW_SECONDS = 600


def _window(now: datetime) -> int:
    return int(now.timestamp()) // NOTICE_WINDOW_SECONDS


async def register_alumnus(
    email: str,
    password: str,
    *,
    profile: Mapping[str, Any],
    ip: str,
    now: datetime,
    settings: Settings,
) -> None:
    """Create an unverified alumnus with a pending profile (``profile``: the fields of
    ``identity.REGISTRATION_FIELDS``) and email a verification link (see module doc)."""
    await throttle_attempt("register", email=email, ip=ip, now=now, settings=settings)
    fields: dict[str, str] = {}
    try:
        email = check_email(email)
    except InvalidInput as exc:
        fields.update(exc.fields)
    if problem := password_problem(password, user_inputs=[email]):
        fields["password"] = problem
    try:
        details = await check_registration(profile, now=now)
    except InvalidInput as exc:
        fields.update(exc.fields)
    if fields:
        raise InvalidInput(_("Please correct the marked fields."), fields=fields)
    # Hash first, for everyone: an existing address must not answer faster.
    password_hash = await hash_password(password, settings.security)
    existing = await find_user(email)
    if existing is not None:
        if existing.is_active:
            await _notify_existing(existing, now=now)
        return
    try:
        async with in_transaction() as conn:
            user = await User.create(
                email=email,
                email_key=email_key(email),
                password_hash=password_hash,
                role=Role.ALUMNUS,
                timezone=settings.app.default_timezone,
                language=settings.app.default_language,
                using_db=conn,
            )
            await record(
                "user.register", actor=user, target=("user", user.id), ip=ip, using_db=conn
            )
            await start_registration(user, details, now=now)
            await send_verification(user, now=now, using_db=conn)
    except IntegrityError:
        # Registered by a concurrent request a moment ago: that one sent the link.
        return


async def _notify_existing(user: User, *, now: datetime) -> None:
    await enqueue(
        "account_exists",
        to=user.email,
        category=Category.TRANSACTIONAL,
        dedupe_key=f"account-exists:{user.id}:{_window(now)}",
        context={"user": user.id},
        recipient=("user", user.id),
        now=now,
    )


async def send_verification(
    user: User, *, now: datetime, using_db: BaseDBAsyncClient | None = None
) -> None:
    """Queue the verification link for ``user``'s current address (same link again
    for a resend: the version is unchanged)."""
    await enqueue(
        "verify_email",
        to=user.email,
        category=Category.TRANSACTIONAL,
        dedupe_key=f"verify:{user.id}:{user.verify_version}:{_window(now)}",
        context={"user": user.id, "version": user.verify_version, "change": False},
        recipient=("user", user.id),
        now=now,
        using_db=using_db,
    )


async def resend_verification(email: str, *, ip: str, now: datetime, settings: Settings) -> None:
    """Send the link again to an unverified account; silently nothing otherwise."""
    await throttle_attempt("resend", email=email, ip=ip, now=now, settings=settings)
    try:
        email = check_email(email)
    except InvalidInput:
        raise InvalidInput(
            _("Enter a valid email address."), fields={"email": _("Not valid.")}
        ) from None
    user = await find_user(email)
    if user is None or not user.is_active or user.password_hash is None:
        return
    if user.email_verified_at is None:
        await send_verification(user, now=now)
    else:
        await _notify_existing(user, now=now)


async def check_verify_link(token: str, *, now: datetime, settings: Settings) -> User:
    """The account a verification link belongs to, without using the link."""
    user, _version = await user_from_link("verify", token, settings=settings, now=now)
    if user.pending_email is None and user.email_verified_at is not None:
        raise InvalidLink()
    return user


async def confirm_email(token: str, *, now: datetime, settings: Settings) -> User:
    """Follow a verification link: confirm the address (or apply a pending change).

    Works once: the version is bumped in the same conditional update.
    """
    user, version = await user_from_link("verify", token, settings=settings, now=now)
    if user.pending_email is not None:
        new_email = user.pending_email
        taken = await User.filter(email_key=email_key(new_email)).exclude(id=user.id).exists()
        if taken:
            # Someone registered the address since: the change cannot happen.
            await consume("verify", user, version, pending_email=None)
            raise InvalidLink()
        old_email = user.email
        try:
            async with in_transaction():
                await consume(
                    "verify",
                    user,
                    version,
                    email=new_email,
                    email_key=email_key(new_email),
                    pending_email=None,
                    email_verified_at=now,
                )
                await record(
                    "user.email_changed",
                    actor=user,
                    target=("user", user.id),
                    details={"old": email_key(old_email), "new": email_key(new_email)},
                )
                await _profile_follows(user, now=now)
        except IntegrityError:
            raise InvalidLink() from None
    elif user.email_verified_at is None:
        async with in_transaction():
            await consume("verify", user, version, email_verified_at=now)
            await record("user.email_verified", actor=user, target=("user", user.id))
            await _profile_follows(user, now=now)
    else:
        raise InvalidLink()
    await user.refresh_from_db()
    return user


async def _profile_follows(user: User, *, now: datetime) -> None:
    """The alumni profile follows the newly verified address: it claims the unclaimed
    profile with that address, or takes the address (``identity.address_verified``).
    In the transaction that uses the link: both happen, or neither."""
    await user.refresh_from_db()
    await address_verified(user, now=now)
