"""Admins invite staff and attachés, and open or close accounts.

An invited account has no password until its owner follows the invitation link
(purpose ``invite``, valid ``security.invite_link_hours``, once) and sets one;
that also confirms the address. Deactivating ends the account's sessions at once
(and its API tokens stop working); an admin cannot deactivate themself.

Usage::

    user = await invite_user("a@x.org", role=Role.ATTACHE, embassy_codes=["NBO"],
                             actor=admin, now=now, settings=settings)
    await accept_invitation(token, password, ip=ip, now=now, settings=settings)
    await set_active(user.id, False, actor=admin, ip=ip)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from engage.accounts.actor import Actor, require_role
from engage.accounts.audit import record
from engage.accounts.links import consume, user_from_link
from engage.accounts.models import EmbassyAssignment, Role, Session, User
from engage.accounts.passwords import hash_password, password_problem
from engage.accounts.users import create_user
from engage.errors import InvalidInput, NotFound
from engage.i18n import _
from engage.mail.models import Category
from engage.mail.outbox import enqueue
from engage.places.models import Embassy
from engage.settings import Settings

#: The roles an admin invites from the users page (alumni register themselves).
INVITABLE = (Role.STAFF, Role.ATTACHE)
PAGE_SIZE = 50


@dataclass(frozen=True)
class UserRow:
    user: User
    embassies: list[str]

    @property
    def pending(self) -> bool:
        """Invited, password not set yet."""
        return self.user.password_hash is None


@dataclass(frozen=True)
class UserPage:
    rows: list[UserRow]
    total: int
    page: int
    pages: int


async def list_users(
    *, actor: Actor | None, role: Role | None = None, page: int = 1, per_page: int = PAGE_SIZE
) -> UserPage:
    """Accounts by email, with their embassies (admins; ``actor=None``: the CLI)."""
    if actor is not None:
        require_role(actor, Role.ADMIN)
    query = User.all() if role is None else User.filter(role=role)
    total = await query.count()
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    users = await query.order_by("email_key").offset((page - 1) * per_page).limit(per_page)
    codes: dict[int, list[str]] = {}
    for user_id, code in await EmbassyAssignment.filter(
        user_id__in=[u.id for u in users]
    ).values_list("user_id", "embassy__code"):
        codes.setdefault(int(user_id), []).append(str(code))
    rows = [UserRow(user=u, embassies=sorted(codes.get(u.id, []))) for u in users]
    return UserPage(rows=rows, total=total, page=page, pages=pages)


async def embassy_choices() -> list[Embassy]:
    """Embassies an attaché may be assigned to, by code."""
    return await Embassy.all().order_by("code")


async def invite_user(
    email: str,
    *,
    role: Role | str,
    embassy_codes: Sequence[str] = (),
    actor: Actor | None,
    now: datetime,
    settings: Settings,
    ip: str = "",
) -> User:
    """Create a password-less account and email it an invitation link.

    ``actor=None`` is the command line (``engage user create`` without a password),
    which may invite any role; admins invite staff and attachés.
    """
    if actor is not None:
        require_role(actor, Role.ADMIN)
    allowed = INVITABLE if actor is not None else tuple(Role)
    if role not in {r.value for r in allowed}:
        raise InvalidInput(
            _("Invite staff or attachés; alumni register themselves."),
            fields={"role": _("Choose one of the roles in the list.")},
        )
    role = Role(role)
    if role == Role.ATTACHE and not embassy_codes:
        raise InvalidInput(
            _("An attaché works for at least one embassy."),
            fields={"embassies": _("Choose at least one embassy.")},
        )
    if role != Role.ATTACHE and embassy_codes:
        raise InvalidInput(
            _("Only attachés are assigned to embassies."),
            fields={"embassies": _("Leave these empty for this role.")},
        )
    async with in_transaction() as conn:
        user = await create_user(
            email,
            role=role,
            password=None,
            security=settings.security,
            embassy_codes=embassy_codes,
            actor=actor.user if actor else None,
            now=now,
        )
        await _send_invitation(user, now=now, settings=settings)
        await record(
            "user.invite",
            actor=actor.user if actor else None,
            target=("user", user.id),
            details={"role": str(role)},
            ip=ip,
            using_db=conn,
        )
    await user.refresh_from_db()
    return user


async def resend_invitation(
    user_id: int, *, actor: Actor, now: datetime, settings: Settings, ip: str = ""
) -> User:
    """A new invitation link (the old one stops working) for an account still pending."""
    require_role(actor, Role.ADMIN)
    user = await User.get_or_none(id=user_id)
    if user is None:
        raise NotFound(_("No such account."))
    if user.password_hash is not None or not user.is_active:
        raise InvalidInput(_("This person has already set a password."))
    async with in_transaction() as conn:
        await _send_invitation(user, now=now, settings=settings)
        await record(
            "user.reinvite", actor=actor.user, target=("user", user.id), ip=ip, using_db=conn
        )
    return user


async def _send_invitation(user: User, *, now: datetime, settings: Settings) -> None:
    """Bump the link version, set its expiry and queue the email (caller's transaction)."""
    expires = now + timedelta(hours=settings.security.invite_link_hours)
    await User.filter(id=user.id).update(
        reset_version=F("reset_version") + 1, reset_expires_at=expires
    )
    version = user.reset_version + 1
    await enqueue(
        "account_invite",
        to=user.email,
        category=Category.TRANSACTIONAL,
        dedupe_key=f"invite:{user.id}:{version}",
        context={"user": user.id, "version": version, "role": str(user.role)},
        recipient=("user", user.id),
        now=now,
    )


async def check_invite_link(token: str, *, now: datetime, settings: Settings) -> User:
    user, _version = await user_from_link("invite", token, settings=settings, now=now)
    return user


async def accept_invitation(
    token: str, password: str, *, ip: str, now: datetime, settings: Settings
) -> User:
    """Set the invited account's first password; the address is thereby confirmed."""
    user, version = await user_from_link("invite", token, settings=settings, now=now)
    if problem := password_problem(password, user_inputs=[user.email]):
        raise InvalidInput(problem, fields={"password": problem})
    password_hash = await hash_password(password, settings.security)
    async with in_transaction():
        await consume(
            "invite",
            user,
            version,
            password_hash=password_hash,
            reset_expires_at=None,
            email_verified_at=user.email_verified_at or now,
        )
        await record("user.invite_accepted", actor=user, target=("user", user.id), ip=ip)
    await user.refresh_from_db()
    return user


async def set_active(user_id: int, active: bool, *, actor: Actor, ip: str = "") -> User:
    """Deactivate (ending every session) or reactivate an account. Audited."""
    require_role(actor, Role.ADMIN)
    if user_id == actor.id and not active:
        raise InvalidInput(_("You cannot deactivate your own account."))
    user = await User.get_or_none(id=user_id)
    if user is None:
        raise NotFound(_("No such account."))
    if user.is_active == active:
        return user
    async with in_transaction():
        await User.filter(id=user.id).update(
            is_active=active, session_version=F("session_version") + 1
        )
        await Session.filter(user_id=user.id).delete()
        await record(
            "user.reactivate" if active else "user.deactivate",
            actor=actor.user,
            target=("user", user.id),
            ip=ip,
        )
    await user.refresh_from_db()
    return user
