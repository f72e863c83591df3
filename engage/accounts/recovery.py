"""Forgotten passwords: a reset link by email, valid for ``security.reset_link_hours``
and once.

Asking answers the same whether or not the address has an account (nothing is
sent for an unknown one). Each request bumps ``reset_version``, so only the newest
link works. Setting the new password ends every session of the account and signs
nobody in: the link proves only that someone reads the mailbox, so the person then
signs in with the new password (and their second factor, where they have one) like
any other time. Following a reset link also confirms the address.

Usage::

    await request_password_reset(email, ip=ip, now=now, settings=settings)
    await reset_password(token, new_password, ip=ip, now=now, settings=settings)
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from engage.accounts.audit import record
from engage.accounts.links import consume, user_from_link
from engage.accounts.login import throttle_attempt
from engage.accounts.models import Session, User
from engage.accounts.passwords import hash_password, password_problem
from engage.accounts.users import check_email, find_user
from engage.errors import InvalidInput
from engage.i18n import _
from engage.mail.models import Category
from engage.mail.outbox import enqueue
from engage.settings import Settings


async def request_password_reset(email: str, *, ip: str, now: datetime, settings: Settings) -> None:
    """Email a reset link to ``email`` if it has an active account (see module doc)."""
    await throttle_attempt("reset", email=email, ip=ip, now=now, settings=settings)
    try:
        email = check_email(email)
    except InvalidInput:
        raise InvalidInput(
            _("Enter a valid email address."), fields={"email": _("Not valid.")}
        ) from None
    user = await find_user(email)
    if user is None or not user.is_active:
        return
    expires = now + timedelta(hours=settings.security.reset_link_hours)
    async with in_transaction() as conn:
        await (
            User.filter(id=user.id)
            .using_db(conn)
            .update(reset_version=F("reset_version") + 1, reset_expires_at=expires)
        )
        version = user.reset_version + 1
        await enqueue(
            "password_reset",
            to=user.email,
            category=Category.TRANSACTIONAL,
            dedupe_key=f"reset:{user.id}:{version}",
            context={"user": user.id, "version": version},
            recipient=("user", user.id),
            now=now,
            using_db=conn,
        )
        await record("user.reset_requested", actor=None, target=("user", user.id), ip=ip)


async def check_reset_link(token: str, *, now: datetime, settings: Settings) -> User:
    """The account a live reset link belongs to (raises InvalidLink), link unused."""
    user, _version = await user_from_link("reset", token, settings=settings, now=now)
    return user


async def reset_password(
    token: str, password: str, *, ip: str, now: datetime, settings: Settings
) -> User:
    """Set a new password from a reset link; every session of the account ends."""
    user, version = await user_from_link("reset", token, settings=settings, now=now)
    if problem := password_problem(password, user_inputs=[user.email]):
        raise InvalidInput(problem, fields={"password": problem})
    password_hash = await hash_password(password, settings.security)
    async with in_transaction() as conn:
        await consume(
            "reset",
            user,
            version,
            password_hash=password_hash,
            reset_expires_at=None,
            session_version=F("session_version") + 1,
            # The link reached this mailbox: the address is confirmed.
            email_verified_at=user.email_verified_at or now,
        )
        await Session.filter(user_id=user.id).using_db(conn).delete()
        await record("user.password_reset", actor=user, target=("user", user.id), ip=ip)
        await notify_password_changed(
            user, session_version=user.session_version + 1, now=now, using_db=conn
        )
    await user.refresh_from_db()
    return user


async def notify_password_changed(
    user: User, *, session_version: int, now: datetime, using_db: BaseDBAsyncClient | None = None
) -> None:
    """Tell the account's address that its password changed (ASVS: people hear of
    changes to how they sign in). ``session_version`` is the account's new one."""
    await enqueue(
        "password_changed",
        to=user.email,
        category=Category.TRANSACTIONAL,
        dedupe_key=f"password-changed:{user.id}:{session_version}",
        context={"user": user.id},
        recipient=("user", user.id),
        now=now,
        using_db=using_db,
    )
